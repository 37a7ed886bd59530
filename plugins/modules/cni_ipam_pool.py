#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_ipam_pool
short_description: Sticky per-node subnet allocation from a cluster pool, with host-local ranges
version_added: 0.1.0
description:
  - Gives every member of a pool (normally every node of a fleet) its own subnet of O(node_prefix) bits out
    of O(cidr), one per address family (dual-stack), and returns ready-to-use host-local C(ranges) for each.
  - Allocations are sticky. A member keeps its subnet across runs, reorderings of O(members), and additions and
    removals of other members. New members, in the order of O(members), get the lowest free subnets outside
    O(reserved).
  - The assignments live in a JSON state file (O(path)) with a schema version. It is read, allocated and
    written under an exclusive lock (C(fcntl.flock) on O(path)C(.lock)) and replaced atomically, so two
    concurrent runs never hand one subnet to two members, and a run killed half-way leaves the previous
    file intact.
  - Nothing is ever silently renumbered. Conflicting O(claims), a claim outside the pool or of the wrong
    size, a claim or recorded subnet overlapping O(reserved), an exhausted pool, and a change of O(cidr) or
    O(node_prefix) that would orphan or resize recorded subnets all fail before anything is written, naming
    the parameter and what would be valid.
  - A corrupt state file, or one of an unknown schema version, fails clearly and is left as it is; it is
    never reset.
  - "Runs where it is delegated, normally on the controller (C(delegate_to: localhost), C(run_once: true)).
    See the fleet workflow and the recovery from a lost state file in the collection's C(docs/ipam.md)."
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
options:
  name:
    description:
      - Name of the pool. One state file can hold several pools.
    type: str
    required: true
  cidr:
    description:
      - The pool - one CIDR, or a list of one IPv4 and one IPv6 CIDR for dual-stack.
      - Required with O(state=present). It may grow (a larger network containing the old one), but not
        shrink or move away from recorded subnets.
    type: raw
  node_prefix:
    description:
      - "Prefix length of each member's subnet - an integer for every family, or a dictionary with the keys
        C(ipv4) and C(ipv6), for example C({ipv4: 24, ipv6: 64})."
      - At most C(/30) for IPv4 and C(/126) for IPv6 (network, gateway and at least one address).
      - Cannot change while members hold subnets of the old size.
      - Required with O(state=present).
    type: raw
  members:
    description:
      - Names of the members (for example C(groups['cni_nodes'])). The order matters only for members that
        get a new subnet in this run.
    type: list
    elements: str
    default: []
  reserved:
    description:
      - Addresses no member subnet may overlap - CIDRs (C(10.0.0.0/24)), single addresses or ranges
        (C(10.0.0.1-10.0.0.9)). Entries outside the pool are harmless.
    type: list
    elements: str
    default: []
  claims:
    description:
      - Assignments that already exist and must be honoured, as a dictionary of member name to its subnet,
        a list of its subnets (one per family), or a dictionary with the keys C(ipv4) and C(ipv6). Null or
        empty values are ignored.
      - The way to rebuild the state file from what the nodes report after it was lost (see C(docs/ipam.md)).
      - A claim must be one of the pool's subnets and agree with the state file; a claim of a member that is
        not in O(members) is kept like any other unlisted member (released with O(purge)).
    type: dict
    default: {}
  path:
    description:
      - The state file (JSON), an absolute path on the controller (the module runs in a temporary directory, so a
        relative path is refused). Its directory must exist. The lock file O(path)C(.lock) is created next to it
        and left in place.
      - Temporary files of the state file that a killed run left next to it are removed by the next run, under the
        lock (see RV(cleaned)).
    type: path
    required: true
  purge:
    description:
      - Release the subnets of members that are not in O(members).
      - Without it they keep their subnets and are returned in RV(unlisted).
    type: bool
    default: false
  state:
    description:
      - V(present) allocates and records the pool.
      - V(absent) removes the pool from the state file, releasing every subnet (and removes the file when no
        pool is left in it).
    type: str
    choices: [present, absent]
    default: present
  lock_timeout:
    description:
      - Seconds to wait for another run holding the state file's lock.
    type: float
    default: 60
  return_members:
    description:
      - What RV(members) holds, which is most of the result's size for a large fleet - Ansible spends about
        as much time on every returned value (its no_log scan and JSON encoding in the module, decoding and
        registering on the controller) as the allocation itself.
      - V(all) - every member of O(members) with its subnets and host-local C(ranges).
      - V(subnets) - every member of O(members) with its subnets, without C(ranges) (compute them where they
        are needed with the C(cni.node.host_local_ranges) filter, from C(subnets)). About a third of the
        result of V(all).
      - V(changed) - only the members this run records a new subnet for (RV(allocated)), with their
        C(ranges).
      - V(none) - no members (RV(allocated), RV(unlisted), RV(released), RV(totals) and RV(drift) are still
        returned).
      - The state file, RV(changed) and the check mode prediction are the same whatever is returned.
    type: str
    choices: [all, subnets, changed, none]
    default: all
notes:
  - Check mode reads the state file (under a shared lock, creating nothing) and reports exactly which members
    would get or lose which subnets.
seealso:
  - name: host-local IPAM plugin
    description: The CNI plugin that hands out addresses from the returned C(ranges).
    link: https://www.cni.dev/plugins/current/ipam/host-local/
  - name: cni.node.host_local_ranges filter
    description: The same ranges for any subnet.
    link: https://example.invalid/cni.node/docs/ipam.md
'''

EXAMPLES = r'''
- name: One pod subnet per node, allocated on the controller
  cni.node.cni_ipam_pool:
    name: pods
    cidr: 10.244.0.0/16
    node_prefix: 24
    members: "{{ groups['cni_nodes'] }}"
    path: "{{ playbook_dir }}/state/ipam.json"
  delegate_to: localhost
  run_once: true
  register: pool

- name: Dual-stack, with reserved ranges, releasing nodes that left the fleet
  cni.node.cni_ipam_pool:
    name: pods
    cidr: [10.244.0.0/16, "fd00:10:244::/56"]
    node_prefix: {ipv4: 24, ipv6: 64}
    reserved: [10.244.0.0/24, 10.244.255.0/24]
    members: "{{ groups['cni_nodes'] }}"
    purge: true
    path: "{{ playbook_dir }}/state/ipam.json"
  delegate_to: localhost
  run_once: true
  register: pool

- name: Each node uses its own ranges in its host-local IPAM
  ansible.builtin.set_fact:
    pod_ranges: "{{ pool.members[inventory_hostname].ranges }}"

- name: Rebuild claims from the nodes' local facts (recovery from a lost state file)
  cni.node.cni_ipam_pool:
    name: pods
    cidr: 10.244.0.0/16
    node_prefix: 24
    members: "{{ groups['cni_nodes'] }}"
    claims: >-
      {{ dict(groups['cni_nodes'] | zip(groups['cni_nodes'] | map('extract', hostvars)
         | map(attribute='ansible_local.cni_ipam_pods.subnets', default=[]))) }}
    path: "{{ playbook_dir }}/state/ipam.json"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
changed:
  description: Whether the state file changed (in check mode, would change).
  returned: always
  type: bool
  sample: true
drift:
  description:
    - One item per value that differed, the same shape in every cni.node module.
    - Paths are C(member/NAME/ipv4) and C(member/NAME/ipv6) (a subnet given, released or, never silently,
      changed; null means none), C(pool/NAME) (the pool is created or removed) and C(pool/NAME/cidr),
      C(pool/NAME/node_prefix), C(pool/NAME/reserved) (recorded settings).
  returned: always
  type: list
  elements: dict
  sample:
    - path: member/node3/ipv4
      before: null
      after: 10.244.2.0/24
diff:
  description: Before and after, per area (C(member), C(pool)).
  returned: when diff mode is on
  type: list
  elements: dict
members:
  description:
    - For each member of O(members) - its subnets (one per family of the pool), the subnet per family under
      C(ipv4) and C(ipv6), and C(ranges), ready for the C(ranges) field of the host-local IPAM plugin (one
      range set per family). The gateway is the first usable address and lies outside the range.
    - O(return_members) selects the members (all, or only those with a new subnet, or none) and whether
      C(ranges) are included.
    - Empty with O(state=absent).
  returned: always
  type: dict
  sample:
    node1:
      subnets: [10.244.0.0/24]
      ipv4: 10.244.0.0/24
      ranges:
        - - subnet: 10.244.0.0/24
            rangeStart: 10.244.0.2
            rangeEnd: 10.244.0.254
            gateway: 10.244.0.1
unlisted:
  description: Members that hold subnets but are not in O(members) (kept because O(purge) is false).
  returned: always
  type: list
  elements: str
  sample: [old-node]
released:
  description: Members whose subnets this run releases (O(purge), or O(state=absent)).
  returned: always
  type: list
  elements: str
  sample: []
allocated:
  description: Members of O(members) that this run records a new subnet for (a new allocation or a claim).
  returned: always
  type: list
  elements: str
  sample: [node3]
totals:
  description: Per family, the pool's number of subnets (C(size)) and how many are C(allocated), C(reserved)
    and C(free) after the run.
  returned: when O(state=present)
  type: dict
  sample:
    ipv4: {cidr: 10.244.0.0/16, node_prefix: 24, size: 256, allocated: 3, reserved: 1, free: 252}
path:
  description: The state file.
  returned: always
  type: str
  sample: /srv/ansible/state/ipam.json
cleaned:
  description:
    - Temporary files of the state file (C(.<name>.XXXXXXXX.tmp)) that a killed earlier run left next to it, removed
      by this run under the lock (in check mode, that a run would remove). Housekeeping, not drift - they do not make
      the task changed.
  returned: always
  type: list
  elements: str
  sample: [/srv/ansible/state/.ipam.json.k2j4x9qa.tmp]
'''

import gc

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _edge, _ipam
from ansible_collections.cni.node.plugins.module_utils._ipamspec import Spec


def run(args, check_mode):
    """Spec from the arguments, then the core's locked read, plan and write; the plan."""
    spec = Spec(args['name'], cidr=args['cidr'], node_prefix=args['node_prefix'], members=args['members'],
                reserved=args['reserved'], claims=args['claims'], purge=args['purge'], state=args['state'],
                return_members=args.get('return_members') or 'all')
    return _ipam.run(spec, args['path'], lock_timeout=args['lock_timeout'], check_mode=check_mode)


def main():
    # A short-lived process that builds hundreds of thousands of small
    # objects for a large fleet (the members and their ranges, then
    # exit_json's copies) and makes no reference cycles worth collecting:
    # the cyclic collector would only rescan the growing heap, over and over.
    gc.disable()
    try:
        _main()
    finally:
        gc.enable()


def _main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            cidr=dict(type='raw'),
            node_prefix=dict(type='raw'),
            members=dict(type='list', elements='str', default=[]),
            reserved=dict(type='list', elements='str', default=[]),
            claims=dict(type='dict', default={}),
            path=dict(type='path', required=True),
            purge=dict(type='bool', default=False),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            lock_timeout=dict(type='float', default=60),
            return_members=dict(type='str', default='all', choices=['all', 'subnets', 'changed', 'none']),
        ),
        required_if=[('state', 'present', ('cidr', 'node_prefix'))],
        supports_check_mode=True,
    )
    with _edge.edge(module, 'cni_ipam_pool', param='path'):
        plan = run(module.params, module.check_mode)

    extra = dict(members=plan.members, unlisted=plan.unlisted, released=plan.released, allocated=plan.allocated,
                 path=module.params['path'], cleaned=plan.cleaned)
    if module.params['state'] == 'present':
        extra['totals'] = plan.totals
    module.exit_json(**plan.changes.result(diff_mode=module._diff, **extra))


if __name__ == '__main__':
    main()
