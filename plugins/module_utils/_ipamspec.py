# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The arguments of cni_ipam_pool, validated and normalised. Pure Python: no Ansible.

``Spec`` turns the module's arguments into what the allocator works on: per
family a ``Pool`` (the CIDR cut into subnets of ``node_prefix`` bits, each
known by its integer index), the members in order, the reserved addresses
as sorted, merged spans of subnet indexes, and the claims as subnet indexes.
Every refusal names the parameter and what would be valid.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._ipamaddr import (
    BITS,
    FAMILIES,
    FORMAT,
    MAX_NODE_PREFIX,
    family_of,
)

# What the result holds per member (return_members): everything, subnets without ranges, only the
# members with a new subnet, nothing.
RETURN_MEMBERS = ('all', 'subnets', 'changed', 'none')


class Pool(object):
    """One family of a pool: ``cidr`` cut into subnets of ``node_prefix`` bits."""

    def __init__(self, family, net, node_prefix):
        self.family = family
        self.net = net
        self.base = int(net.network_address)
        self.prefix = net.prefixlen
        self.node_prefix = node_prefix
        self.shift = BITS[family] - node_prefix
        self.size = 1 << (node_prefix - net.prefixlen)
        self.fmt = FORMAT[family]

    def subnet(self, index):
        return '%s/%d' % (self.fmt(self.base + (index << self.shift)), self.node_prefix)

    def index(self, n, prefix):
        """Index of the subnet (n, prefix), or a reason why it is not one of this pool's subnets."""
        if prefix != self.node_prefix:
            return None, 'is a /%d, the pool hands out /%d subnets (node_prefix)' % (prefix, self.node_prefix)
        offset = n - self.base
        if offset < 0 or (offset >> self.shift) >= self.size:
            return None, 'lies outside the pool %s' % self.net
        return offset >> self.shift, None

    def span(self, lo, hi):
        """Indexes [first, last] of the subnets that addresses lo..hi touch, or None."""
        last_addr = self.base + (self.size << self.shift) - 1
        lo, hi = max(lo, self.base), min(hi, last_addr)
        if lo > hi:
            return None
        return (lo - self.base) >> self.shift, (hi - self.base) >> self.shift


class Spec(object):
    """Validated, normalised arguments of cni_ipam_pool."""

    def __init__(self, name, cidr=None, node_prefix=None, members=None, reserved=None, claims=None,
                 purge=False, state='present', return_members='all'):
        if state not in ('present', 'absent'):
            raise ParameterError('state: %r is not valid (present or absent)' % (state,), param='state')
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ParameterError('name: %r is not valid: a non-empty pool name without surrounding spaces'
                                 % (name,), param='name')
        if return_members not in RETURN_MEMBERS:
            raise ParameterError('return_members: %r is not valid (%s)' % (return_members, ', '.join(RETURN_MEMBERS)),
                                 param='return_members')
        self.name = name
        self.state = state
        self.return_members = return_members
        self.purge = bool(purge)
        self.pools = {}
        self.members = []
        self.reserved = []     # normalised text, for the record
        self.spans = {}        # family -> sorted [(first, last)] reserved subnet indexes
        self.claims = {}       # family -> {member: subnet index}
        if state == 'absent':
            return
        self._cidr(cidr)
        self._node_prefix(node_prefix)
        self._members(members)
        self._reserved(reserved or [])
        self._claims(claims or {})

    def _cidr(self, cidr):
        if cidr is None or cidr == [] or cidr == '':
            raise ParameterError('cidr: required with state=present: one CIDR, or one IPv4 and one IPv6 CIDR '
                                 '(dual-stack)', param='cidr')
        items = cidr if isinstance(cidr, list) else [c for c in str(cidr).split(',') if c.strip()]
        nets = {}
        for item in items:
            try:
                net = ipaddress.ip_network(str(item).strip(), strict=True)
            except ValueError as exc:
                hint = ''
                try:
                    hint = '; did you mean %s?' % ipaddress.ip_network(str(item).strip(), strict=False)
                except ValueError:
                    pass
                raise ParameterError('cidr: %r is not a network in CIDR notation (%s)%s' % (item, exc, hint),
                                     param='cidr')
            family = family_of(net.version)
            if family in nets:
                raise ParameterError('cidr: %s and %s are both %s: give at most one CIDR per family'
                                     % (nets[family], net, family), param='cidr')
            nets[family] = net
        self.nets = dict((f, nets[f]) for f in FAMILIES if f in nets)
        self.families = list(self.nets)

    def _node_prefix(self, node_prefix):
        if node_prefix is None:
            raise ParameterError('node_prefix: required with state=present: the prefix length of each '
                                 "member's subnet, e.g. 24 (or {ipv4: 24, ipv6: 64} for dual-stack)",
                                 param='node_prefix')
        if isinstance(node_prefix, dict):
            unknown = sorted(set(node_prefix) - set(FAMILIES))
            if unknown:
                raise ParameterError('node_prefix: unknown key(s) %s: the keys are ipv4 and ipv6'
                                     % ', '.join(map(str, unknown)), param='node_prefix')
            per = dict(node_prefix)
        else:
            per = dict((f, node_prefix) for f in self.families)
        for family in self.families:
            if family not in per:
                raise ParameterError('node_prefix: no %s prefix length, but cidr has %s' % (family, self.nets[family]),
                                     param='node_prefix')
            value = per[family]
            digits = isinstance(value, str) and value.isascii() and value.isdigit()   # int() refuses '\u00b2'
            if isinstance(value, bool) or not (isinstance(value, int) or digits) or (digits and len(value) > 9):
                raise ParameterError('node_prefix: %r is not a prefix length (an integer)' % (value,),
                                     param='node_prefix')
            value = int(value)
            net = self.nets[family]
            if not net.prefixlen <= value <= MAX_NODE_PREFIX[family]:
                raise ParameterError(
                    'node_prefix: /%d is not valid for the %s pool %s: between /%d (the pool itself) and /%d '
                    '(network, gateway, one address%s)%s'
                    % (value, family, net, net.prefixlen, MAX_NODE_PREFIX[family],
                       ', broadcast' if family == 'ipv4' else '',
                       '; with dual-stack give one per family, e.g. {ipv4: 24, ipv6: 64}'
                       if len(self.families) > 1 and not isinstance(node_prefix, dict) else ''),
                    param='node_prefix')
            self.pools[family] = Pool(family, net, value)
        self.node_prefix = dict((f, self.pools[f].node_prefix) for f in self.families)

    def _members(self, members):
        if members is None:
            members = []
        if not isinstance(members, list):
            raise ParameterError('members: expected a list of member names, got %s' % type(members).__name__,
                                 param='members')
        if not all(map(_valid_member_name, members)) or len(set(members)) != len(members):
            seen = set()   # the slow way, for the message
            for m in members:
                _check_member_name(m, 'members')
                if m in seen:
                    raise ParameterError('members: %r is listed twice' % m, param='members')
                seen.add(m)
        self.members = list(members)

    def _reserved(self, reserved):
        if not isinstance(reserved, list):
            reserved = [reserved]
        spans = dict((f, []) for f in self.families)
        for item in reserved:
            text = str(item).strip()
            try:
                if '-' in text:
                    lo_text, hi_text = [t.strip() for t in text.split('-', 1)]
                    lo, hi = ipaddress.ip_address(lo_text), ipaddress.ip_address(hi_text)
                    if lo.version != hi.version or lo > hi:
                        raise ValueError('the range must go from a lower to a higher address of one family')
                    norm = '%s-%s' % (lo, hi)
                elif '/' in text:
                    net = ipaddress.ip_network(text, strict=False)
                    lo, hi = net.network_address, net.broadcast_address
                    norm = str(net)
                else:
                    lo = hi = ipaddress.ip_address(text)
                    norm = str(lo)
            except ValueError as exc:
                raise ParameterError('reserved: %r is not valid (%s): give a CIDR (10.0.0.0/24), an address '
                                     '(10.0.0.1) or a range (10.0.0.1-10.0.0.9)' % (item, exc), param='reserved')
            self.reserved.append(norm)
            family = family_of(lo.version)
            if family in self.pools:
                span = self.pools[family].span(int(lo), int(hi))
                if span:
                    spans[family].append(span)
        self.spans = dict((f, merge(s)) for f, s in spans.items())

    def _claims(self, claims):
        if not isinstance(claims, dict):
            raise ParameterError('claims: expected a dictionary of member name: subnet (or a list of subnets, '
                                 'one per family), got %s' % type(claims).__name__, param='claims')
        self.claims = dict((f, {}) for f in self.families)
        for member, value in claims.items():
            _check_member_name(member, 'claims')
            if value is None or value == '' or value == []:
                continue   # a node that records no assignment yet
            if isinstance(value, dict):
                unknown = sorted(set(value) - set(FAMILIES))
                if unknown:
                    raise ParameterError('claims.%s: unknown key(s) %s: the keys are ipv4 and ipv6'
                                         % (member, ', '.join(map(str, unknown))), param='claims')
                for key, item in value.items():
                    if item and (':' in str(item)) != (key == 'ipv6'):
                        raise ParameterError('claims.%s.%s: %r is not an %s subnet' % (member, key, item, key),
                                             param='claims')
                items = [v for v in value.values() if v]
            elif isinstance(value, list):
                items = value
            else:
                items = [value]
            for item in items:
                try:
                    net = ipaddress.ip_network(str(item).strip(), strict=True)
                except ValueError as exc:
                    raise ParameterError('claims.%s: %r is not a subnet in CIDR notation (%s)' % (member, item, exc),
                                         param='claims')
                family = family_of(net.version)
                if family not in self.pools:
                    raise ParameterError('claims.%s: %s is %s, but the pool has no %s CIDR (cidr: %s)'
                                         % (member, net, family, family, ', '.join(map(str, self.nets.values()))),
                                         param='claims')
                if member in self.claims[family]:
                    raise ParameterError('claims.%s: two %s subnets (%s and %s): a member holds one per family'
                                         % (member, family, self.pools[family].subnet(self.claims[family][member]), net),
                                         param='claims')
                pool = self.pools[family]
                index, why = pool.index(int(net.network_address), net.prefixlen)
                if why:
                    raise ParameterError('claims.%s: %s %s' % (member, net, why), param='claims')
                self.claims[family][member] = index


def _valid_member_name(name):
    return isinstance(name, str) and name != '' and name == name.strip() and '/' not in name


def _check_member_name(name, param):
    if not _valid_member_name(name):
        raise ParameterError('%s: %r is not a valid member name (a non-empty name, no surrounding spaces, no "/")'
                             % (param, name), param=param)


def merge(spans):
    """Sorted, merged list of inclusive (first, last) intervals."""
    out = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out
