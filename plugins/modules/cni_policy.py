#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_policy
short_description: Kubernetes NetworkPolicy semantics for the attachments of a CNI network, enforced with nftables
version_added: 0.2.0
description:
  - One network policy per task, in the shape of Kubernetes' C(NetworkPolicySpec), over the attachments of one CNI
    network (made by M(cni.node.cni_attachment) or any libcni runtime, selected by the labels cni_attachment
    records). No Kubernetes API is needed.
  - 'Semantics are Kubernetes'': policies add up (allow lists); an attachment selected by any policy of a type
    (C(Ingress), C(Egress)) is isolated for that type and gets only what some policy selecting it allows; one
    selected by none is open; an empty rule list denies all; an empty or missing C(from)/C(to) is everyone,
    empty or missing C(ports) every port; replies of allowed connections pass (conntrack).'
  - 'Enforced in one nftables table per network owned by the collection, C(inet cni_node_<network>): sets of the
    attachments'' addresses per selector, a C(forward) chain, an C(ingress) and an C(egress) chain. Every change
    replaces the whole table in one atomic transaction (C(nft -j -f -)), so no packet meets a half-applied policy.
    No other table is read or changed: iptables-nft rules of docker, portmap and the firewall plugin keep working.'
  - The policy is stored as C(<cache_dir>/cni-node-policies/<network>/<name>.json); each run recompiles the
    table from every policy stored for the network and the network's live cached attachments. An attachment
    made after the last run is not in the sets - it is open until the next run of any policy task of its network
    (so run the policy tasks after the attachments).
  - Drift is exact - each set and rule of the table is compared with the kernel's listing
    (C(policy/<network>/<policy>/set/<set>), C(policy/<network>/<policy>/rule/<rule>),
    C(policy/<network>/_node/...) for the table's own chains and rules, C(policy/<network>/table)); check mode
    reports it, the real run repairs it.
  - Traffic between attachments on one bridge reaches the forward hook only through br_netfilter; for a network
    with a C(bridge) plugin the module fails, naming O(network), unless C(net.bridge.bridge-nf-call-iptables)
    (and C(-ip6tables) with IPv6 attachments) is 1 where the module runs. Traffic of the node itself to its
    attachments (the output and input hooks) is not filtered, as in Kubernetes.
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
options:
  name:
    description: The policy's name - a DNS label (1-63 lowercase letters, digits and C(-)).
    type: str
    required: true
  network:
    description:
      - The CNI network whose attachments the policy governs; with O(state=present) it must exist in O(conf_dir).
        Its name is part of the table's (C(cni_node_<network>)).
    type: str
    required: true
  pod_selector:
    description:
      - Which attachments the policy applies to, by their labels - C(match_labels) (a dict) and
        C(match_expressions) (a list of C(key), C(operator) one of C(In), C(NotIn), C(Exists), C(DoesNotExist),
        and C(values), needed by C(In)/C(NotIn), refused by the others). Omitted or empty - every attachment of
        the network.
    type: dict
  policy_types:
    description:
      - The directions the policy isolates. Omitted - C(Ingress), plus C(Egress) when O(egress) has a rule
        (Kubernetes' default). Rules of a type left out are refused (they would never apply).
    type: list
    elements: str
    choices: [Ingress, Egress]
  ingress:
    description:
      - Allowed incoming connections, a list of rules C({from, ports}). C(from) - a list of peers, each
        C({pod_selector}) (attachments of the same network) or C({ip_block {cidr, except}}) (C(except) - CIDRs
        inside C(cidr)). C(ports) - a list of C({protocol, port, end_port}); C(protocol) C(TCP) (default),
        C(UDP) or C(SCTP); C(port) 1-65535 (omitted - every port of the protocol); C(end_port) the end of a
        range (not below C(port)).
      - Refused with the path of the value named (for example C(ingress[0].from[1].ip_block.cidr)) - named
        ports (no pod specs to resolve them), C(namespace_selector) (a CNI node has no namespaces - label the
        attachments instead), a peer with both or neither of C(pod_selector) and C(ip_block), CIDRs with host
        bits set, unknown keys.
      - Omitted or V([]) with C(Ingress) in O(policy_types) - every incoming connection is denied.
    type: list
    elements: dict
  egress:
    description:
      - Allowed outgoing connections, a list of rules C({to, ports}), peers and ports as in O(ingress).
      - Omitted or V([]) with C(Egress) in O(policy_types) - every outgoing connection is denied.
    type: list
    elements: dict
  remote_pods:
    description:
      - Attachments of the same network on other nodes, each C({labels, ips}) - a node's cache knows only its
        own attachments, so for a peer's C(pod_selector) to match pods across the overlay, give them here (role
        cni.node.policy fills it from M(cni.node.cni_info) of every node of the play). They are peers only, never
        selected by O(pod_selector). Stored with the policy. Not part of Kubernetes' shape.
    type: list
    elements: dict
  conf_dir:
    description: Directory of network configuration files, where O(network) is looked up.
    type: path
    default: /etc/cni/net.d
  cache_dir:
    description: libcni's cache directory - the attachments are read from it, the policies stored below it.
    type: path
    default: /var/lib/cni
  state:
    description:
      - V(present) - the policy is stored and enforced. V(absent) - it is removed; the last policy of a network
        removed deletes the network's table.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Runs on the node as root, in the network namespace where the network's bridge is (the node's own). Needs
    C(nft) (nftables).
  - Established connections are not cut when a policy starts to deny them (conntrack keeps accepting their
    packets until they end); new connections follow the policy at once.
seealso:
  - module: cni.node.cni_attachment
  - name: The policy guide
    description: The supported subset, the truth table the tests prove and the differences from Kubernetes.
    link: https://example.invalid/cni.node/docs/policy.md
  - name: Kubernetes network policies
    description: The semantics this module follows.
    link: https://kubernetes.io/docs/concepts/services-networking/network-policies/
'''

EXAMPLES = r'''
- name: Only the frontends may reach the api pods, on TCP 8080-8090
  cni.node.cni_policy:
    name: api-from-frontend
    network: podnet
    pod_selector:
      match_labels: {app: api}
    ingress:
      - from:
          - pod_selector: {match_labels: {role: frontend}}
        ports:
          - {protocol: TCP, port: 8080, end_port: 8090}

- name: Default deny of incoming connections for every pod of the network
  cni.node.cni_policy:
    name: default-deny
    network: podnet
    policy_types: [Ingress]

- name: Workers may only resolve names (UDP 53) and reach 10.0.0.0/8 except 10.9.0.0/16
  cni.node.cni_policy:
    name: workers-egress
    network: podnet
    pod_selector:
      match_expressions:
        - {key: tier, operator: In, values: [worker, batch]}
    egress:
      - ports: [{protocol: UDP, port: 53}]
      - to:
          - ip_block: {cidr: 10.0.0.0/8, except: [10.9.0.0/16]}

- name: Remove a policy
  cni.node.cni_policy:
    name: default-deny
    network: podnet
    state: absent
'''

RETURN = r'''
changed:
  description: Whether the table or the stored policy changed (in check mode, would change).
  returned: always
  type: bool
drift:
  description:
    - One item per difference. C(policy/<network>/<name>/spec) - the stored policy (before, after);
      C(policy/<network>/<owner>/set/<set>) - a set's elements (collapsed CIDRs);
      C(policy/<network>/<owner>/rule/<rule>) - a rule, in nft's notation; C(policy/<network>/_node/chain/<chain>)
      - a chain; C(policy/<network>/_unowned/rule/...) - a rule not made by the collection;
      C(policy/<network>/table) - the whole table (absent, present). C(<owner>) is the policy, or C(_node).
  returned: always
  type: list
  elements: dict
  sample:
    - path: policy/podnet/api-from-frontend/rule/ingress:0:ip:port0
      before: ip daddr @api-from-frontend.sel4 ip saddr @api-from-frontend.i0.4 tcp dport 8080-8099 accept
      after: ip daddr @api-from-frontend.sel4 ip saddr @api-from-frontend.i0.4 tcp dport 8080-8090 accept
diff:
  description: Before and after of each drift item.
  returned: when diff mode is on
  type: list
  elements: dict
table:
  description: The network's nftables table (family and name).
  returned: always
  type: str
  sample: inet cni_node_podnet
policies:
  description: The policies of the network after the run, by name.
  returned: always
  type: list
  elements: str
  sample: [api-from-frontend, default-deny]
selected:
  description: The live attachments this policy selects, as C(<container_id>/<ifname>) (empty when absent).
  returned: always
  type: list
  elements: str
  sample: [api-1/eth0, api-2/eth0]
counts:
  description: Size of the network's desired table - C(sets), C(elements) (CIDRs in all sets), C(rules).
  returned: always
  type: dict
  sample: {sets: 12, elements: 9, rules: 15}
transactions:
  description: nft transactions run (0 or 1; 0 in check mode).
  returned: always
  type: int
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _edge, _policy


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            network=dict(type='str', required=True),
            pod_selector=dict(type='dict'),
            policy_types=dict(type='list', elements='str', choices=['Ingress', 'Egress']),
            ingress=dict(type='list', elements='dict'),
            egress=dict(type='list', elements='dict'),
            remote_pods=dict(type='list', elements='dict'),
            conf_dir=dict(type='path', default='/etc/cni/net.d'),
            cache_dir=dict(type='path', default='/var/lib/cni'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        supports_check_mode=True,
    )
    with _edge.edge(module, 'cni_policy'):
        outcome = _policy.reconcile(module.params, check_mode=module.check_mode)
    module.exit_json(**outcome.changes.result(
        diff_mode=module._diff, table=outcome.table, policies=outcome.policies, selected=outcome.selected,
        counts=outcome.counts, transactions=outcome.transactions))


if __name__ == '__main__':
    main()
