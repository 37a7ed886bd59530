#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_doctor
short_description: Read-only checks of a CNI node - findings with evidence and a fix
version_added: 0.2.0
description:
  - Runs checks on the node and returns RV(findings), each with the C(check) that found it, its C(severity)
    (C(error), C(warning), C(info)), the C(subject) (an interface, a file, a plugin, a peer, a key), the
    C(evidence) and a C(fix), and RV(healthy) (no finding of severity C(error)). It never changes anything.
  - C(forwarding) - C(net.ipv4.ip_forward), and the bridge netfilter keys when O(bridge_nf) is true.
  - C(rp_filter) - strict reverse-path filtering (the larger of C(all) and the interface's value is 1) on the
    VXLAN devices, their underlay and the bridges.
  - C(conflists) - configuration files that do not load or break the specification, a network defined by two
    files (the later one is shadowed, runtimes never load it), plugins (and IPAM plugins) that the loaded
    networks name but O(bin_dirs) does not hold, or that are unsafe to run as root.
  - C(plugin_versions) - a plugin whose C(VERSION) answer does not list the network's C(cniVersion).
  - C(mtu) - a VXLAN device larger than its underlay allows (50 bytes of encapsulation over IPv4, 70 over IPv6),
    a bridge or a network's bridge C(mtu) larger than the overlay carries, pod veths whose MTU differs from
    their bridge's.
  - C(peers) - for each peer of O(peers) (the fleet), the route to its pod subnet, the neighbour of its VTEP
    address with its real VTEP MAC and the FDB entry to its underlay address; FDB entries to addresses that are
    not in the fleet.
  - C(vtep_macs) - two VTEPs (this node's devices and the fleet's) with the same MAC; two neighbours with one MAC.
  - C(leases) - host-local leases whose container has no attachment any more (as M(cni.node.cni_gc) judges it).
  - C(dhcp) - a network with C(dhcp) IPAM while O(dhcp_socket_path) is not a socket.
  - C(xdp) - an XDP program on an interface not in O(expected_xdp).
  - C(nftables) - a cni.node policy table (C(cni_node_*)) not in O(expected_nft_tables).
  - C(vxlan_port) - an nftables rule (also one iptables-nft made) that drops or rejects the VXLAN UDP port.
  - C(conntrack) - the connection tracking table at O(conntrack_threshold) percent of its limit or more, or a
    limit below O(conntrack_min).
  - It reads /proc/sys, one netlink dump per kind (links with their XDP, addresses, routes, neighbours, FDB), the
    configuration files, the plugins' C(VERSION) answers, the host-local lease files and C(nft -j list ruleset).
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
attributes:
  check_mode:
    description: The module changes nothing; check mode returns the same findings.
  diff_mode:
    description: Nothing changes, so RV(diff) is always empty.
options:
  checks:
    description: The checks to run (all by default), see the description.
    type: list
    elements: str
    choices: [forwarding, rp_filter, conflists, plugin_versions, mtu, peers, vtep_macs, leases, dhcp, xdp,
              nftables, vxlan_port, conntrack]
  peers:
    description:
      - The fleet's VXLAN peers, for the C(peers) and C(vtep_macs) checks; the node's own entry (its underlay
        address) is skipped, so the same list serves every node. Not given, the C(peers) check is skipped.
      - The playbook M(cni.node.diagnose) builds it from RV(vteps) of every node.
    type: list
    elements: dict
    suboptions:
      remote:
        description: The peer's underlay address.
        type: str
        required: true
      subnet:
        description: The peer's pod subnet (routed through the VXLAN device; its network address is the VTEP address).
        type: str
      vtep_mac:
        description: The MAC of the peer's VXLAN device (its real one); C(auto) or not given derives it from O(peers[].remote) as M(cni.node.cni_vxlan) does.
        type: str
      name:
        description: A name for the peer in findings (the inventory name); the remote address by default.
        type: str
  vxlan_name:
    description: The VXLAN device of the overlay; not given, every VXLAN device (the first for C(peers)).
    type: str
  bridge_nf:
    description: Whether the profile needs C(net.bridge.bridge-nf-call-iptables) and C(-ip6tables) at 1.
    type: bool
    default: false
  expected_xdp:
    description: Interfaces that may carry an XDP program (the profile's M(cni.node.cni_xdp) interfaces).
    type: list
    elements: str
    default: []
  expected_nft_tables:
    description: The cni.node policy tables (C(cni_node_<network>)) the profile expects.
    type: list
    elements: str
    default: []
  dhcp_socket_path:
    description: The CNI dhcp daemon's socket.
    type: path
    default: /run/cni/dhcp.sock
  conntrack_threshold:
    description: Percentage of C(nf_conntrack_max) in use from which C(conntrack) warns (an error when full).
    type: int
    default: 90
  conntrack_min:
    description: The smallest C(nf_conntrack_max) that does not draw a warning.
    type: int
    default: 16384
  vxlan_port:
    description: The VXLAN UDP port for C(vxlan_port); not given, the port of each VXLAN device (4789 without one).
    type: int
  conf_dir:
    description: Directory of network configuration files.
    type: path
    default: /etc/cni/net.d
  bin_dirs:
    description: Directories of plugin binaries, in C(CNI_PATH) order.
    type: list
    elements: path
    default: [/opt/cni/bin]
  cache_dir:
    description: libcni's cache directory, to judge which leases are stale.
    type: path
    default: /var/lib/cni
notes:
  - Run as root, to read every lease and the nftables ruleset.
  - A section that cannot be read (no pyroute2, no nft) is named in RV(errors) and the checks needing it in
    RV(skipped); the other checks still run.
seealso:
  - module: cni.node.cni_info
  - module: cni.node.cni_gc
  - module: cni.node.cni_vxlan
'''

EXAMPLES = r'''
- name: Every check of the node
  cni.node.cni_doctor:
  register: doctor

- name: Fail on errors
  ansible.builtin.assert:
    that: doctor.healthy
    fail_msg: "{{ doctor.findings | selectattr('severity', 'eq', 'error') | list }}"

- name: The overlay's peers against the fleet (each node's vteps from an earlier run)
  cni.node.cni_doctor:
    checks: [peers, vtep_macs, mtu]
    vxlan_name: vxlan0
    peers:
      - {name: node1, remote: 192.0.2.11, subnet: 10.244.0.0/24, vtep_mac: "0e:04:c0:00:02:0b"}
      - {name: node2, remote: 192.0.2.12, subnet: 10.244.1.0/24}
'''

RETURN = r'''
findings:
  description: What the checks found, errors first.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check that found it.
      type: str
    severity:
      description: error, warning or info.
      type: str
    subject:
      description: What it concerns - an interface, a file, a plugin type, a peer, a key, a MAC.
      type: str
    evidence:
      description: What was seen.
      type: str
    fix:
      description: What to do.
      type: str
  sample:
    - check: peers
      severity: error
      subject: node2
      evidence: no forwarding entry 0e:04:ac:1c:01:0c dst 172.28.1.12 on vxlan0
      fix: rerun cni.node.site (cni_vxlan programs the FDB entry)
healthy:
  description: No finding of severity error.
  returned: always
  type: bool
counts:
  description: Findings per severity.
  returned: always
  type: dict
  sample: {error: 1, warning: 0, info: 0}
checks:
  description: The checks that ran.
  returned: always
  type: list
  elements: str
skipped:
  description: Checks that did not run because a section they need could not be read, with the reason.
  returned: always
  type: dict
errors:
  description: Sections that could not be read, with the reason.
  returned: always
  type: dict
vteps:
  description: The node's VXLAN devices (name, mac, local, subnet, mtu, port, dev - the underlay), what the fleet's O(peers) is made of.
  returned: when links were read
  type: list
  elements: dict
  sample: [{name: vxlan0, mac: "0e:04:ac:1c:01:0b", local: 172.28.1.11, subnet: 10.244.0.0/24, mtu: 1450, port: 4789, dev: eth0}]
changed:
  description: Always false.
  returned: always
  type: bool
drift:
  description: Always empty (the module changes nothing).
  returned: always
  type: list
diff:
  description: Always empty (the module changes nothing).
  returned: always
  type: list
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _doctor, _doctorgather, _edge
from ansible_collections.cni.node.plugins.module_utils._params import check_paths


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type='list', elements='str', choices=list(_doctor.CHECKS)),
            peers=dict(type='list', elements='dict', options=dict(
                remote=dict(type='str', required=True), subnet=dict(type='str'), vtep_mac=dict(type='str'),
                name=dict(type='str'))),
            vxlan_name=dict(type='str'),
            bridge_nf=dict(type='bool', default=False),
            expected_xdp=dict(type='list', elements='str', default=[]),
            expected_nft_tables=dict(type='list', elements='str', default=[]),
            dhcp_socket_path=dict(type='path', default='/run/cni/dhcp.sock'),
            conntrack_threshold=dict(type='int', default=90),
            conntrack_min=dict(type='int', default=16384),
            vxlan_port=dict(type='int'),
            conf_dir=dict(type='path', default='/etc/cni/net.d'),
            bin_dirs=dict(type='list', elements='path', default=['/opt/cni/bin']),
            cache_dir=dict(type='path', default='/var/lib/cni'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    with _edge.edge(module, 'cni_doctor'):
        check_paths(p, ('conf_dir', 'bin_dirs', 'cache_dir', 'dhcp_socket_path'))
        opts = _doctor.check_options(
            checks=p['checks'], peers=p['peers'], vxlan_name=p['vxlan_name'], bridge_nf=p['bridge_nf'],
            expected_xdp=p['expected_xdp'], expected_nft_tables=p['expected_nft_tables'],
            dhcp_socket_path=p['dhcp_socket_path'], conntrack_threshold=p['conntrack_threshold'],
            conntrack_min=p['conntrack_min'], vxlan_port=p['vxlan_port'])
        sections = _doctor.needed(opts['checks'])
        if 'links' not in sections:
            sections.append('links')   # for vteps: one dump
        facts, errors = _doctorgather.gather(sections, p['conf_dir'], p['bin_dirs'], p['cache_dir'], opts)
        skipped = _doctorgather.skipped(opts['checks'], errors)
        opts['checks'] = [c for c in opts['checks'] if c not in skipped]
        findings = _doctor.run(facts, opts)
    result = dict(changed=False, findings=findings, healthy=_doctor.healthy(findings),
                  counts=dict((s, sum(1 for f in findings if f['severity'] == s)) for s in _doctor.SEVERITIES),
                  checks=opts['checks'], skipped=skipped, errors=errors, drift=[], diff=[])
    if 'links' in facts:
        result['vteps'] = _doctor.vteps(facts)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
