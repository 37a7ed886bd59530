#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_bridge
short_description: A Linux bridge with its MTU, MAC, STP, VLAN filtering, state and exact set of addresses
version_added: 0.1.0
description:
  - Creates, updates or removes a Linux bridge through netlink (pyroute2), on the node or inside an
    existing network namespace. No C(ip) command is run.
  - Reads the link and its addresses in one dump each, compares them with the arguments and changes only
    what differs. Options left out (null) are not managed.
  - O(addresses) is the exact set - listed addresses are added, all others are removed. IPv6 link-local
    addresses (C(fe80::/64)) that the kernel adds by itself are ignored unless listed.
  - Every argument is checked before the first change. When the kernel refuses a change during the run,
    the changes already made by the run are undone (a bridge created by the run is removed) and the task
    fails naming the argument.
  - A link of another kind with the same name is never touched; the task fails.
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
  - cni.node.attributes.netns
options:
  name:
    description:
      - Name of the bridge, at most 15 bytes, without NUL, C(/), C(:), C(%) or whitespace (as the kernel counts
        it, on the UTF-8 bytes), not C(.) or C(..). The kernel reads C(%d) as a name template.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the bridge, V(absent) deletes it (its ports are released, not deleted).
      - With V(absent), a link called O(name) that is not a bridge is not deleted; the task fails naming its
        kind (also in check mode).
    type: str
    choices: [present, absent]
    default: present
  mtu:
    description:
      - MTU of the bridge, 68 to 65535. Not managed when left out (a new bridge gets the kernel's default, and the
        kernel then moves it to the smallest MTU of the bridge's ports whenever ports join, leave or change theirs).
      - The kernel keeps a managed MTU when ports join, leave or change theirs. It does so only for an MTU it counts
        as set by the user, which an MTU in the create request or a set to the MTU the bridge already has is not;
        so a new bridge is created with an MTU next to this one and then set to it. That step is not reported
        on its own (check mode, drift and diff show the creation only).
      - An existing bridge whose MTU already is O(mtu) is not changed, even when it was made with the MTU in its
        create request (by an earlier version of this module, or by another tool) and the kernel would let a
        port move it; the kernel does not tell. If a port moves it later, the next run reports the mtu drift and
        sets it back, and from then on the kernel keeps it.
    type: int
  addresses:
    description:
      - The exact set of addresses of the bridge, in CIDR form (C(10.244.1.1/24), C(fd00:10::1/64)).
      - Listed addresses are added, all others are removed, except IPv6 link-local addresses the kernel
        adds itself. An empty list removes all addresses; left out, addresses are not managed.
    type: list
    elements: str
  mac:
    description:
      - MAC address of the bridge, a unicast address such as C(02:42:0a:f4:01:01). Not managed when left out.
    type: str
  stp:
    description:
      - Enable the Spanning Tree Protocol on the bridge. Not managed when left out (a new bridge has it off).
    type: bool
  vlan_filtering:
    description:
      - Enable VLAN filtering on the bridge. Not managed when left out (a new bridge has it off).
      - Kernels built without C(CONFIG_BRIDGE_VLAN_FILTERING) refuse V(true); the task fails and nothing
        is changed.
    type: bool
  up:
    description:
      - Whether the bridge is administratively up.
    type: bool
    default: true
  persist:
    description:
      - Also write the bridge as systemd-networkd configuration, so the node brings it back at boot
        (C(/etc/systemd/network/50-cni-node-NAME.netdev) and C(.network), mode 0644, written atomically, and the
        drop-in C(/etc/systemd/networkd.conf.d/cni-node.conf) that stops networkd from removing routes and rules it did
        not configure). See the collection's C(docs/persistence.md).
      - V(auto) writes them when the node booted systemd and systemd-networkd is installed, and otherwise nothing
        (RV(persist.reason) says why). V(true) writes them and fails when systemd-networkd is not installed.
        V(false) writes, reports and removes nothing.
      - A link in a network namespace (O(netns)) is never persisted; with V(true) the task fails.
      - The files' drift is reported as C(persist/NAME/netdev), C(persist/NAME/network) and
        C(persist/networkd.conf), and check mode reports it exactly. With O(state=absent) the files are removed
        (the drop-in with the last link's files).
      - The module does not run systemctl; the roles enable C(systemd-networkd.service).
      - Accepts V(auto), V(true) or V(false) (also V(yes)/V(no)).
    type: raw
    default: auto
  persist_root:
    description:
      - The directory the persisted files' paths are under (tests use a temporary directory).
    type: path
    default: /
notes:
  - Runs on the managed node as root and needs pyroute2 (0.7.x, as packaged by Debian, or 0.9.x).
seealso:
  - module: community.general.nmcli
    description: Bridges managed through NetworkManager.
'''

EXAMPLES = r'''
- name: The CNI bridge of a node, with the gateway address of its pod subnet
  cni.node.cni_bridge:
    name: cni0
    mtu: 1450
    addresses:
      - 10.244.1.1/24
      - fd00:10:244:1::1/64

- name: A bridge inside a network namespace, with fixed MAC and STP
  cni.node.cni_bridge:
    name: br-lab
    netns: lab-a
    mac: 02:42:0a:00:00:01
    stp: true
    addresses: []

- name: Report drift without changing anything
  cni.node.cni_bridge:
    name: cni0
    mtu: 1450
    addresses: [10.244.1.1/24]
  check_mode: true
  register: bridge_drift

- name: Not written as networkd files, even on a systemd-networkd node
  cni.node.cni_bridge:
    name: br-test
    addresses: [192.0.2.1/24]
    persist: false

- name: Remove the bridge (and, with persist auto or true, its networkd files)
  cni.node.cni_bridge:
    name: cni0
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
    - Paths are C(link/NAME) (V(absent) or V(present)), C(link/NAME/stp), C(link/NAME/vlan_filtering),
      C(link/NAME/mtu), C(link/NAME/mac), C(link/NAME/addresses) (sorted lists) and C(link/NAME/up).
    - With O(persist), C(persist/NAME/netdev), C(persist/NAME/network) and C(persist/networkd.conf), before and after
      as the file's sections, one string each (null for a missing file).
  returned: always
  type: list
  elements: dict
  sample:
    - path: link/cni0/mtu
      before: 1500
      after: 1450
    - path: link/cni0/addresses
      before: [10.244.1.1/24, 10.9.9.9/32]
      after: [10.244.1.1/24]
diff:
  description: Before and after of the differing values.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: link
      after_header: link
      before: {cni0/mtu: 1500}
      after: {cni0/mtu: 1450}
bridge:
  description:
    - The bridge after the run (in check mode, as it is now), or null when it does not exist.
  returned: always
  type: dict
  sample:
    name: cni0
    mtu: 1450
    mac: 02:42:0a:f4:01:01
    up: true
    stp: false
    vlan_filtering: false
    addresses: [10.244.1.1/24]
persist:
  description:
    - Whether the bridge is persisted as systemd-networkd files on this node, why, and which files.
  returned: always
  type: dict
  contains:
    active:
      description: Whether files were compared and written (V(auto) on a node without systemd or networkd, V(false)
        and a namespace give false).
      type: bool
    reason:
      description: Why persistence is active or not.
      type: str
    files:
      description: The persisted files present after the run (in check mode, that would be present).
      type: list
      elements: str
    notes:
      description: What the module programs in the kernel that networkd cannot hold (the next run puts it back).
      type: list
      elements: str
  sample:
    active: true
    reason: "persist=auto: systemd is PID 1 and systemd-networkd is installed"
    files:
      - /etc/systemd/network/50-cni-node-cni0.netdev
      - /etc/systemd/network/50-cni-node-cni0.network
      - /etc/systemd/networkd.conf.d/cni-node.conf
    notes: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _bridge, _edge, _persist
from ansible_collections.cni.node.plugins.module_utils._params import netns_value
from ansible_collections.cni.node.plugins.module_utils._netlink import Netlink


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            mtu=dict(type='int'),
            addresses=dict(type='list', elements='str'),
            mac=dict(type='str'),
            stp=dict(type='bool'),
            vlan_filtering=dict(type='bool'),
            up=dict(type='bool', default=True),
            netns=dict(type='str'),
            persist=dict(type='raw', default='auto'),
            persist_root=dict(type='path', default='/'),
        ),
        supports_check_mode=True,
    )
    args = module.params
    with _edge.edge(module, 'cni_bridge'):
        netns_value(args['netns'])
        spec = _bridge.Spec(
            args['name'], state=args['state'], mtu=args['mtu'], addresses=args['addresses'], mac=args['mac'],
            stp=args['stp'], vlan_filtering=args['vlan_filtering'], up=args['up'], netns=args['netns'])
        persist = _persist.Files(spec.name, args['persist'], args['persist_root'], netns=args['netns'])
        plan, after = _bridge.run(spec, Netlink, check_mode=module.check_mode, persist=persist)
    if spec.state == 'absent' and not module.check_mode:
        after = None
    module.exit_json(**plan.changes.result(diff_mode=module._diff, bridge=_bridge.public(after),
                                           persist=persist.result()))


if __name__ == '__main__':
    main()
