# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Overlay arithmetic shared by cni_vxlan and the filters. Pure Python: no Ansible.

``vtep_mac`` is THE derivation of a VXLAN tunnel endpoint's MAC address
from its underlay address: cni_vxlan (``mac: auto``) and the
``cni.node.vtep_mac`` filter both call it, so a node and its peers always
agree on the MAC without exchanging it, and a node that is rebuilt with
the same underlay address gets the same MAC (no stale neighbour entries
on the peers).

Derivation (stable: changing it would break running overlays):

- IPv4 ``a.b.c.d`` -> ``0e:04:a:b:c:d`` (hexadecimal). One-to-one: two
  different IPv4 underlay addresses never share a MAC.
- IPv6 -> ``06:`` followed by the first 5 bytes of
  SHA-256(``b'cni.node/vtep/'`` + the 16 address bytes). 40 bits: among
  10,000 VTEPs the chance of any collision is below 5 in 100,000. An
  IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is treated as IPv4.

Both first bytes (0x0e, 0x06) have the locally-administered bit (0x02) set
and the multicast bit (0x01) clear, so the MACs are unicast and never
collide with vendor-assigned (universal) addresses; they differ from each
other, so an IPv4 and an IPv6 VTEP never share a MAC either. The prefixes
avoid those of Docker (02:42) and OVN-Kubernetes (0a:58).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._linkargs import MAX_MTU, MIN_MTU

# VXLAN encapsulation overhead: outer IP header + UDP (8) + VXLAN (8) +
# inner Ethernet (14).
VXLAN_OVERHEAD = {'ipv4': 50, 'ipv6': 70}
_V6_SALT = b'cni.node/vtep/'


def underlay_address(value, param='underlay address', where=None):
    """ip_address of ``value`` (an IPv4-mapped IPv6 address becomes IPv4); raises ParameterError.

    The error names ``param``; its message starts with ``where`` when that is
    more precise (``peers[3].remote``).
    """
    text = str(value).strip()
    if '/' in text:   # an interface address with its prefix, e.g. 192.0.2.10/24
        text = text.split('/', 1)[0]
    try:
        if '%' in text:   # a scoped IPv6 address (fe80::1%eth0): ipaddress takes it, the kernel's parser does not
            raise ValueError(text)
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ParameterError('%s: %r is not an IPv4 or IPv6 address' % (where or param, value), param=param)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr


def vtep_mac(underlay_ip):
    """The VTEP MAC (lower-case, colon-separated) for an underlay address, see the module docstring."""
    addr = underlay_address(underlay_ip)
    if addr.version == 4:
        raw = b'\x0e\x04' + addr.packed
    else:
        raw = b'\x06' + hashlib.sha256(_V6_SALT + addr.packed).digest()[:5]
    return ':'.join('%02x' % b for b in bytearray(raw))


def family_name(family, param='family'):
    """'ipv4' or 'ipv6' for 4/6, 'ipv4'/'ipv6'/'inet'/'inet6', or an address of that family."""
    text = str(family).strip().lower()
    if text in ('4', 'ipv4', 'inet', 'v4'):
        return 'ipv4'
    if text in ('6', 'ipv6', 'inet6', 'v6'):
        return 'ipv6'
    try:
        return 'ipv%d' % underlay_address(text, param).version
    except ParameterError:
        raise ParameterError('%s: %r is not valid: ipv4, ipv6 (or 4, 6), or an underlay address' % (param, family),
                             param=param)


def vxlan_mtu(underlay_mtu, family='ipv4'):
    """MTU of a VXLAN device over an underlay link of ``underlay_mtu``: minus 50 (IPv4) or 70 (IPv6)."""
    if isinstance(underlay_mtu, bool):
        underlay_mtu = None
    try:
        mtu = int(str(underlay_mtu).strip())
    except ValueError:
        raise ParameterError('underlay_mtu: %r is not an integer MTU' % (underlay_mtu,), param='underlay_mtu')
    fam = family_name(family)
    result = mtu - VXLAN_OVERHEAD[fam]
    if mtu > MAX_MTU or result < MIN_MTU:
        raise ParameterError('underlay_mtu: %d is not valid: between %d and %d for a VXLAN over %s (%d bytes of '
                             'encapsulation)' % (mtu, MIN_MTU + VXLAN_OVERHEAD[fam], MAX_MTU, fam,
                                                 VXLAN_OVERHEAD[fam]), param='underlay_mtu')
    return result
