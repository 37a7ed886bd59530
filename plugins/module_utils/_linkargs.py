# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Link arguments: the one check of each MTU, MAC address and address set a module takes.

cni_bridge, cni_vxlan and cni_netns (and the MAC addresses of a network
configuration, ``_cnispec``) check their link arguments here, before
anything is read or changed. Each check takes the name of what it checks
(``param``: ``mtu``, ``veth.addresses``, ``peers[3].vtep_mac``, ...) and
starts its message with it (``<param>: ...``); the error names the module
argument (``arg``, by default ``param``: ``peers`` for a peer's MAC).

``managed_addresses`` is the one view of a link's addresses the modules
compare: IPv6 link-local addresses (``LINK_LOCAL``) the kernel adds by
itself count only when listed.

Pure Python: no Ansible, no pyroute2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

MIN_MTU = 68          # the smallest MTU IPv4 allows on a link
MAX_MTU = 65535
LINK_LOCAL = ipaddress.ip_network(u'fe80::/64')
ZERO_MAC = '00:00:00:00:00:00'
_MAC = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z')
MAC_FORM = 'six hex octets, e.g. 02:42:ac:11:00:01'


def text(value):
    """``value`` as text (its repr when it has none)."""
    try:
        return u'%s' % (value,)
    except (TypeError, ValueError):  # pragma: no cover - defensive
        return repr(value)


def _fail(param, problem, arg):
    raise ParameterError(u'%s: %s' % (param, problem), param=arg or param)


# Numbers -------------------------------------------------------------------

def check_int(value, param, low, high, what, arg=None):
    """``value`` (an int, or the text of one) as an int from ``low`` to ``high``; else ParameterError.

    ``what`` says who takes the range (e.g. ``a UDP port``).
    """
    try:
        number = None if isinstance(value, bool) else int(text(value).strip())
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        _fail(param, '%r is out of range: %s takes %d to %d' % (value, what, low, high), arg)
    return number


def check_mtu(mtu, param='mtu', who='a link', arg=None):
    """None (not managed), or ``mtu``, an int from MIN_MTU to MAX_MTU that ``who`` takes; else ParameterError."""
    if mtu is None:
        return None
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not MIN_MTU <= mtu <= MAX_MTU:
        _fail(param, '%r is out of range: %s takes %d to %d' % (mtu, who, MIN_MTU, MAX_MTU), arg)
    return mtu


# MAC addresses -------------------------------------------------------------

def parse_mac(value):
    """The lower-case, colon-separated form of a MAC address (six hex octets, ``:`` or ``-`` between them),
    or None when ``value`` is none."""
    norm = text(value).lower().replace('-', ':')
    return norm if _MAC.match(norm) else None


def mac_problem(value, who=None):
    """Why ``value`` is no MAC address, or None. With ``who`` (what needs it, e.g. ``a bridge``) it must be a
    unicast one, not the zero address, too."""
    return _mac_problem(parse_mac(value), value, who)


def _mac_problem(norm, value, who):
    if norm is None:
        return '%r is not a MAC address (%s)' % (value, MAC_FORM)
    if who is not None and int(norm[:2], 16) & 1:
        return '%r is a multicast address: %s needs a unicast MAC' % (value, who)
    if who is not None and norm == ZERO_MAC:
        return '%r is the zero address: %s needs a unicast MAC' % (value, who)
    return None


def check_mac(mac, param='mac', who='a link', arg=None):
    """None (not managed), or the unicast MAC ``mac`` (surrounding blanks ignored), normalised; else
    ParameterError."""
    if mac is None:
        return None
    norm = parse_mac(text(mac).strip())
    problem = _mac_problem(norm, mac, who)
    if problem is not None:
        _fail(param, problem, arg)
    return norm


# Address sets --------------------------------------------------------------

def cidr_text(iface):
    """``address/prefix`` of an ``ipaddress`` interface, compressed."""
    return u'%s/%d' % (iface.ip.compressed, iface.network.prefixlen)


def split_cidr(cidr):
    """``(address, prefixlen)`` of an ``address/prefix`` text, as the netlink adapter's address calls take them."""
    iface = ipaddress.ip_interface(cidr)
    return iface.ip.compressed, iface.network.prefixlen


def by_address(cidr):
    """A sort key: IPv4 before IPv6, then by address and prefix (text order would put 10.99.0.2 first)."""
    iface = ipaddress.ip_interface(cidr)
    return (iface.version, iface)


def check_addresses(addresses, param='addresses', example='10.244.1.1/24', key=None, arg=None):
    """None (not managed), or the list of ``address/prefix`` texts: normalised, de-duplicated and sorted
    (by ``key``; text order by default). Each must be a unicast host address in CIDR form (``example``)."""
    if addresses is None:
        return None
    if isinstance(addresses, (str, bytes)) or not isinstance(addresses, (list, tuple)):
        _fail(param, 'a list of CIDR addresses, e.g. [%s]' % example, arg)
    out = set()
    for item in addresses:
        value = text(item).strip()
        if '/' not in value:
            _fail(param, '%r has no prefix length: write it in CIDR form, e.g. %s' % (item, example), arg)
        try:
            iface = ipaddress.ip_interface(value)
        except ValueError as exc:
            _fail(param, '%r is not a valid CIDR address (%s)' % (item, exc), arg)
        if iface.ip.is_multicast or iface.ip.is_unspecified:
            _fail(param, '%r is not a unicast host address' % (item,), arg)
        out.add(cidr_text(iface))
    return sorted(out, key=key)


def managed_addresses(addresses, wanted, index=None, key=None):
    """The addresses that count, as ``address/prefix`` texts sorted by ``key`` (text order by default).

    ``addresses``: the adapter's dicts (``address``, ``prefixlen``, ``index``),
    only those of link ``index`` when given. An IPv6 link-local address
    (fe80::/64, which the kernel adds by itself) counts only when ``wanted``
    lists it.
    """
    wanted = set(wanted or ())
    out = set()
    for a in addresses:
        if index is not None and a['index'] != index:
            continue
        iface = ipaddress.ip_interface(u'%s/%d' % (a['address'], a['prefixlen']))
        cidr = cidr_text(iface)
        if iface.version == 6 and iface.network.prefixlen == 64 and iface.ip in LINK_LOCAL and cidr not in wanted:
            continue
        out.add(cidr)
    return sorted(out, key=key)
