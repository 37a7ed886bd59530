# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_policy's arguments: a Kubernetes NetworkPolicy, checked and normalised. Pure Python: no Ansible.

The shape is Kubernetes' NetworkPolicySpec with snake_case keys:

- ``pod_selector``: ``match_labels`` (a dict) and ``match_expressions``
  (``{key, operator: In|NotIn|Exists|DoesNotExist, values}``); empty selects
  every attachment of the network. ``matches`` is the selector's meaning.
- ``policy_types``: ``Ingress``, ``Egress``. Defaulted as Kubernetes does:
  ``Ingress`` always, ``Egress`` when ``egress`` has at least one rule.
- ``ingress``: rules ``{from: [peer], ports: [port]}``; ``egress``: rules
  ``{to: [peer], ports: [port]}``. A peer is ``{pod_selector}`` (attachments
  of the same network) or ``{ip_block: {cidr, except}}``; an empty or
  missing ``from``/``to`` is everyone, empty or missing ``ports`` every port.
  A port is ``{protocol: TCP|UDP|SCTP (default TCP), port, end_port}``.
- ``remote_pods`` (beyond Kubernetes' shape): attachments of the network on
  other nodes, ``{labels, ips}``, which a peer's ``pod_selector`` matches as
  well (a node's cache knows only its own attachments); never selected by
  the policy's own ``pod_selector``. Stored with the policy.

Refused, each with the parameter path named (``ingress[0].from[1].ip_block.cidr``):
named ports (there are no pod specs to resolve them), ``namespace_selector``
(a CNI node has no namespaces: label the attachments instead), a peer with
both a selector and an ip_block, a CIDR with host bits set, an ``except``
outside its ``cidr``, ports outside 1-65535, ``end_port`` without ``port``
or below it, rules of a type ``policy_types`` leaves out, unknown keys.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.cni.node.plugins.module_utils import _labels
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

TYPES = ('Ingress', 'Egress')
OPERATORS = ('In', 'NotIn', 'Exists', 'DoesNotExist')
PROTOCOLS = ('TCP', 'UDP', 'SCTP')
NAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z')
VERSION = 1


def _fail(param, path, msg):
    raise ParameterError('%s: %s' % (path, msg), param=param)


def _only(param, path, value, allowed, refuse=None):
    if not isinstance(value, dict):
        _fail(param, path, 'must be a dict with the keys %s, not %r' % (', '.join(allowed), value))
    for key in value:
        if refuse and key in refuse:
            _fail(param, '%s.%s' % (path, key), refuse[key])
        if key not in allowed:
            _fail(param, path, 'unknown key %r (valid: %s)' % (key, ', '.join(allowed)))


def check_name(name):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ParameterError('name %r: 1-63 lowercase letters, digits and "-", starting and ending with a letter '
                             'or digit (a DNS label, as Kubernetes names policies)' % (name,), param='name')
    return name


# ---------------------------------------------------------------- selectors

def check_selector(value, param, path):
    """``{match_labels, match_expressions}`` normalised (keys sorted, values sorted); None -> select all."""
    if value is None:
        value = {}
    _only(param, path, value, ('match_labels', 'match_expressions'))
    labels = _labels.check_labels(value.get('match_labels') or {}, param, '%s.match_labels' % path)
    exprs = []
    raw = value.get('match_expressions') or []
    if not isinstance(raw, list):
        _fail(param, '%s.match_expressions' % path, 'must be a list of {key, operator, values}')
    for i, expr in enumerate(raw):
        where = '%s.match_expressions[%d]' % (path, i)
        _only(param, where, expr, ('key', 'operator', 'values'))
        key = expr.get('key')
        fault = _labels.key_fault(key)
        if fault:
            _fail(param, '%s.key' % where, 'label key %r: %s (a key is %s)' % (key, fault, _labels.KEY_RULE))
        op = expr.get('operator')
        if op not in OPERATORS:
            _fail(param, '%s.operator' % where, 'unknown operator %r (valid: %s)' % (op, ', '.join(OPERATORS)))
        values = expr.get('values')
        if op in ('In', 'NotIn'):
            if not isinstance(values, list) or not values:
                _fail(param, '%s.values' % where, 'operator %s needs a non-empty list of values' % op)
            values = sorted(set(_labels.check_value(key, v, param, '%s.values' % where) for v in values))
        else:
            if values not in (None, []):
                _fail(param, '%s.values' % where, 'operator %s takes no values' % op)
            values = []
        exprs.append(dict(key=key, operator=op, values=values))
    exprs.sort(key=lambda e: (e['key'], e['operator'], e['values']))
    return dict(match_labels=labels, match_expressions=exprs)


def matches(selector, labels):
    """Whether attachment ``labels`` (a dict) satisfy a normalised selector (Kubernetes' LabelSelector)."""
    labels = labels or {}
    for key, value in selector['match_labels'].items():
        if labels.get(key) != value:
            return False
    for expr in selector['match_expressions']:
        key, op = expr['key'], expr['operator']
        if op == 'In' and labels.get(key) not in expr['values']:
            return False
        if op == 'NotIn' and key in labels and labels[key] in expr['values']:
            return False
        if op == 'Exists' and key not in labels:
            return False
        if op == 'DoesNotExist' and key in labels:
            return False
    return True


# ---------------------------------------------------------------- peers and ports

def _network(param, path, value):
    if not isinstance(value, str) or '/' not in value:
        _fail(param, path, 'must be a CIDR with its prefix length, such as 10.0.0.0/8, not %r' % (value,))
    try:
        return ipaddress.ip_network(value.strip())
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        _fail(param, path, '%r is not a CIDR (address/prefix length, e.g. 10.0.0.0/8)' % value)
    _fail(param, path, '%r has host bits set (did you mean %s?)' % (value, loose))


def check_ip_block(value, param, path):
    _only(param, path, value, ('cidr', 'except'))
    if 'cidr' not in value:
        _fail(param, '%s.cidr' % path, 'is required')
    cidr = _network(param, '%s.cidr' % path, value['cidr'])
    excepts = value.get('except') or []
    if not isinstance(excepts, list):
        _fail(param, '%s.except' % path, 'must be a list of CIDRs')
    out = []
    for i, item in enumerate(excepts):
        where = '%s.except[%d]' % (path, i)
        net = _network(param, where, item)
        if net.version != cidr.version or not net.subnet_of(cidr):
            _fail(param, where, '%s is not inside cidr %s' % (net, cidr))
        out.append(str(net))
    return dict(cidr=str(cidr), **{'except': sorted(set(out))})


NAMESPACE_REFUSAL = ('namespace_selector is not supported: a CNI node has no Kubernetes namespaces. Give the '
                     'attachments a label (cni_attachment labels, e.g. namespace: team-a) and select it with '
                     'pod_selector')


def check_peer(value, param, path):
    _only(param, path, value, ('pod_selector', 'ip_block'), refuse={'namespace_selector': NAMESPACE_REFUSAL})
    kinds = [k for k in ('pod_selector', 'ip_block') if k in value]
    if len(kinds) != 1:
        _fail(param, path, 'a peer is exactly one of pod_selector or ip_block (got %s)'
              % (' and '.join(kinds) if kinds else 'neither'))
    if kinds[0] == 'pod_selector':
        return dict(pod_selector=check_selector(value['pod_selector'], param, '%s.pod_selector' % path))
    return dict(ip_block=check_ip_block(value['ip_block'], param, '%s.ip_block' % path))


def _port_number(param, path, value):
    if isinstance(value, bool):
        _fail(param, path, 'must be a port number 1-65535, not %r' % (value,))
    if isinstance(value, str):
        if not value.strip().isdigit():
            _fail(param, path, 'named port %r is not supported: there are no pod specs to resolve it; give the '
                               'number (1-65535)' % value)
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= 65535:
        _fail(param, path, 'must be a port number 1-65535, not %r' % (value,))
    return value


def check_port(value, param, path):
    _only(param, path, value, ('protocol', 'port', 'end_port'))
    proto = value.get('protocol') if value.get('protocol') is not None else 'TCP'
    if not isinstance(proto, str) or proto.upper() not in PROTOCOLS:
        _fail(param, '%s.protocol' % path, 'unknown protocol %r (valid: %s)' % (proto, ', '.join(PROTOCOLS)))
    port = value.get('port')
    end = value.get('end_port')
    if port is not None:
        port = _port_number(param, '%s.port' % path, port)
    if end is not None:
        if port is None:
            _fail(param, '%s.end_port' % path, 'needs port (the start of the range)')
        if isinstance(end, str) and not end.strip().isdigit():
            _fail(param, '%s.end_port' % path, 'must be a port number, not %r' % end)
        end = _port_number(param, '%s.end_port' % path, end)
        if end < port:
            _fail(param, '%s.end_port' % path, '%d is below port %d' % (end, port))
        if end == port:
            end = None
    return dict(protocol=proto.upper(), port=port, end_port=end)


def check_rules(value, param, peer_key):
    """A list of ingress (``from``) or egress (``to``) rules, normalised; None stays None."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ParameterError('%s must be a list of rules {%s, ports}' % (param, peer_key), param=param)
    out = []
    for i, rule in enumerate(value):
        where = '%s[%d]' % (param, i)
        if rule is None:
            rule = {}
        _only(param, where, rule, (peer_key, 'ports'))
        peers = rule.get(peer_key) or []
        ports = rule.get('ports') or []
        if not isinstance(peers, list):
            _fail(param, '%s.%s' % (where, peer_key), 'must be a list of peers')
        if not isinstance(ports, list):
            _fail(param, '%s.ports' % where, 'must be a list of {protocol, port, end_port}')
        out.append({peer_key: [check_peer(p, param, '%s.%s[%d]' % (where, peer_key, j)) for j, p in enumerate(peers)],
                    'ports': [check_port(p, param, '%s.ports[%d]' % (where, j)) for j, p in enumerate(ports)]})
    return out


def check_remote_pods(value):
    """``remote_pods`` normalised: ``[{labels, ips}]``, ips as text, sorted; None -> []."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParameterError('remote_pods must be a list of {labels, ips}', param='remote_pods')
    out = []
    for i, item in enumerate(value):
        where = 'remote_pods[%d]' % i
        # cni_info's attachment items are taken as they are (their other keys are ignored)
        _only('remote_pods', where, item, ('labels', 'ips', 'container_id', 'ifname', 'netns', 'live'))
        labels = _labels.check_labels(item.get('labels') or {}, 'remote_pods', '%s.labels' % where)
        ips = item.get('ips') or []
        if not isinstance(ips, list):
            _fail('remote_pods', '%s.ips' % where, 'must be a list of addresses')
        addrs = []
        for j, ip in enumerate(ips):
            try:
                addrs.append(str(ipaddress.ip_interface(ip).ip))
            except (ValueError, TypeError):
                _fail('remote_pods', '%s.ips[%d]' % (where, j), '%r is not an IP address' % (ip,))
        out.append(dict(labels=labels, ips=sorted(set(addrs))))
    out.sort(key=lambda p: (p['ips'], sorted(p['labels'].items())))
    return out


# ---------------------------------------------------------------- the policy

def normalise(params):
    """The policy document cni_policy stores and compiles, from the module's parameters."""
    name = check_name(params.get('name'))
    ingress = check_rules(params.get('ingress'), 'ingress', 'from')
    egress = check_rules(params.get('egress'), 'egress', 'to')
    types = params.get('policy_types')
    if types is None:
        types = ['Ingress'] + (['Egress'] if egress else [])
    else:
        if not isinstance(types, list) or not types:
            raise ParameterError('policy_types: a non-empty list of %s' % ' and '.join(TYPES), param='policy_types')
        for t in types:
            if t not in TYPES:
                raise ParameterError('policy_types: unknown type %r (valid: %s)' % (t, ', '.join(TYPES)),
                                     param='policy_types')
        types = [t for t in TYPES if t in types]
        for t, rules in (('Ingress', ingress), ('Egress', egress)):
            if rules and t not in types:
                raise ParameterError('%s rules are given but policy_types %s leaves %s out: they would never apply '
                                     '(add %s or drop the rules)' % (t.lower(), types, t, t), param='policy_types')
    return dict(version=VERSION, name=name, network=params.get('network'),
                pod_selector=check_selector(params.get('pod_selector'), 'pod_selector', 'pod_selector'),
                policy_types=types,
                ingress=(ingress or []) if 'Ingress' in types else [],
                egress=(egress or []) if 'Egress' in types else [],
                remote_pods=check_remote_pods(params.get('remote_pods')))


def from_document(doc, path):
    """A stored policy document read back; ParameterError naming ``cache_dir`` when it is not one."""
    if not isinstance(doc, dict) or doc.get('version') != VERSION:
        raise ParameterError('%s is not a cni_policy document of version %d' % (path, VERSION), param='cache_dir')
    try:
        return normalise(dict(name=doc.get('name'), network=doc.get('network'), pod_selector=doc.get('pod_selector'),
                              policy_types=doc.get('policy_types'), ingress=doc.get('ingress'),
                              egress=doc.get('egress'), remote_pods=doc.get('remote_pods')))
    except ParameterError as exc:
        raise ParameterError('%s: stored policy is invalid: %s' % (path, exc.msg), param='cache_dir')
