# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Core of cni_ipam_pool: sticky per-member subnet allocation. Pure Python: no Ansible.

A pool is one IPv4 and/or one IPv6 CIDR, cut into subnets of ``node_prefix``
bits. Every member of the pool holds one subnet per family. ``plan`` takes
the validated arguments (``Spec``) and the pool as recorded in the state file
and computes the new record:

- a member that holds a subnet keeps it, whatever the order of ``members``
  and whoever joins or leaves (sticky);
- ``claims`` (assignments that already exist, for example read back from the
  nodes) are honoured and recorded;
- members that are no longer listed keep their subnets (and are reported)
  unless ``purge`` releases them;
- new members, in the order of ``members``, get the lowest free subnets,
  outside ``reserved``.

Everything that would hand one subnet to two members, renumber a member, or
leave members outside a shrunk pool fails before anything is written, with
a message that names the parameter and what would be valid.

Subnets are handled as integer indexes into the pool (subnet = base + index
<< host bits), and free space is walked from the sorted allocations: nothing
is materialised per possible subnet, so a /8 with /24 per member (65,536
subnets) or an IPv6 /32 with /64 per member (4 billion) costs only what the
members cost.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import functools
import ipaddress
import json
import socket
import struct

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError, StateFileError
from ansible_collections.cni.node.plugins.module_utils._result import Changes

SCHEMA = 'cni.node/ipam-pool'
VERSION = 1
FAMILIES = ('ipv4', 'ipv6')
# Longest node_prefix per family that leaves room for the network address,
# the gateway, at least one address in the range and (IPv4) the broadcast.
MAX_NODE_PREFIX = {'ipv4': 30, 'ipv6': 126}
_BITS = {'ipv4': 32, 'ipv6': 128}
_U32 = struct.Struct('!I')
_SHOW = 3   # members named in a message before "and N more"
# What the result holds per member (return_members): everything, subnets without ranges, only the
# members with a new subnet, nothing.
RETURN_MEMBERS = ('all', 'subnets', 'changed', 'none')


def family_of(version):
    return 'ipv4' if version == 4 else 'ipv6'


def _fmt4(n):
    return socket.inet_ntoa(_U32.pack(n))


def _pack6(n):
    return n.to_bytes(16, 'big')


def _ntop6(packed):
    text = socket.inet_ntop(socket.AF_INET6, packed)
    if '.' in text:   # glibc prints ::ffff:a.b.c.d; keep ipaddress's spelling
        return str(ipaddress.IPv6Address(packed))
    return text


def _fmt6(n):
    return _ntop6(_pack6(n))


FORMAT = {'ipv4': _fmt4, 'ipv6': _fmt6}


# Bulk parsing and formatting, for the state file and the result: tens of
# thousands of subnets go through C-level map() over socket and struct
# functions instead of a Python call (or an ipaddress object) each.


def format_many(family, numbers):
    """The address texts of a list of integers: ``FORMAT[family]`` of each."""
    if family == 'ipv4':
        return list(map(socket.inet_ntoa, map(_U32.pack, numbers)))
    return list(map(_ntop6, map(_pack6, numbers)))


def parse_many(family, texts):
    """[(network integer, prefix)] of CIDR texts of ``family``, or None when one of them is not valid.

    The same rules as ``parse_subnet`` (canonical IPv4, no host bits set);
    on None the caller finds the culprit with ``parse_subnet``, for its
    message.
    """
    bits = _BITS[family]
    try:
        parts = [t.partition('/') for t in texts]
        addrs = [a for a, _s, _p in parts]
        plens = [p for _a, _s, p in parts]
        if family == 'ipv4':
            packed = list(map(socket.inet_aton, addrs))
            if list(map(socket.inet_ntoa, packed)) != addrs:
                return None
            numbers = list(struct.unpack('!%dI' % len(packed), b''.join(packed)))
        else:
            if not all(':' in a for a in addrs):
                return None
            pton6 = functools.partial(socket.inet_pton, socket.AF_INET6)
            numbers = [int.from_bytes(b, 'big') for b in map(pton6, addrs)]
        lengths = {}
        for text in set(plens):
            if not (text.isascii() and text.isdigit()) or int(text) > bits:
                return None
            lengths[text] = int(text)
    except (AttributeError, TypeError, ValueError, OSError):
        return None
    if len(lengths) == 1:
        prefix = list(lengths.values())[0]
        mask = (1 << (bits - prefix)) - 1
        if any(n & mask for n in numbers):
            return None
        return [(n, prefix) for n in numbers]
    prefixes = list(map(lengths.__getitem__, plens))
    if any(n & ((1 << (bits - p)) - 1) for n, p in zip(numbers, prefixes)):
        return None
    return list(zip(numbers, prefixes))


def ranges_many(family, numbers, prefix, texts):
    """Host-local range dicts (as ``_range``) of subnets of one size: the integers and their CIDR texts."""
    size = 1 << (_BITS[family] - prefix)
    last = size - (2 if family == 'ipv4' else 1)   # IPv4: the address before the broadcast
    gateways = format_many(family, [n + 1 for n in numbers])
    starts = format_many(family, [n + 2 for n in numbers])
    ends = format_many(family, [n + last for n in numbers])
    return [{'subnet': s, 'rangeStart': a, 'rangeEnd': b, 'gateway': g}
            for s, a, b, g in zip(texts, starts, ends, gateways)]


def _parse_addr(text):
    """(family, integer) of an address string; ValueError when it is none.

    IPv4 must be the canonical dotted quad (inet_aton alone would take
    ``10.1`` or octal ``010.0.0.0``).
    """
    try:
        if ':' in text:
            return 'ipv6', int.from_bytes(socket.inet_pton(socket.AF_INET6, text), 'big')
        packed = socket.inet_aton(text)
    except (OSError, UnicodeError):
        raise ValueError(text)
    if socket.inet_ntoa(packed) != text:
        raise ValueError(text)
    return 'ipv4', _U32.unpack(packed)[0]


def parse_subnet(text):
    """(family, network integer, prefix) of a CIDR with no host bits set; ValueError otherwise.

    Fast path for the state file (tens of thousands of entries); user input
    goes through ``ipaddress`` for its messages.
    """
    if not isinstance(text, str) or text.count('/') != 1:
        raise ValueError(text)
    addr, plen = text.split('/')
    family, n = _parse_addr(addr)
    if not plen.isdigit() or int(plen) > _BITS[family]:
        raise ValueError(text)
    prefix = int(plen)
    if n & ((1 << (_BITS[family] - prefix)) - 1):
        raise ValueError(text)
    return family, n, prefix


def host_local_range(subnet):
    """The host-local range of one subnet (a CIDR string or ip_network).

    ``gateway`` is the first usable address; the range starts right after
    it and ends at the last usable address (IPv4: before the broadcast), so
    the gateway is never handed to a container. Raises ValueError when the
    subnet is not a network address or too small.
    """
    net = subnet if isinstance(subnet, (ipaddress.IPv4Network, ipaddress.IPv6Network)) \
        else ipaddress.ip_network(str(subnet), strict=True)
    family = family_of(net.version)
    if net.prefixlen > MAX_NODE_PREFIX[family]:
        raise ValueError('%s is too small for a host-local range (at most /%d for %s: network, gateway and '
                         'at least one address%s)' % (net, MAX_NODE_PREFIX[family], family,
                                                      ', broadcast' if family == 'ipv4' else ''))
    return _range(family, int(net.network_address), net.prefixlen)


def _range(family, n, prefix, text=None):
    if family == 'ipv4' and prefix >= 24 and text is not None:
        # Fast path (tens of thousands of members): only the last octet differs.
        head, _sep, tail = text.partition('/')[0].rpartition('.')
        low = int(tail)
        return {'subnet': text, 'rangeStart': '%s.%d' % (head, low + 2),
                'rangeEnd': '%s.%d' % (head, low + (1 << (32 - prefix)) - 2), 'gateway': '%s.%d' % (head, low + 1)}
    fmt = FORMAT[family]
    last = n + (1 << (_BITS[family] - prefix)) - 1
    if family == 'ipv4':
        last -= 1   # the broadcast address
    return {'subnet': text or '%s/%d' % (fmt(n), prefix), 'rangeStart': fmt(n + 2), 'rangeEnd': fmt(last),
            'gateway': fmt(n + 1)}


class Pool(object):
    """One family of a pool: ``cidr`` cut into subnets of ``node_prefix`` bits."""

    def __init__(self, family, net, node_prefix):
        self.family = family
        self.net = net
        self.base = int(net.network_address)
        self.prefix = net.prefixlen
        self.node_prefix = node_prefix
        self.shift = _BITS[family] - node_prefix
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
        self.spans = dict((f, _merge(s)) for f, s in spans.items())

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


def _merge(spans):
    """Sorted, merged list of inclusive (first, last) intervals."""
    out = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _in_spans(spans, index):
    """The reserved span holding ``index``, or None (spans sorted and merged)."""
    i = bisect.bisect_right(spans, (index, float('inf'))) - 1
    if i >= 0 and spans[i][0] <= index <= spans[i][1]:
        return spans[i]
    return None


def free_indexes(size, taken, spans):
    """Free subnet indexes in ascending order, lazily.

    ``taken`` is a sorted list of allocated indexes, ``spans`` the sorted,
    merged reserved intervals; the walk goes through the gaps between them.
    """
    blocked = _merge([(i, i) for i in taken] + list(spans))
    nxt = 0
    for lo, hi in blocked:
        while nxt < lo:
            yield nxt
            nxt += 1
        nxt = max(nxt, hi + 1)
    while nxt < size:
        yield nxt
        nxt += 1


def _names(items):
    items = list(items)
    text = ', '.join(items[:_SHOW])
    if len(items) > _SHOW:
        text += ' and %d more' % (len(items) - _SHOW)
    return text


# ---------------------------------------------------------------- state file


class Document(dict):
    """The state file's content (a dict, as written) plus the parsed subnets of its pools.

    ``parsed(name)`` is {family: {member: (network integer, prefix)}},
    parsed once per run.
    """

    def __init__(self, *args, **kwargs):
        super(Document, self).__init__(*args, **kwargs)
        self._parsed = {}

    def parsed(self, name):
        if name not in self._parsed:
            pool = self['pools'].get(name)
            self._parsed[name] = _parse_members(pool['members'] if pool else {})
        return self._parsed[name]


def _parse_members(members, bad=None):
    """{family: {member: (n, prefix)}} of a pool record's members; ``bad(what)`` raises for a flaw.

    Validates every recorded subnet (shape, family, canonical text, no host
    bits, no subnet recorded twice) in bulk; only a file with a flaw goes
    through the slow, per-entry path that names it.
    """
    names = dict((f, []) for f in FAMILIES)
    texts = dict((f, []) for f in FAMILIES)
    for member, subnets in members.items():
        if subnets.__class__ is not dict or not subnets:
            return _parse_members_slowly(members, bad)
        for family, text in subnets.items():
            if family not in names:
                return _parse_members_slowly(members, bad)
            names[family].append(member)
            texts[family].append(text)
    out = {}
    for family in FAMILIES:
        if not names[family]:
            continue
        values = parse_many(family, texts[family])
        if values is None:
            return _parse_members_slowly(members, bad)
        out[family] = parsed = dict(zip(names[family], values))
        if len(set(values)) != len(parsed):
            return _parse_members_slowly(members, bad)
    return out


def _parse_members_slowly(members, bad):
    if bad is None:
        def bad(what):
            raise StateFileError('state file: %s' % what, param='path')
    out = dict((f, {}) for f in FAMILIES)
    seen = dict((f, {}) for f in FAMILIES)
    for member, subnets in members.items():
        if not isinstance(subnets, dict) or not subnets or set(subnets) - set(FAMILIES):
            bad('member %r: expected {"ipv4": subnet, "ipv6": subnet}' % member)
        for family, text in subnets.items():
            try:
                fam, n, prefix = parse_subnet(text)
            except ValueError:
                fam = None
            if fam != family:
                bad('member %r: %r is not an %s subnet' % (member, text, family))
            other = seen[family].setdefault((n, prefix), member)
            if other != member:
                bad('%s is recorded for both %s and %s' % (text, other, member))
            out[family][member] = (n, prefix)
    return dict((f, v) for f, v in out.items() if v)


def new_document():
    return Document(schema=SCHEMA, version=VERSION, pools={})


ADVICE = ('; the file was left as it is: restore it from a backup, or move it away and rebuild the '
          'assignments from claims (docs/ipam.md, "Lost state file")')


def load_document(text, path):
    """The parsed state file (a new, empty one when ``text`` is None).

    A file that is not what this collection writes fails with StateFileError
    and is left as it is: it is never reset, since that would renumber every
    member.
    """
    if text is None:
        return new_document()
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:   # RecursionError: nested too deeply
        raise StateFileError('path: %s is not valid JSON (%s)%s' % (path, exc, ADVICE), param='path')
    if not isinstance(doc, dict) or doc.get('schema') != SCHEMA:
        raise StateFileError('path: %s is not a cni.node IPAM state file (no "schema": "%s")%s'
                             % (path, SCHEMA, ADVICE), param='path')
    if doc.get('version') != VERSION:
        raise StateFileError('path: %s has schema version %r; this cni.node reads version %d: use the '
                             'cni.node release that wrote it (the file was left as it is)'
                             % (path, doc.get('version'), VERSION), param='path')
    pools = doc.get('pools')
    if not isinstance(pools, dict):
        raise StateFileError('path: %s has no "pools" object%s' % (path, ADVICE), param='path')
    doc = Document(doc)
    for name, pool in pools.items():
        _check_pool_record(doc, name, pool, path)
    return doc


def _check_pool_record(doc, name, pool, path):
    def bad(what):
        raise StateFileError('path: %s, pool %r: %s%s' % (path, name, what, ADVICE), param='path')
    if not isinstance(pool, dict):
        bad('not an object')
    for key, kind in (('cidr', list), ('node_prefix', dict), ('reserved', list), ('members', dict)):
        if not isinstance(pool.get(key), kind):
            bad('"%s" is missing or not a %s' % (key, kind.__name__))
    doc._parsed[name] = _parse_members(pool['members'], bad)   # pylint: disable=protected-access


_ENCODE = json.encoder.encode_basestring_ascii   # what json.dumps uses (ensure_ascii)


def render_document(doc):
    """The state file's text: JSON, one line per member (readable, diffable, fast to write)."""
    dumps = json.dumps
    head = dict((k, v) for k, v in doc.items() if k != 'pools')
    lines = ['{']
    for key in sorted(head):
        lines.append(' %s: %s,' % (dumps(key), dumps(head[key], sort_keys=True)))
    lines.append(' "pools": {')
    names = sorted(doc['pools'])
    for i, name in enumerate(names):
        pool = doc['pools'][name]
        lines.append('  %s: {' % dumps(name))
        for key in sorted(k for k in pool if k != 'members'):
            lines.append('   %s: %s,' % (dumps(key), dumps(pool[key], sort_keys=True)))
        members = pool['members']
        order = sorted(members)
        items = ['    %s: %s' % pair for pair in zip(map(_ENCODE, order), map(_member_json, map(members.get, order)))]
        lines.append('   "members": {' + ('\n' + ',\n'.join(items) + '\n   }' if items else '}'))
        lines.append('  }' + (',' if i < len(names) - 1 else ''))
    lines.append(' }')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def _member_json(subnets):
    """json.dumps(subnets, sort_keys=True) of one member's {family: subnet text}, without its overhead."""
    if isinstance(subnets, dict) and all(f in FAMILIES and isinstance(v, str) for f, v in subnets.items()):
        return '{%s}' % ', '.join('"%s": %s' % (f, _ENCODE(subnets[f])) for f in FAMILIES if f in subnets)
    return json.dumps(subnets, sort_keys=True)


# ---------------------------------------------------------------- plan


class Plan(object):
    """What a run changes and what it returns."""

    def __init__(self):
        self.changes = Changes()
        self.record = None      # the pool's new record (None: removed)
        self.write = False      # the state file changes
        self.members = {}       # listed members -> {subnets, ipv4, ipv6, ranges} (see Spec.return_members)
        self.unlisted = []      # kept, but not in members
        self.released = []      # members whose subnets this run releases
        self.allocated = []     # members that get a new subnet (in some family)
        self.totals = {}


def plan(spec, doc, path='state file'):
    """Compute the pool's new record from ``spec`` and the state document ``doc``.

    Raises ParameterError (conflicts, exhaustion, a pool shrinking under its
    members) before anything is written. Leaves ``doc`` unchanged; the
    caller writes ``apply(doc, plan)``.
    """
    p = Plan()
    old = doc['pools'].get(spec.name)
    if spec.state == 'absent':
        if old is not None:
            for member in sorted(old['members']):
                for family, text in sorted(old['members'][member].items()):
                    p.changes.add('member/%s/%s' % (member, family), text, None)
                p.released.append(member)
            p.changes.add('pool/%s' % spec.name, 'present', None)
            p.write = True
        return p

    old_members = old['members'] if old else {}
    parsed = doc.parsed(spec.name) if isinstance(doc, Document) else Document(doc).parsed(spec.name)
    _check_pool_change(spec, old, parsed, path)
    listed = set(spec.members)
    claimed = set()
    for family in spec.families:
        claimed.update(spec.claims[family])
    keep_unlisted = [] if spec.purge else sorted((set(old_members) | claimed) - listed)
    keep = spec.members + keep_unlisted
    released = sorted(set(old_members) - listed - set(keep_unlisted))

    fresh = {}      # member -> {family: new subnet text}
    networks = {}   # family -> {member: network integer} of the new subnets
    for family in spec.families:
        pool = spec.pools[family]
        added = _allocate(spec, family, parsed.get(family, {}), keep, path)
        networks[family] = new_numbers = {}
        if added:
            members, indexes = zip(*added)
            suffix = '/%d' % pool.node_prefix
            base, shift = pool.base, pool.shift
            numbers = [base + (i << shift) for i in indexes]
            for m, n, text in zip(members, numbers, format_many(family, numbers)):
                fresh.setdefault(m, {})[family] = text + suffix
                new_numbers[m] = n
    # A member without new subnets keeps its recorded dict (the same object).
    new_members = dict((m, old_members[m]) for m in keep if m not in fresh)
    for m, new in fresh.items():
        after = dict(old_members.get(m, ()))
        after.update(new)
        new_members[m] = dict((f, after[f]) for f in spec.families if f in after)

    record = {'cidr': [str(spec.nets[f]) for f in spec.families], 'node_prefix': dict(spec.node_prefix),
              'reserved': list(spec.reserved), 'members': new_members}
    if old is None:
        p.changes.add('pool/%s' % spec.name, None, 'present')
    else:
        for key in ('cidr', 'node_prefix', 'reserved'):
            p.changes.add('pool/%s/%s' % (spec.name, key), old[key], record[key])
    for m in released:
        for family, text in sorted(old_members[m].items()):
            p.changes.add('member/%s/%s' % (m, family), text, None)
    allocated = []
    empty = {}
    for m in keep:
        if m not in fresh:
            continue
        before = old_members.get(m, empty)
        after = new_members[m]
        for family in FAMILIES:
            if before.get(family) != after.get(family):
                p.changes.add('member/%s/%s' % (m, family), before.get(family), after.get(family))
                if family in after and m in listed:
                    allocated.append(m)
    p.record = record
    p.write = old != record
    p.released = released
    p.unlisted = keep_unlisted
    p.allocated = list(dict.fromkeys(allocated))
    if spec.return_members == 'changed':
        shown = p.allocated
    elif spec.return_members == 'none':
        shown = []
    else:
        shown = spec.members
    p.members = _member_views(spec, new_members, shown, parsed, networks, ranges=spec.return_members != 'subnets')
    p.totals = _totals(spec, new_members)
    return p


def _member_views(spec, new_members, names, parsed, networks, ranges=True):
    """What the module returns for each member of ``names``: subnets, per family, host-local ranges.

    Built column by column (one family at a time, addresses formatted in
    bulk): tens of thousands of members cost tens of milliseconds.
    """
    columns = []   # per family: (subnet texts, range dicts or None)
    for family in spec.families:
        texts = [new_members[m][family] for m in names]
        per = None
        if ranges:
            new, recorded = networks[family], parsed.get(family, {})
            numbers = [new[m] if m in new else recorded[m][0] for m in names]
            per = ranges_many(family, numbers, spec.pools[family].node_prefix, texts)
        columns.append((texts, per))
    if len(columns) == 1:
        family = spec.families[0]
        texts, per = columns[0]
        if per is None:
            return dict((m, {'subnets': [s], family: s}) for m, s in zip(names, texts))
        return dict((m, {'subnets': [s], family: s, 'ranges': [[r]]}) for m, s, r in zip(names, texts, per))
    (f1, f2), ((t1, r1), (t2, r2)) = spec.families, columns
    if r1 is None:
        return dict((m, {'subnets': [a, b], f1: a, f2: b}) for m, a, b in zip(names, t1, t2))
    return dict((m, {'subnets': [a, b], f1: a, f2: b, 'ranges': [[x], [y]]})
                for m, a, b, x, y in zip(names, t1, t2, r1, r2))


def _totals(spec, new_members):
    totals = {}
    for family in spec.families:
        pool = spec.pools[family]
        allocated = sum(1 for m in new_members.values() if family in m)
        reserved = sum(hi - lo + 1 for lo, hi in spec.spans[family])
        # No allocation lies in a reserved span (plan refuses that), so the
        # three counts add up to the pool's size.
        totals[family] = {'cidr': str(spec.nets[family]), 'node_prefix': pool.node_prefix, 'size': pool.size,
                          'allocated': allocated, 'reserved': reserved,
                          'free': pool.size - allocated - reserved}
    return totals


def _check_pool_change(spec, old, parsed, path):
    """Refuse a pool change that would renumber or orphan recorded members."""
    if old is None:
        return
    listed = set(spec.members)
    for family in FAMILIES:
        recorded = parsed.get(family)
        if not recorded:
            continue
        if spec.purge:   # members that stay: the listed ones
            recorded = dict((m, v) for m, v in recorded.items() if m in listed)
            if not recorded:
                continue
        if family not in spec.pools:
            raise ParameterError(
                'cidr: has no %s CIDR any more, but %d member(s) hold %s subnets in %s (%s): removing a family '
                'would orphan them; keep it in cidr, or release those members (purge=true without them)'
                % (family, len(recorded), family, path, _names(sorted(recorded))), param='cidr')
        pool = spec.pools[family]
        values = list(recorded.values())
        numbers = [n for n, _p in values]
        if all(p == pool.node_prefix for _n, p in values) \
                and min(numbers) >= pool.base and max(numbers) < pool.base + (pool.size << pool.shift):
            continue
        outside, resized = [], []
        for m in sorted(recorded):
            n, prefix = recorded[m]
            if prefix != pool.node_prefix:
                resized.append('%s %s' % (m, old['members'][m][family]))
            elif pool.index(n, prefix)[1]:
                outside.append('%s %s' % (m, old['members'][m][family]))
        if resized:
            raise ParameterError(
                'node_prefix: /%d for %s, but %d member(s) hold other subnet sizes in %s (%s): changing node_prefix '
                'would renumber them; keep node_prefix, or release them first (purge)'
                % (pool.node_prefix, family, len(resized), path, _names(resized)), param='node_prefix')
        if outside:
            raise ParameterError(
                'cidr: the %s pool %s no longer contains the subnets of %d member(s) (%s): shrinking or moving '
                'the pool would orphan them; keep a CIDR that contains them (it may grow), or release them first '
                '(purge)' % (family, pool.net, len(outside), _names(outside)), param='cidr')


def _allocate(spec, family, recorded, keep, path):
    """[(member, subnet index)] that ``family`` adds: claims not recorded yet, then new subnets.

    Recorded members (``recorded``: {member: (n, prefix)}, checked by
    _check_pool_change to lie in the pool) keep their subnets; conflicts
    fail here.
    """
    pool = spec.pools[family]
    spans = spec.spans[family]
    claims = spec.claims[family]
    base, shift = pool.base, pool.shift
    if spec.purge:
        keep_set = set(keep)
        recorded = dict((m, v) for m, v in recorded.items() if m in keep_set)
    current = dict(zip(recorded, [(n - base) >> shift for n, _p in recorded.values()]))
    by_index = dict(zip(current.values(), current))
    if len(by_index) != len(current):   # load_document refuses such a file; a defence for a hand-made doc
        seen = {}
        for m, index in current.items():
            other = seen.setdefault(index, m)
            if other != m:
                raise StateFileError('path: %s records %s for both %s and %s; fix the file by hand (it was left '
                                     'as it is)' % (path, pool.subnet(index), other, m), param='path')
    added = []
    if claims:
        keep_set = set(keep)
        for m in sorted(claims, key=lambda x: (x not in recorded, x)):
            if m not in keep_set:
                continue   # purged: the claim of a member that is no longer listed
            index = claims[m]
            mine = current.get(m)
            if mine is not None and mine != index:
                raise ParameterError(
                    'claims.%s: claims %s, but %s records %s for %s: a member is never renumbered; fix the claim '
                    '(or release the member with purge first)' % (m, pool.subnet(index), path, pool.subnet(mine), m),
                    param='claims')
            other = by_index.get(index)
            if other is not None and other != m:
                source = 'is recorded in %s for' % path if other in recorded else 'is claimed by'
                raise ParameterError('claims.%s: %s %s %s too: two members cannot share one subnet'
                                     % (m, pool.subnet(index), source, other), param='claims')
            if mine is None:
                by_index[index] = m
                current[m] = index
                added.append((m, index))
    taken = sorted(by_index)
    for span in spans:
        lo, hi = span
        i = bisect.bisect_left(taken, lo)
        if i < len(taken) and taken[i] <= hi:
            index = taken[i]
            m = by_index[index]
            if m in claims:
                raise ParameterError('claims.%s: %s overlaps reserved %s'
                                     % (m, pool.subnet(index), _span_text(pool, span)), param='claims')
            raise ParameterError('reserved: %s overlaps %s, which %s records for %s: reserve other addresses, '
                                 'or release the member first'
                                 % (_span_text(pool, span), pool.subnet(index), path, m), param='reserved')
    # Only listed members get new subnets; unlisted ones keep what they hold.
    need = [m for m in spec.members if m not in current]
    if need:
        reserved_count = sum(hi - lo + 1 for lo, hi in spans)
        free = pool.size - len(by_index) - reserved_count
        if len(need) > free:
            raise ParameterError(
                'members: the %s pool %s (%d subnets of /%d) is exhausted: %d new member(s) need a subnet (%s), '
                'only %d free (%d allocated, %d reserved); grow cidr, use a longer node_prefix, or release members '
                '(purge)' % (family, pool.net, pool.size, pool.node_prefix, len(need), _names(need), free,
                             len(by_index), reserved_count), param='members')
        if taken or spans:
            walk = free_indexes(pool.size, taken, spans)
            added.extend((m, next(walk)) for m in need)
        else:
            added.extend(zip(need, range(len(need))))
    return added


def _span_text(pool, span):
    lo, hi = span
    if lo == hi:
        return pool.subnet(lo)
    return '%s-%s' % (pool.subnet(lo), pool.subnet(hi))


def apply(doc, p, name):
    """The new state document after plan ``p`` (a new object; ``doc`` is kept)."""
    out = dict(doc)
    pools = dict(doc['pools'])
    if p.record is None:
        pools.pop(name, None)
    else:
        pools[name] = p.record
    out['pools'] = pools
    return out
