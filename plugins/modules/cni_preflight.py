#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_preflight
short_description: Read-only checks that a node can take a CNI profile, before anything changes
version_added: 0.2.0
description:
  - Checks, without changing anything, what a profile of this collection needs from the node, and fails with one
    message listing every required check that failed (its evidence and the fix) when the node cannot take it.
    Run it first (the C(preflight) tag of cni.node.profile does) so that a run stops before its first change.
  - C(kernel) - the kernel objects of O(profile) and O(features) (C(bridge), C(veth), C(vxlan), C(br_netfilter),
    C(nf_tables), C(macvlan), C(ipvlan), C(xdp), C(bpffs)), by file probes only - a runtime trace such as
    C(/sys/module/NAME) or C(/proc/sys/net/bridge), C(/proc/modules), C(modules.builtin) and C(modules.dep) of
    C(/lib/modules/RELEASE), the kernel configuration (C(/proc/config.gz), C(/boot/config-RELEASE)). No link is
    created and no module is loaded to find out. A feature built as a loadable module whose file is present passes.
    When no source can tell, the check is reported as not ok but not required (a warning).
  - C(sysctl) - the kernel parameters of O(sysctl_keys) are writable (a read-only C(/proc/sys), as docker mounts it
    in a container, fails).
  - C(underlay) - the interface O(underlay) exists, is up, and its MTU holds O(overlay_mtu) plus the VXLAN
    encapsulation (50 bytes over IPv4, 70 over IPv6).
  - C(conf_dir) - no network configuration file of another tool in O(conf_dir) sorts before the profile's own
    (C(PRIORITY-NETWORK.conflist)) in byte order - a runtime takes the first file as its default network, so
    C(00-multus.conf), C(05-cilium.conflist) or C(10-calico.conflist) before C(10-cni-node.conflist) would take the
    pods (C(10-flannel.conflist) and C(87-podman-bridge.conflist) sort after it).
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
  - cni.node.attributes.netns
attributes:
  check_mode:
    description: The module changes nothing; check mode runs the same checks.
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
options:
  profile:
    description:
      - The profile kind of cni.node.profile whose kernel objects to check - V(bridge) (bridge, veth, br_netfilter,
        nf_tables), V(overlay) (the same plus vxlan), V(dhcp) (as bridge).
    type: str
    choices: [bridge, overlay, dhcp]
  features:
    description: Kernel objects to check in addition to those of O(profile).
    type: list
    elements: str
    choices: [bridge, veth, vxlan, br_netfilter, nf_tables, macvlan, ipvlan, xdp, bpffs]
  checks:
    description:
      - Which groups of checks to run. By default every group that has its input - C(kernel) when O(profile) or
        O(features) is given, C(underlay) when O(underlay) is given, C(sysctl) and C(conf_dir) always.
    type: list
    elements: str
    choices: [kernel, sysctl, underlay, conf_dir]
  sysctl_keys:
    description:
      - Kernel parameters that must be writable, in sysctl's dotted form. Keys that do not exist are listed in the
        evidence, not failed (their kernel check tells why).
    type: list
    elements: str
    default: [net.ipv4.ip_forward]
  underlay:
    description: Name of the underlay interface the overlay's VXLAN device uses.
    type: str
  overlay_mtu:
    description:
      - The MTU the overlay's devices get. Without it the underlay's MTU only has to leave room for the encapsulation.
    type: int
  underlay_family:
    description: Address family of the underlay (V(ipv4), V(ipv6), or an underlay address), for the encapsulation size.
    type: str
    default: ipv4
  conf_dir:
    description: Directory of network configuration files the container runtime reads.
    type: path
    default: /etc/cni/net.d
  network:
    description: Name of the profile's network; its own file (at any priority) is no conflict.
    type: str
    default: cni-node
  priority:
    description: Priority of the profile's file (C(PRIORITY-NETWORK.conflist)), as M(cni.node.cni_network) takes it.
    type: int
    default: 10
  exclusive:
    description:
      - The profile's M(cni.node.cni_network) runs with C(exclusive) (it removes every other file of O(conf_dir)) -
        files sorting before ours are listed, not failed.
    type: bool
    default: false
  fail_on_missing:
    description:
      - Fail when a required check fails (the default). V(false) returns the same result with RV(missing) set and
        lets the play go on.
    type: bool
    default: true
notes:
  - Run as root; a user that cannot write C(/proc/sys) fails the C(sysctl) group, as the real run would.
  - The checks of O(netns) (C(sysctl), C(underlay)) run inside that namespace; the kernel checks are the same in
    every namespace, except C(br_netfilter)'s C(/proc/sys/net/bridge), which the module reads in O(netns) too.
seealso:
  - module: cni.node.cni_info
  - module: cni.node.cni_sysctl
'''

EXAMPLES = r'''
- name: Can this node take the overlay profile?
  cni.node.cni_preflight:
    profile: overlay
    underlay: eth0
    overlay_mtu: 1450
    sysctl_keys: [net.ipv4.ip_forward, net.bridge.bridge-nf-call-iptables]

- name: XDP and macvlan, reported without failing
  cni.node.cni_preflight:
    features: [xdp, bpffs, macvlan]
    checks: [kernel]
    fail_on_missing: false
  register: pre

- name: Show what is missing
  ansible.builtin.debug:
    msg: "{{ pre.checks | rejectattr('ok') | map(attribute='name') | list }}"
'''

RETURN = r'''
checks:
  description: Every check that ran, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: C(kernel.FEATURE), C(sysctl.writable), C(underlay.exists), C(underlay.up), C(underlay.mtu),
        C(conf_dir.conflicts).
      type: str
    ok:
      description: Whether the node passes it.
      type: bool
    required:
      description: Whether a failure stops the run (false only for a kernel feature no source could tell about).
      type: bool
    evidence:
      description: What was read, and where.
      type: str
    fix:
      description: What to do about it; null when ok.
      type: str
  sample:
    - {name: kernel.vxlan, ok: true, required: true, evidence: "/sys/module/vxlan exists: live in this kernel",
       fix: null}
    - {name: sysctl.writable, ok: false, required: true,
       evidence: "/proc/sys/net is on a read-only mount; NOT writable: net.ipv4.ip_forward",
       fix: "make /proc/sys writable: ..."}
missing:
  description: Names of the required checks that failed (empty when the node can take the profile).
  returned: always
  type: list
  elements: str
  sample: [sysctl.writable]
ready:
  description: True when no required check failed.
  returned: always
  type: bool
warnings_checks:
  description: Names of the checks that are not ok but not required.
  returned: always
  type: list
  elements: str
changed:
  description: Always false.
  returned: always
  type: bool
msg:
  description: On failure, every failed required check with its evidence and fix.
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _edge, _fileutil, _netlink, _netns, _preflight
from ansible_collections.cni.node.plugins.module_utils._params import check_paths, netns_value


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type='str', choices=sorted(_preflight.PROFILES)),
            features=dict(type='list', elements='str', choices=sorted(_preflight.FEATURES)),
            checks=dict(type='list', elements='str', choices=list(_preflight.CHECKS)),
            sysctl_keys=dict(type='list', elements='str', default=list(_preflight.DEFAULT_SYSCTL_KEYS),
                             no_log=False),
            underlay=dict(type='str'),
            overlay_mtu=dict(type='int'),
            underlay_family=dict(type='str', default='ipv4'),
            conf_dir=dict(type='path', default='/etc/cni/net.d'),
            network=dict(type='str', default='cni-node'),
            priority=dict(type='int', default=10),
            exclusive=dict(type='bool', default=False),
            fail_on_missing=dict(type='bool', default=True),
            netns=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    with _edge.edge(module, 'cni_preflight'):
        check_paths(p, ('conf_dir',))
        netns_value(p['netns'])
        spec = _preflight.Spec(
            profile=p['profile'], features=p['features'], checks=p['checks'], sysctl_keys=p['sysctl_keys'],
            underlay=p['underlay'], overlay_mtu=p['overlay_mtu'], underlay_family=p['underlay_family'],
            conf_dir=p['conf_dir'], network=p['network'], priority=p['priority'],
            exclusive=p['exclusive'])

        def links():
            with _netlink.Netlink() as nl:   # already inside netns (below)
                return nl.links()

        with _netns.entered(p['netns']):
            checks, missing = _preflight.run(spec, _preflight.Kernel(), links=links, read_text=_fileutil.read_text)
    result = dict(changed=False, checks=checks, missing=missing, ready=not missing,
                  warnings_checks=[c['name'] for c in checks if not c['ok'] and not c['required']])
    if missing and p['fail_on_missing']:
        module.fail_json(msg=_preflight.message(checks, missing), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
