#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_xdp
short_description: An eBPF XDP program on interfaces, attached exactly and idempotently
version_added: 0.2.0
description:
  - Attaches one XDP program to one or more interfaces, on the node or inside a network namespace (O(netns)),
    and keeps it attached; or removes it (O(state=absent)).
  - The program comes from O(object) (a compiled BPF ELF file on the node) or O(source) (a C file on the node,
    compiled there with C(clang -O2 -g -target bpf) into O(cache_dir), keyed by the source's sha256), and
    O(section).
  - "Idempotent by the kernel's program tag (the hash of its instructions) and mode, not by the file name:
    the same program in a matching mode is not a change and nothing is loaded or attached. Another program,
    another mode, or none is a change, with drift items C(xdp/<ifname>/program) and C(xdp/<ifname>/mode)."
  - A program this module did not attach (it records what it attached in O(state_file)) is replaced or
    removed only with O(force=true); otherwise the task fails naming it and nothing changes.
  - Several interfaces in one task are all-or-nothing. When a step fails, the interfaces changed before it
    get their previous program back, in its mode.
  - Which program is on which interface is read through netlink (pyroute2); programs are loaded, attached and
    detached with C(bpftool) inside a private bpffs that goes away with the task (nothing is pinned in
    C(/sys/fs/bpf)). See the collection's C(docs/cni_xdp.md).
  - Check mode attaches nothing; it loads (and verifies) the program only when an interface holds a program
    whose tag must be compared with the wanted one.
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
  - cni.node.attributes.NETNS
requirements:
  - bpftool 5.6 or later (Debian package C(bpftool)).
  - clang 10 or later and the libbpf headers for O(source) (Debian packages C(clang), C(libbpf-dev)).
  - A kernel with BPF and XDP; root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF).
options:
  dev:
    description:
      - The interface, or a list of interfaces, in O(netns) (or on the node).
      - Every one must exist; a missing one fails naming O(dev) before anything changes.
    type: list
    elements: str
    required: true
  object:
    description:
      - Absolute path of a compiled BPF ELF object on the node (for example made by C(clang -target bpf)).
      - A file that is not a BPF ELF object fails naming O(object). Mutually exclusive with O(source).
    type: path
  source:
    description:
      - Absolute path of a C source file on the node, compiled with C(clang -O2 -g -target bpf -c) into
        C(<cache_dir>/<sha256 of the source>.o), reused while the source is unchanged.
      - A compile error fails naming the file and line with clang's message. Mutually exclusive with O(object).
    type: path
  section:
    description:
      - The ELF section of the program, as in C(SEC("xdp")).
      - A section missing from the object fails naming O(section), listing the sections it has.
    type: str
    default: xdp
  mode:
    description:
      - V(auto) lets the kernel choose (native when the driver supports XDP, else generic); an attached program
        in native or generic mode matches it.
      - V(native) (the driver's hook), V(generic) (after the socket buffer is built, any device), V(offload) (on
        the NIC, which must support it) match only themselves. A driver that cannot fails naming O(mode).
    type: str
    choices: [auto, native, generic, offload]
    default: auto
  force:
    description:
      - Replace (or with O(state=absent) remove) a program this module did not attach.
    type: bool
    default: false
  state:
    description:
      - V(present) attaches the program; V(absent) detaches whatever XDP program the interfaces hold.
    type: str
    choices: [present, absent]
    default: present
  cache_dir:
    description:
      - Where compiled objects of O(source) are kept (check mode compiles into a temporary directory instead).
    type: path
    default: /var/cache/cni-node/xdp
  state_file:
    description:
      - The record of what this module attached (program id, tag, object sha256 and section per namespace and
        interface, with the boot it was made in). Only programs recorded there are replaced without O(force).
    type: path
    default: /var/lib/cni-node/xdp.json
'''

EXAMPLES = r'''
- name: Drop IPv4 ICMP on the pod side of a veth, compiled on the node from the role's source
  cni.node.cni_xdp:
    dev: eth0
    netns: pod-a
    source: /usr/local/share/cni-node/xdp/xdp_drop_icmp.c
    mode: generic

- name: A compiled object on several interfaces at once (all or nothing)
  cni.node.cni_xdp:
    dev: [veth-pod-a, veth-pod-b]
    object: /usr/local/lib/bpf/xdp_filter.o
    section: xdp

- name: Replace a program attached by hand or by another tool
  cni.node.cni_xdp:
    dev: eth1
    object: /usr/local/lib/bpf/xdp_filter.o
    force: true

- name: Remove the program again
  cni.node.cni_xdp:
    dev: eth0
    netns: pod-a
    state: absent
'''

RETURN = r'''
changed:
  description: Whether anything differed (in check mode, would differ).
  returned: always
  type: bool
  sample: true
drift:
  description:
    - One item per value that differed, the same shape in every cni.node module.
    - C(xdp/<ifname>/program) is C({id, tag, name}) of the program, or null for none (the id after a change is
      in RV(interfaces)); C(xdp/<ifname>/mode) is V(native), V(generic), V(offload) or null (V(auto) when the
      kernel chooses).
  returned: always
  type: list
  elements: dict
  sample:
    - path: xdp/eth0/program
      before: null
      after: {id: null, tag: f7d7210978e15283, name: xdp_drop_icmp}
    - path: xdp/eth0/mode
      before: null
      after: generic
diff:
  description: Before and after of the differing values.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: xdp
      after_header: xdp
      before: {eth0/mode: null}
      after: {eth0/mode: generic}
interfaces:
  description:
    - Per interface, the XDP program it holds after the run (in check mode, as it is now) - C(id), C(tag),
      C(name) (the kernel keeps 15 characters) and C(mode) - all null when it holds none.
  returned: always
  type: dict
  sample:
    eth0: {id: 130, tag: f7d7210978e15283, name: xdp_drop_icmp, mode: generic}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _bpf, _edge, _xdp
from ansible_collections.cni.node.plugins.module_utils._netlink import Netlink


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dev=dict(type='list', elements='str', required=True),
            netns=dict(type='str'),
            object=dict(type='path'),
            source=dict(type='path'),
            section=dict(type='str', default='xdp'),
            mode=dict(type='str', default='auto', choices=list(_xdp.MODES)),
            force=dict(type='bool', default=False),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            cache_dir=dict(type='path', default=_xdp.DEFAULT_CACHE_DIR),
            state_file=dict(type='path', default=_xdp.DEFAULT_STATE_FILE),
        ),
        mutually_exclusive=[('object', 'source')],
        required_if=[('state', 'present', ('object', 'source'), True)],
        supports_check_mode=True,
    )
    args = module.params
    with _edge.edge(module, 'cni_xdp'):
        spec = _xdp.Spec(args['dev'], netns=args['netns'], object=args['object'], source=args['source'],
                         section=args['section'], mode=args['mode'], force=args['force'], state=args['state'],
                         cache_dir=args['cache_dir'], state_file=args['state_file'])
        plan, interfaces = _xdp.run(spec, Netlink, _bpf.Toolchain(), check_mode=module.check_mode)
    module.exit_json(**plan.changes.result(diff_mode=module._diff, interfaces=interfaces))


if __name__ == '__main__':
    main()
