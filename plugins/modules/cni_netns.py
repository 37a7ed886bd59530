#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_netns
short_description: A named network namespace with its loopback and an optional veth pair
version_added: 0.1.0
description:
  - Creates, updates or removes a named network namespace, the kind C(ip netns list) shows - a bind mount of
    a namespace file on C(/run/netns/NAME), made exactly as iproute2 makes it (C(/run/netns) a shared mount
    point), with system calls, not the C(ip) command.
  - Keeps its loopback up (O(loopback)) and, with O(veth), one veth pair - one end inside the namespace with
    its MTU, exact set of addresses and exact set of routes, the other end (the peer) where the module acts
    (the node, or the namespace O(netns)), optionally attached to a bridge. Both ends are kept up.
  - All netlink requests go through pyroute2. Every argument is checked and the actual state is read before
    the first change. When a step fails, the run undoes what it did (a namespace or veth pair it created is
    removed) and the task fails naming the argument.
  - Check mode never creates the namespace; it reports exactly what a real run would change.
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
options:
  name:
    description:
      - Name of the namespace, a file name under C(/run/netns) (no C(/), whitespace or control characters;
        not C(.) or C(..)).
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the namespace and the veth pair.
      - V(absent) deletes the peer end of the veth pair (when O(veth) is given and the peer exists; the inside
        end goes with it), then unmounts (lazily, C(MNT_DETACH)) and unlinks C(/run/netns/NAME), as
        C(ip netns delete) does. The namespace itself ends when its last process or open file is gone.
    type: str
    choices: [present, absent]
    default: present
  loopback:
    description:
      - Whether the loopback device C(lo) inside the namespace is up (V(true)) or down (V(false)).
    type: bool
    default: true
  netns:
    description:
      - Where the peer end of the veth pair and the O(veth.master) bridge live - a network namespace given by
        name (C(/run/netns/NAME)) or by a path such as C(/proc/1234/ns/net). Left out, the node itself.
      - It must exist (it is never created) and cannot be the namespace O(name).
    type: str
  veth:
    description:
      - A veth pair with one end inside the namespace. Left out, no veth is managed.
      - When the two ends exist but are not each other's peer (for example after O(veth.peer) was renamed, or
        the inside end was replaced), both are deleted and the pair is made again; the drift says V(unpaired).
      - A link of another kind with either name is never touched; the task fails.
    type: dict
    suboptions:
      name:
        description:
          - Name of the end inside the namespace, for example C(eth0) (at most 15 bytes).
        type: str
        required: true
      peer:
        description:
          - Name of the other end, on the node or in O(netns) (at most 15 bytes).
        type: str
        required: true
      master:
        description:
          - A bridge for the peer end. It must exist where the peer lives. Not managed when left out.
        type: str
      mtu:
        description:
          - MTU of both ends, 68 to 65535. Not managed when left out (a new pair gets the kernel's default).
        type: int
      addresses:
        description:
          - The exact set of addresses of the inside end, in CIDR form (C(10.244.1.2/24), C(fd00:10::2/64)).
            Listed addresses are added, all others are removed, except IPv6 link-local addresses the kernel
            adds itself (C(fe80::/64)), which are ignored unless listed.
          - An empty list removes all addresses; left out, addresses are not managed.
        type: list
        elements: str
      routes:
        description:
          - The exact set of routes through the inside end (main table). Routes the kernel makes itself
            (C(proto kernel) for addresses, C(proto ra) from router advertisements) are not managed.
          - An empty list removes all managed routes; left out, routes are not managed.
          - Each element must be a dictionary. The collection checks the elements itself (hence C(elements=raw)), so a
            string in the list is refused with a message that names the element, for example C(veth.routes[0]).
        type: list
        elements: raw
        suboptions:
          dst:
            description:
              - Destination network in CIDR form (host bits clear), or V(default) (C(0.0.0.0/0); C(::/0) when
                O(veth.routes[].via) is an IPv6 address). Reported in CIDR form.
            type: str
            required: true
          via:
            description:
              - Gateway address, of the same family as O(veth.routes[].dst), reachable through the inside end
                (usually inside the subnet of one of its addresses). Left out, a route through the device.
            type: str
notes:
  - Runs on the managed node as root and needs pyroute2 (0.7.x, as packaged by Debian, or 0.9.x).
  - The kernel drops a link's IPv6 addresses and IPv4 routes when it goes down; after such drift the report
    lists them as well as C(up).
seealso:
  - module: cni.node.cni_bridge
    description: The bridge O(veth.master) names.
'''

EXAMPLES = r'''
- name: A pod namespace attached to the node's CNI bridge
  cni.node.cni_netns:
    name: pod-a
    veth:
      name: eth0
      peer: veth-pod-a
      master: cni0
      mtu: 1450
      addresses: [10.244.1.2/24]
      routes:
        - dst: default
          via: 10.244.1.1

- name: A pod namespace whose peer end is on a bridge inside a "node" namespace (a lab on one machine)
  cni.node.cni_netns:
    name: lab-node-a-pod
    netns: lab-node-a
    veth:
      name: eth0
      peer: vlab-a
      master: br0
      mtu: 1450
      addresses: [10.244.1.2/24, fd00:10:244:1::2/64]
      routes:
        - {dst: default, via: 10.244.1.1}
        - {dst: '::/0', via: 'fd00:10:244:1::1'}

- name: Report drift without changing anything
  cni.node.cni_netns:
    name: pod-a
    veth: {name: eth0, peer: veth-pod-a, master: cni0, mtu: 1450, addresses: [10.244.1.2/24]}
  check_mode: true
  register: pod_drift

- name: Remove the namespace and the peer end
  cni.node.cni_netns:
    name: pod-a
    state: absent
    veth: {name: eth0, peer: veth-pod-a}
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
    - Paths are C(netns/NAME) (V(absent), V(present), or V(stale) for a placeholder file left without its
      mount), C(netns/NAME/loopback), C(netns/NAME/veth) (V(absent), V(unpaired), V(present)),
      C(netns/NAME/veth/mtu), C(netns/NAME/veth/peer/mtu), C(netns/NAME/veth/master),
      C(netns/NAME/veth/addresses) (sorted lists), C(netns/NAME/veth/up), C(netns/NAME/veth/peer/up) and
      C(netns/NAME/veth/routes) (sorted lists of C({dst, via})).
    - A new namespace or pair reports its creation plus the master, addresses and routes it gets.
  returned: always
  type: list
  elements: dict
  sample:
    - path: netns/pod-a/veth/mtu
      before: 1500
      after: 1450
    - path: netns/pod-a/veth/routes
      before: []
      after: [{dst: 0.0.0.0/0, via: 10.244.1.1}]
diff:
  description: Before and after of the differing values.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: netns
      after_header: netns
      before: {pod-a/veth/mtu: 1500}
      after: {pod-a/veth/mtu: 1450}
namespace:
  description:
    - The namespace after the run (in check mode, as it is now), or null when it does not exist.
    - C(veth) is null when O(veth) is not given or the pair does not exist.
  returned: always
  type: dict
  sample:
    name: pod-a
    path: /run/netns/pod-a
    loopback: true
    veth:
      name: eth0
      peer: veth-pod-a
      mtu: 1450
      peer_mtu: 1450
      master: cni0
      up: true
      peer_up: true
      addresses: [10.244.1.2/24]
      routes: [{dst: 0.0.0.0/0, via: 10.244.1.1}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _edge, _namedns
from ansible_collections.cni.node.plugins.module_utils._params import dict_elements, netns_value
from ansible_collections.cni.node.plugins.module_utils._netlink import Netlink

ROUTE_KEYS = dict(dst=dict(type='str', required=True), via=dict(type='str'))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            loopback=dict(type='bool', default=True),
            netns=dict(type='str'),
            veth=dict(type='dict', options=dict(
                name=dict(type='str', required=True),
                peer=dict(type='str', required=True),
                master=dict(type='str'),
                mtu=dict(type='int'),
                addresses=dict(type='list', elements='str'),
                routes=dict(type='list', elements='raw'),
            )),
        ),
        supports_check_mode=True,
    )
    args = module.params
    with _edge.edge(module, 'cni_netns'):
        netns_value(args['netns'])
        veth = args['veth']
        if veth is not None:
            veth = dict(veth, routes=dict_elements(veth['routes'], 'veth', ROUTE_KEYS, where='veth.routes'))
        spec = _namedns.Spec(args['name'], state=args['state'], loopback=args['loopback'], veth=veth,
                             netns=args['netns'])
        plan, after = _namedns.run(spec, Netlink, check_mode=module.check_mode)
    module.exit_json(**plan.changes.result(diff_mode=module._diff, namespace=_namedns.public(spec, after)))


if __name__ == '__main__':
    main()
