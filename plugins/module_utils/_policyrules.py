# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The policies of one network compiled into one nftables table, and that table compared with the kernel's.

Pure Python: no Ansible, no subprocess (``_nft`` talks to the kernel). The
table is ``inet cni_node_<network>``; everything in it is the collection's.

**Sets** (all ``flags interval``, one per address family, suffix ``4``/``6``;
elements are merged intervals, listed as nft lists them: ``a``, ``a/len``
or ``a-b``):
``<policy>.sel4`` the attachments a policy selects; ``<policy>.i<k>.4`` /
``<policy>.e<k>.4`` the peers of its ingress/egress rule ``k`` (attachments
matching a ``pod_selector`` plus ``ip_block`` CIDRs minus their ``except``);
``_ingress4`` / ``_egress4`` every attachment isolated for that direction
(selected by any policy of that type). Policy names are DNS labels, so a
``.`` or a leading ``_`` never clashes with them.

**Chains**: ``forward`` (filter hook forward, priority 0, policy accept)::

    ct state established,related accept      # replies of allowed connections
    ip saddr @_egress4 jump egress           # the source is egress-isolated
    ip daddr @_ingress4 jump ingress         # the destination is ingress-isolated

``egress`` holds one rule per (policy, rule, family, port) that ``return`` s
(the connection goes on to the ingress check), then ``drop``; ``ingress``
the same rules ending in ``accept``, then ``drop``. So a connection passes
when its source is not egress-isolated or some egress rule of a policy
selecting the source allows it, and its destination is not
ingress-isolated or some ingress rule selecting the destination allows it:
Kubernetes' semantics (policies add up, a pod selected by none is open).
Bridged traffic between pods of one bridge reaches the inet forward hook
through br_netfilter; routed traffic (the overlay) reaches it anyway.

Every rule carries a comment ``cni-node:<owner>:<what>`` that names it
(``<owner>`` is the policy, or ``_node`` for the table's own rules): drift is
computed per rule and per set by comparing the desired model with the
kernel's listing (``nft -j list table``), element sets compared as
collapsed address ranges, rule expressions exactly as nft lists them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

from ansible_collections.cni.node.plugins.module_utils import _policyspec

FAMILY = 'inet'
PREFIX = 'cni_node_'
NODE = '_node'
_FAMILIES = (('ip', 4, 'ipv4_addr'), ('ip6', 6, 'ipv6_addr'))
BASE_CHAIN = dict(type='filter', hook='forward', prio=0, policy='accept')


def table_name(network):
    return PREFIX + network


# ---------------------------------------------------------------- expressions, as nft lists them

def _match(left, right, op='=='):
    return {'match': {'op': op, 'left': left, 'right': right}}


def _addr(family, field):
    return {'payload': {'protocol': family, 'field': field}}


def _port_exprs(port):
    proto = port['protocol'].lower()
    if port['port'] is None:
        return [_match({'meta': {'key': 'l4proto'}}, proto)]
    right = port['port'] if port['end_port'] is None else {'range': [port['port'], port['end_port']]}
    return [_match({'payload': {'protocol': proto, 'field': 'dport'}}, right)]


def _ips(pod, version):
    return [(int(ip), int(ip)) for ip in pod['ips'] if ip.version == version]


def _span(net):
    return int(net.network_address), int(net.broadcast_address)


_ADDRESS = {4: ipaddress.IPv4Address, 6: ipaddress.IPv6Address}


def _render(lo, hi, version):
    """One merged interval as nft lists it: an address, a prefix ``a/len`` or a range ``a-b``."""
    size = hi - lo + 1
    if size == 1:
        return str(_ADDRESS[version](lo))
    if size & (size - 1) == 0 and lo % size == 0:
        return '%s/%d' % (_ADDRESS[version](lo), (32 if version == 4 else 128) - (size.bit_length() - 1))
    return '%s-%s' % (_ADDRESS[version](lo), _ADDRESS[version](hi))


def _collapse(pairs, version):
    """Intervals (lo, hi) merged (overlapping and adjacent ones), rendered in order."""
    out, cur = [], None
    for lo, hi in sorted(pairs):
        if cur is not None and lo <= cur[1] + 1:
            cur[1] = max(cur[1], hi)
        else:
            if cur is not None:
                out.append(cur)
            cur = [lo, hi]
    if cur is not None:
        out.append(cur)
    return [_render(lo, hi, version) for lo, hi in out]


def _minus(parts, lo, hi):
    out = []
    for a, b in parts:
        if b < lo or a > hi:
            out.append((a, b))
            continue
        if a < lo:
            out.append((a, lo - 1))
        if b > hi:
            out.append((hi + 1, b))
    return out


def _peer_nets(peers, pods, version):
    nets = []
    for peer in peers:
        if 'pod_selector' in peer:
            for pod in pods:
                if _policyspec.matches(peer['pod_selector'], pod['labels']):
                    nets.extend(_ips(pod, version))
        else:
            block = ipaddress.ip_network(peer['ip_block']['cidr'])
            if block.version != version:
                continue
            parts = [_span(block)]
            for exc in peer['ip_block']['except']:
                parts = _minus(parts, *_span(ipaddress.ip_network(exc)))
            nets.extend(parts)
    return nets


# ---------------------------------------------------------------- the desired model

class Model(object):
    """A table's content: sets (name -> (type, [collapsed CIDRs])), chains (name -> base or None), rules."""

    def __init__(self):
        self.sets = {}
        self.chains = {}
        self.rules = {}        # chain -> [(comment, expr)]

    def add_rule(self, chain, owner, what, expr):
        self.rules.setdefault(chain, []).append(('cni-node:%s:%s' % (owner, what), expr))


def compile_policies(policies, pods):
    """The desired ``Model`` of one network's table; None when there are no policies.

    ``policies``: normalised documents (``_policyspec.normalise``), in any
    order; ``pods``: ``{id, labels, ips}`` per local attachment (ips as
    ``ipaddress`` addresses). A policy's ``remote_pods`` count as peers only.
    """
    if not policies:
        return None
    policies = sorted(policies, key=lambda p: p['name'])
    m = Model()
    m.chains = {'forward': dict(BASE_CHAIN), 'ingress': None, 'egress': None}
    isolated = {'Ingress': ([], []), 'Egress': ([], [])}
    for pol in policies:
        selected = [pod for pod in pods if _policyspec.matches(pol['pod_selector'], pod['labels'])]
        peers = pods + [dict(labels=r['labels'], ips=[ipaddress.ip_address(a) for a in r['ips']])
                        for r in pol.get('remote_pods') or []]
        for fam, version, settype in _FAMILIES:
            nets = [pair for pod in selected for pair in _ips(pod, version)]
            m.sets['%s.sel%d' % (pol['name'], version)] = (settype, _collapse(nets, version))
            for t in pol['policy_types']:
                isolated[t][version == 6].extend(nets)
        for t, chain, key, letter, verdict in (('Ingress', 'ingress', 'from', 'i', 'accept'),
                                               ('Egress', 'egress', 'to', 'e', 'return')):
            if t not in pol['policy_types']:
                continue
            own, peer = ('daddr', 'saddr') if t == 'Ingress' else ('saddr', 'daddr')
            for k, rule in enumerate(pol[chain]):
                for fam, version, settype in _FAMILIES:
                    base = [_match(_addr(fam, own), '@%s.sel%d' % (pol['name'], version))]
                    if rule[key]:
                        name = '%s.%s%d.%d' % (pol['name'], letter, k, version)
                        m.sets[name] = (settype, _collapse(_peer_nets(rule[key], peers, version), version))
                        base.append(_match(_addr(fam, peer), '@' + name))
                    for j, port in enumerate(rule['ports'] or [None]):
                        expr = base + (_port_exprs(port) if port else []) + [{verdict: None}]
                        what = '%s:%d:%s' % (chain, k, fam) + (':port%d' % j if port else '')
                        m.add_rule(chain, pol['name'], what, expr)
    for t, chain in (('Ingress', 'ingress'), ('Egress', 'egress')):
        for fam, version, settype in _FAMILIES:
            m.sets['_%s%d' % (chain, version)] = (settype, _collapse(isolated[t][version == 6], version))
    m.add_rule('forward', NODE, 'replies', [_match({'ct': {'key': 'state'}}, ['established', 'related'], 'in'),
                                            {'accept': None}])
    for chain, field in (('egress', 'saddr'), ('ingress', 'daddr')):
        for fam, version, settype in _FAMILIES:
            m.add_rule('forward', NODE, 'isolate-%s:%s' % (chain, fam),
                       [_match(_addr(fam, field), '@_%s%d' % (chain, version)), {'jump': {'target': chain}}])
        m.add_rule(chain, NODE, 'deny-%s' % chain, [{'drop': None}])
    return m


# ---------------------------------------------------------------- to nft's JSON, and back

def _element(text):
    if '/' in text:
        addr, length = text.split('/')
        return {'prefix': {'addr': addr, 'len': int(length)}}
    if '-' in text:
        return {'range': text.split('-')}
    return text


def commands(network, model, present):
    """The one transaction that makes the kernel's table ``model`` (None: no table); ``present``: it exists now."""
    table = table_name(network)
    ref = dict(family=FAMILY, name=table)
    if model is None:
        return [{'delete': {'table': ref}}] if present else []
    out = [{'add': {'table': ref}}, {'delete': {'table': ref}}, {'add': {'table': ref}}]
    for name in sorted(model.sets):
        settype, elements = model.sets[name]
        body = dict(family=FAMILY, table=table, name=name, type=settype, flags=['interval'])
        if elements:
            body['elem'] = [_element(e) for e in elements]
        out.append({'add': {'set': body}})
    for name in sorted(model.chains):
        body = dict(family=FAMILY, table=table, name=name)
        body.update(model.chains[name] or {})
        out.append({'add': {'chain': body}})
    for chain in ('forward', 'egress', 'ingress'):
        for comment, expr in model.rules.get(chain, []):
            out.append({'add': {'rule': dict(family=FAMILY, table=table, chain=chain, comment=comment, expr=expr)}})
    return out


def _listed_nets(elements):
    pairs = []
    for item in elements or []:
        if isinstance(item, dict) and 'elem' in item:
            item = item['elem'].get('val')
        if isinstance(item, str):
            pairs.append(_span(ipaddress.ip_network(item)))
        elif isinstance(item, dict) and 'prefix' in item:
            pairs.append(_span(ipaddress.ip_network('%s/%s' % (item['prefix']['addr'], item['prefix']['len']))))
        elif isinstance(item, dict) and 'range' in item:
            pairs.append(tuple(int(ipaddress.ip_address(a)) for a in item['range']))
    return pairs


def from_listing(listing):
    """The ``Model`` of what ``nft -j list table`` printed (its ``nftables`` list); None for no table."""
    if listing is None:
        return None
    m = Model()
    for item in listing:
        if 'set' in item:
            s = item['set']
            nets = _listed_nets(s.get('elem'))
            version = 6 if s.get('type') == 'ipv6_addr' else 4
            m.sets[s['name']] = (s.get('type'), _collapse(nets, version))
        elif 'chain' in item:
            c = item['chain']
            base = dict((k, c[k]) for k in ('type', 'hook', 'prio', 'policy') if k in c)
            m.chains[c['name']] = base or None
        elif 'rule' in item:
            r = item['rule']
            comment = r.get('comment') or 'handle %s' % r.get('handle')
            m.rules.setdefault(r['chain'], []).append((comment, r.get('expr')))
        elif 'map' in item or 'flowtable' in item or 'counter' in item or 'quota' in item:
            kind = [k for k in item if k != 'metainfo'][0]
            m.sets['%s %s' % (kind, item[kind].get('name'))] = (kind, [])
    return m


# ---------------------------------------------------------------- reading a rule, comparing models

def _text(node):
    if isinstance(node, dict) and len(node) == 1:
        (key, val), = node.items()
        if key == 'payload':
            return '%s %s' % (val.get('protocol'), val.get('field'))
        if key in ('meta', 'ct'):
            return '%s %s' % (key, val.get('key'))
        if key == 'range':
            return '%s-%s' % tuple(val)
        if key == 'set':
            return '{ %s }' % ', '.join(_text(v) for v in val)
    if isinstance(node, list):
        return ','.join(_text(v) for v in node)
    if isinstance(node, (str, int)):
        return str(node)
    return json.dumps(node, sort_keys=True)


def rule_text(expr):
    """A rule's expressions in nft's own notation (for drift and diff); JSON for what it does not know."""
    parts = []
    for e in expr or []:
        if 'match' in e:
            m = e['match']
            op = '' if m.get('op') in ('==', 'in') else m.get('op') + ' '
            parts.append('%s %s%s' % (_text(m.get('left')), op, _text(m.get('right'))))
        elif len(e) == 1 and list(e)[0] in ('accept', 'drop', 'return', 'continue'):
            parts.append(list(e)[0])
        elif 'jump' in e or 'goto' in e:
            verb = 'jump' if 'jump' in e else 'goto'
            parts.append('%s %s' % (verb, e[verb].get('target')))
        else:
            parts.append(json.dumps(e, sort_keys=True))
    return ' '.join(parts)


def _owner(name):
    """The policy a set or rule comment belongs to (``_node`` for the table's own)."""
    if name.startswith('cni-node:'):
        return name.split(':')[1]
    if name.startswith('_') or '.' not in name:
        return NODE
    return name.split('.', 1)[0]


def compare(network, desired, actual, changes):
    """Record in ``changes`` every difference between two models; True when there is any."""
    root = 'policy/%s' % network
    if desired is None and actual is None:
        return False
    if desired is None or actual is None:
        return changes.add('%s/table' % root, 'absent' if actual is None else 'present',
                           'absent' if desired is None else 'present', area='policy')
    before = len(changes.drift)
    for name in sorted(set(desired.sets) | set(actual.sets)):
        want, have = desired.sets.get(name), actual.sets.get(name)
        path = '%s/%s/set/%s' % (root, _owner(name), name)
        if want is not None and have is not None and want[0] != have[0]:
            changes.add(path + '/type', have[0], want[0], area='policy')
        changes.add(path, have[1] if have is not None else None, want[1] if want is not None else None,
                    area='policy')
    for name in sorted(set(desired.chains) | set(actual.chains)):
        if name not in actual.chains or name not in desired.chains or desired.chains[name] != actual.chains[name]:
            changes.add('%s/%s/chain/%s' % (root, NODE, name),
                        actual.chains.get(name, 'absent') if name in actual.chains else 'absent',
                        desired.chains.get(name) if name in desired.chains else 'absent', area='policy')
    for chain in sorted(set(desired.rules) | set(actual.rules)):
        want, have = desired.rules.get(chain, []), actual.rules.get(chain, [])
        if want == have:
            continue
        wmap, hmap = dict(want), dict(have)
        for comment in sorted(set(wmap) | set(hmap)):
            w, h = wmap.get(comment), hmap.get(comment)
            if w != h:
                what = comment.split(':', 2)[2] if comment.startswith('cni-node:') else '%s/%s' % (chain, comment)
                changes.add('%s/%s/rule/%s' % (root, _owner(comment) if comment.startswith('cni-node:') else
                                               '_unowned', what),
                            rule_text(h) if h is not None else None, rule_text(w) if w is not None else None,
                            area='policy')
        if len(want) == len(have) and set(wmap) == set(hmap) and all(wmap[c] == hmap[c] for c in wmap):
            changes.add('%s/%s/chain/%s/order' % (root, NODE, chain), [c for c, _e in have], [c for c, _e in want],
                        area='policy')
        elif len(have) != len(hmap) and len(changes.drift) == before:
            changes.add('%s/%s/chain/%s/rules' % (root, NODE, chain), [c for c, _e in have],
                        [c for c, _e in want], area='policy')
    return len(changes.drift) > before
