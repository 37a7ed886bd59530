# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Addresses and subnets of cni_ipam_pool as integers. Pure Python: no Ansible.

The lowest room of the IPAM core: parsing and formatting addresses and CIDRs
(one at a time and in bulk, for state files with tens of thousands of
entries) and the host-local range of a subnet. It knows nothing of pools,
members or state files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import ipaddress
import socket
import struct

FAMILIES = ('ipv4', 'ipv6')
# Longest node_prefix per family that leaves room for the network address,
# the gateway, at least one address in the range and (IPv4) the broadcast.
MAX_NODE_PREFIX = {'ipv4': 30, 'ipv6': 126}
BITS = {'ipv4': 32, 'ipv6': 128}
_U32 = struct.Struct('!I')


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
    bits = BITS[family]
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
    size = 1 << (BITS[family] - prefix)
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
    if not plen.isdigit() or int(plen) > BITS[family]:
        raise ValueError(text)
    prefix = int(plen)
    if n & ((1 << (BITS[family] - prefix)) - 1):
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
    last = n + (1 << (BITS[family] - prefix)) - 1
    if family == 'ipv4':
        last -= 1   # the broadcast address
    return {'subnet': text or '%s/%d' % (fmt(n), prefix), 'rangeStart': fmt(n + 2), 'rangeEnd': fmt(last),
            'gateway': fmt(n + 1)}
