#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_vxlan
short_description: A VXLAN device and all its static peers (routes, neighbours, FDB entries) in one call
version_added: 0.1.0
description:
  - Creates, updates or removes a VXLAN device through netlink (pyroute2) and reconciles the entries of
    all its peers in one call, from one dump per object kind (links, addresses, routes, neighbours,
    forwarding database). No C(ip) or C(bridge) command is run.
  - B(L3 mode) (no O(master)), as flannel's vxlan backend does it. Per peer one route
    C(<subnet> via <vtep address> dev <name> onlink), one permanent neighbour
    C(<vtep address> lladdr <vtep mac>) and one forwarding database entry C(<vtep mac> dst <remote>).
    A peer's vtep address is the network address of its subnet (C(10.244.2.0) for C(10.244.2.0/24)); give
    the device the network address of this node's subnet as C(/32) (or C(/128)) in O(addresses).
  - B(L2 mode) (O(master) set). The device is a port of the bridge O(master) and each peer is one
    forwarding database flood entry C(00:00:00:00:00:00 dst <remote>).
  - Routes the module creates carry protocol number 152 (C(ip route show proto 152)). With O(purge_peers),
    the routes, neighbours and forwarding database entries of peers no longer listed are removed. Routes of
    other protocols and entries on other devices are never touched.
  - VNI, port, local address, underlay device and GBP cannot be changed on a live device. When one of them
    differs, the device is deleted and created again with all its peer entries; the diff and C(recreated)
    say which attributes forced it.
  - Every argument is checked before the first change. When the kernel refuses a change, the changes the
    run made are undone and the task fails naming the argument. A device the run created is deleted again;
    direct routes through the underlay that the run added or deleted are put back as they were. When a
    re-creation fails after the old device was deleted, the old device is created again with its attributes,
    master, addresses, up state and peer entries; the message says what was restored (the result's
    C(restored) too).
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
  - cni.node.attributes.netns
options:
  name:
    description:
      - Name of the VXLAN device, at most 15 bytes, without NUL, C(/), C(:), C(%) or whitespace (as the kernel
        counts it, on the UTF-8 bytes), not C(.) or C(..). The kernel reads C(%d) as a name template.
      - A link of another kind with this name is never touched.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the device and its peers, V(absent) deletes the device (with it go its
        routes, neighbours and forwarding database entries; direct routes through the underlay stay, remove
        them first with O(peers=[]) and O(purge_peers=true)).
      - With V(absent), a link called O(name) that is not a VXLAN device is not deleted; the task fails
        naming its kind (also in check mode).
    type: str
    choices: [present, absent]
    default: present
  vni:
    description:
      - VXLAN network identifier, 1 to 16777215. Required with O(state=present).
    type: int
  port:
    description:
      - UDP destination port, 1 to 65535.
    type: int
    default: 4789
  dev:
    description:
      - The underlay link. Its first global IPv4 address is the local address unless O(local) is given; without
        one, a global IPv6 address that is not temporary, deprecated, tentative or dadfailed, permanent
        (configured) ones before the others, the lowest first. When a tentative address would come first once
        duplicate address detection ends, the task fails without changes (run again, or give O(local)). Its
        MTU is the base of O(mtu=auto).
      - One of O(dev) and O(local) is required with O(state=present).
    type: str
  local:
    description:
      - The local underlay address (the source of the tunnel packets). The base of O(mac=auto).
    type: str
  mtu:
    description:
      - MTU of the device, or V(auto) for the underlay link's MTU minus 50 (IPv4 underlay) or 70 (IPv6).
      - A number larger than the underlay can carry is refused before anything changes.
    type: str
    default: auto
  learning:
    description:
      - Learn remote MAC addresses from received packets. Off by default, as with static peers.
    type: bool
    default: false
  gbp:
    description:
      - VXLAN Group Based Policy extension. Changing it re-creates the device.
    type: bool
    default: false
  mac:
    description:
      - MAC address of the device, or V(auto) to derive it from the local underlay address with the same
        function as the M(cni.node.vtep_mac) filter (C(0e:04:) and the four octets for IPv4). Every node
        derives every peer's MAC the same way, so no peer holds a stale MAC after a rebuild.
    type: str
    default: auto
  addresses:
    description:
      - The exact set of addresses of the device, in CIDR form. In L3 mode this is the network address of
        the node's subnet as a host address, e.g. C(10.244.1.0/32). Left out, addresses are not managed.
    type: list
    elements: str
  master:
    description:
      - A bridge to enslave the device to (L2 mode). Left out, the device is L3 mode and released from any
        bridge.
    type: str
  peers:
    description:
      - All peers of this node (the other nodes), reconciled in one call. Left out, peer entries are not
        managed; an empty list with O(purge_peers=true) removes all of them.
      - Each element must be a dictionary. The collection checks the elements itself (hence C(elements=raw)), so a
        string in the list is refused with a message that names the element, for example C(peers[0]).
    type: list
    elements: raw
    suboptions:
      remote:
        description:
          - The peer's underlay address (same family as the local address).
        type: str
        required: true
      subnet:
        description:
          - The peer's pod subnet in CIDR form. Required in L3 mode, not allowed in L2 mode.
        type: str
      vtep_mac:
        description:
          - The peer's VTEP MAC, or V(auto) (derived from O(peers[].remote) as O(mac=auto) does).
        type: str
        default: auto
  direct_routing:
    description:
      - In L3 mode, a peer whose underlay address is on the local underlay subnet gets a plain route
        C(<subnet> via <remote> dev <underlay>) instead of the tunnel (no neighbour or forwarding entry).
    type: bool
    default: false
  purge_peers:
    description:
      - Remove the routes, neighbours and forwarding database entries of peers no longer listed. Without it
        they are kept and returned in RV(stale).
      - Routes of protocol 152 through the underlay device count as this module's direct routes; with two
        VXLAN devices over one underlay device, use direct routing on one of them only.
    type: bool
    default: false
  tx_checksum_offload:
    description:
      - Transmit checksum offload of the device, its C(tx-checksum-ip-generic) feature as C(ethtool -k <name>)
        shows it. V(off) is what C(ethtool -K <name> tx-checksum-ip-generic off) does, the known fix when the
        receiving nodes drop encapsulated packets with a wrong UDP checksum (their kernel logs C(bad checksum)
        for UDP), a limitation of some kernels and NICs and of underlays behind NAT. The kernel then computes
        checksums in software and also stops segmentation offload on the device (shown as C([requested on])).
      - V(unchanged) never touches it; the returned RV(vxlan.tx_checksum_offload) still says what it is.
      - Applied on creation and on re-creation too. With V(unchanged), a re-created device gets V(off) again
        when the old one had it off.
      - Set through the ethtool ioctl in the device's network namespace; no C(ethtool) command is needed.
        A device that does not let it change fails the task naming this argument, before anything changes.
      - Not written anywhere that survives a reboot yet.
    type: str
    choices: ['on', 'off', unchanged]
    default: unchanged
  persist:
    description:
      - Also write the VXLAN device with its addresses and peer entries as systemd-networkd configuration, so the node brings it back at boot
        (C(/etc/systemd/network/50-cni-node-NAME.netdev) and C(.network), mode 0644, written atomically; with O(dev),
        the boot unit C(cni-node-vxlan-NAME.service) that creates the device bound to its underlay before networkd
        starts, linked into C(systemd-networkd.service.wants), and the
        drop-in C(/etc/systemd/networkd.conf.d/cni-node.conf) that stops networkd from removing routes and rules it did
        not configure). See the collection's C(docs/persistence.md).
      - V(auto) writes them when the node booted systemd and systemd-networkd is installed, and otherwise nothing
        (RV(persist.reason) says why). V(true) writes them and fails when systemd-networkd is not installed.
        V(false) writes, reports and removes nothing.
      - A link in a network namespace (O(netns)) is never persisted; with V(true) the task fails.
      - The files' drift is reported as C(persist/NAME/netdev), C(persist/NAME/network), C(persist/NAME/unit), C(persist/NAME/wants) and
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
  - Entries of listed peers that differ from what they should be (a neighbour with a wrong MAC, a forwarding
    entry of a peer's MAC to a wrong remote) are always corrected.
seealso:
  - module: cni.node.cni_bridge
  - module: cni.node.cni_ipam_pool
    description: Gives each node its subnet; its results build O(peers).
'''

EXAMPLES = r'''
- name: L3 overlay to two peers, like flannel's vxlan backend
  cni.node.cni_vxlan:
    name: vxlan0
    vni: 1
    dev: eth0
    addresses: [10.244.1.0/32]
    peers:
      - {remote: 192.168.10.12, subnet: 10.244.2.0/24}
      - {remote: 192.168.10.13, subnet: 10.244.3.0/24}
    direct_routing: true
    purge_peers: true

- name: Every other node of an inventory group as a peer, subnets from cni_ipam_pool
  cni.node.cni_vxlan:
    name: vxlan0
    vni: 1
    dev: "{{ ansible_default_ipv4.interface }}"
    addresses: ["{{ pool.members[inventory_hostname].subnets[0].split('/') | first }}/32"]
    peers: >-
      {{ groups['nodes'] | difference([inventory_hostname])
         | map('extract', hostvars) | map(attribute='cni_peer') | list }}
    purge_peers: true

- name: L2 overlay, the device a port of bridge cni0
  cni.node.cni_vxlan:
    name: vxlan1
    vni: 100
    local: 192.168.10.11
    master: cni0
    peers:
      - remote: 192.168.10.12
      - remote: 192.168.10.13

- name: Transmit checksums in software on the device (flannel's fix for bad encapsulated checksums)
  cni.node.cni_vxlan:
    name: vxlan0
    vni: 1
    dev: eth0
    tx_checksum_offload: 'off'

- name: The device and its peers persisted for boot, or the task fails (persist defaults to auto)
  cni.node.cni_vxlan:
    name: vxlan0
    vni: 1
    dev: eth0
    peers:
      - {remote: 192.168.10.12, subnet: 10.244.2.0/24}
    persist: true
  register: vxlan

- name: Systemd-networkd enabled, so the files take effect at boot
  ansible.builtin.systemd_service:
    name: systemd-networkd.service
    enabled: true
  when: vxlan.persist.active

- name: Remove the device (and, with persist auto or true, its networkd files and boot unit)
  cni.node.cni_vxlan:
    name: vxlan0
    state: absent
'''

RETURN = r'''
drift:
  description:
    - One item per value that differs (in check mode, would differ). Peer entries read
      C(vxlan/<name>/routes/<subnet>), C(vxlan/<name>/neighbours/<ip>) and C(vxlan/<name>/fdb/<mac>/<remote>).
    - With O(persist), C(persist/<name>/netdev), C(persist/<name>/network), C(persist/<name>/unit),
      C(persist/<name>/wants) (the unit's link target) and C(persist/networkd.conf); a file's before and after are
      its sections, one string each (null for a missing file).
  returned: always
  type: list
  elements: dict
  sample:
    - {path: vxlan/vxlan0/mtu, before: 1500, after: 1450}
    - {path: vxlan/vxlan0/tx_checksum_offload, before: 'on', after: 'off'}
    - {path: vxlan/vxlan0/routes/10.244.2.0/24, before: null, after: via 10.244.2.0 dev vxlan0 onlink}
    - {path: vxlan/vxlan0/fdb/0e:04:c0:a8:0a:0c/192.168.10.12, before: absent, after: present}
diff:
  description: Before and after per area, for C(--diff).
  returned: when diff mode is on
  type: list
  elements: dict
vxlan:
  description: The device after the run (in check mode, as it is now), or null when it does not exist.
  returned: always
  type: dict
  sample:
    name: vxlan0
    index: 7
    vni: 1
    port: 4789
    local: 192.168.10.11
    dev: eth0
    learning: false
    gbp: false
    mtu: 1450
    mac: 0e:04:c0:a8:0a:0b
    master: null
    up: true
    addresses: [10.244.1.0/32]
    tx_checksum_offload: 'on'
  contains:
    tx_checksum_offload:
      description: V(on) or V(off) (the device's C(tx-checksum-ip-generic)); null when the kernel does not tell.
      type: str
peers:
  description: The peers as programmed, with their derived vtep MAC and address and whether they are routed directly.
  returned: when peers is given and state is present
  type: list
  elements: dict
  sample:
    - {remote: 192.168.10.12, subnet: 10.244.2.0/24, vtep_mac: 0e:04:c0:a8:0a:0c, vtep_address: 10.244.2.0,
       direct: false}
mode:
  description: V(l3) or V(l2).
  returned: when peers is given and state is present
  type: str
stale:
  description: Entries of peers that are no longer listed, kept because O(purge_peers) is false.
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: route, dst: 10.244.9.0/24, route: via 10.244.9.0 dev vxlan0 onlink}
recreated:
  description: The attributes that forced the device to be deleted and created again (empty when none).
  returned: always
  type: list
  elements: str
persist:
  description:
    - Whether the VXLAN device is persisted as systemd-networkd files on this node, why, and which files.
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
      - /etc/systemd/network/50-cni-node-vxlan0.netdev
      - /etc/systemd/network/50-cni-node-vxlan0.network
      - /etc/systemd/networkd.conf.d/cni-node.conf
    notes: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _edge, _persist, _vxlan
from ansible_collections.cni.node.plugins.module_utils._ethtool import Ethtool
from ansible_collections.cni.node.plugins.module_utils._params import dict_elements, netns_value
from ansible_collections.cni.node.plugins.module_utils._netlink import Netlink

PEER_KEYS = dict(remote=dict(type='str', required=True), subnet=dict(type='str'),
                 vtep_mac=dict(type='str', default='auto'))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            vni=dict(type='int'),
            port=dict(type='int', default=4789),
            dev=dict(type='str'),
            local=dict(type='str'),
            mtu=dict(type='str', default='auto'),
            learning=dict(type='bool', default=False),
            gbp=dict(type='bool', default=False),
            mac=dict(type='str', default='auto'),
            addresses=dict(type='list', elements='str'),
            master=dict(type='str'),
            peers=dict(type='list', elements='raw'),
            direct_routing=dict(type='bool', default=False),
            purge_peers=dict(type='bool', default=False),
            netns=dict(type='str'),
            persist=dict(type='raw', default='auto'),
            persist_root=dict(type='path', default='/'),
            tx_checksum_offload=dict(type='str', default='unchanged', choices=['on', 'off', 'unchanged']),
        ),
        supports_check_mode=True,
    )
    args = module.params
    with _edge.edge(module, 'cni_vxlan'):
        netns_value(args['netns'])
        peers = dict_elements(args['peers'], 'peers', PEER_KEYS, what='remote and subnet')
        spec = _vxlan.Spec(
            args['name'], state=args['state'], vni=args['vni'], port=args['port'], dev=args['dev'],
            local=args['local'], mtu=args['mtu'], learning=args['learning'], gbp=args['gbp'], mac=args['mac'],
            addresses=args['addresses'], master=args['master'], peers=peers,
            direct_routing=args['direct_routing'], purge_peers=args['purge_peers'], netns=args['netns'],
            tx_checksum_offload=args['tx_checksum_offload'])
        persist = _persist.Files(spec.name, args['persist'], args['persist_root'], netns=args['netns'])
        plan, after = _vxlan.run(spec, Netlink, check_mode=module.check_mode, ethtool=Ethtool, persist=persist)
    module.exit_json(**plan.changes.result(diff_mode=module._diff, persist=persist.result(),
                                           **_vxlan.public(plan, after)))


if __name__ == '__main__':
    main()
