# -*- coding: utf-8 -*-
"""Property tests (hypothesis) of the MAC and address parsers and the cni.node filters.

Each parser of a MAC, an address, a CIDR, a route, a peer or an MTU takes
any value and gives a normalised result or a ParameterError naming its
argument (AnsibleFilterError for a filter); never another exception.
Normalised results are stable (normalising them again changes nothing) and
are what the next layer can use: MACs encode to six bytes for netlink,
addresses are text the kernel's address parser (inet_pton) reads, the
filters' host-local ranges pass the conflist validation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import socket

from ansible.errors import AnsibleFilterError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.cni.node.plugins.filter.cni_node import FilterModule
from ansible_collections.cni.node.plugins.module_utils import (
    _cnispec,
    _linkargs,
    _namedns,
    _overlay,
    _rtnl,
    _vxlan,
    _vxlanpeers,
)
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError


# The checks as cni_bridge and cni_netns call them (plugins/module_utils/_bridge.py, _namedns.py).
def _bridge_mac(mac):
    return _linkargs.check_mac(mac, 'mac', 'a bridge')


def _bridge_addresses(addresses):
    return _linkargs.check_addresses(addresses, 'addresses', '10.244.1.1/24')


def _veth_addresses(addresses):
    return _linkargs.check_addresses(addresses, 'veth.addresses', '10.244.1.2/24', key=_linkargs.by_address)


settings.register_profile('cni-node-properties', derandomize=True, deadline=None, database=None,
                          max_examples=200, suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile('cni-node-properties')

FILTERS = FilterModule().filters()
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=24)
HEX = st.text(st.sampled_from('0123456789abcdefABCDEF'), min_size=1, max_size=3)
MACS = st.one_of(
    st.lists(HEX, min_size=5, max_size=7).flatmap(lambda parts: st.sampled_from([':', '-', '.', '']).map(
        lambda sep: sep.join(parts))),
    st.binary(min_size=6, max_size=6).map(lambda b: ':'.join('%02x' % x for x in bytearray(b))),
    st.sampled_from(['00:00:00:00:00:00', '01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '02:42:AC:11:00:01',
                     ' 02-42-ac-11-00-01 ', '02:42:ac:11:00:01\n', '02:42:ac:11:00:0\u0661', '0x:42:ac:11:00:01',
                     '02:42:ac:11:00:01:', 'auto', '', '\uff10\uff12:42:ac:11:00:01']),
    ANY_TEXT, st.integers(), st.none(), st.binary(max_size=8), st.lists(st.integers(0, 255), max_size=6),
)
V4 = st.integers(0, 2 ** 32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
V6 = st.integers(0, 2 ** 128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
# Scoped IPv6 addresses (fe80::1%eth0): Python's ipaddress takes them, the kernel's address parser does not.
SCOPED = st.tuples(V6 | st.just('fe80::1'), st.text(st.sampled_from('eth0%/:'), min_size=1, max_size=4),
                   st.sampled_from(['', '/64', '/128'])).map(lambda t: '%s%%%s%s' % t)
ADDRESS_TEXT = st.one_of(
    V4, V6, SCOPED, st.tuples(V4, st.integers(0, 33)).map(lambda t: '%s/%d' % t),
    st.tuples(V6, st.integers(0, 129)).map(lambda t: '%s/%d' % t),
    st.sampled_from(['10.0.0.1/255.255.255.0', '10.0.0.1/0.0.0.255', '10.0.0.01/24', '10.1/16', '010.0.0.1/8',
                     'fe80::1%eth0/64', 'fe80::1%eth0', 'fd00::1/64%x', '::ffff:10.0.0.1/120', ' 10.0.0.1/24 ',
                     '10.0.0.1/24/8', '10.0.0.1/\u0662\u0664', '10.0.0.1/+24', '10.0.0.1/ 24', '224.0.0.1/4',
                     '0.0.0.0/0', '::/0', 'default', '10.0.0.0/8', 'FD00::0001/64', '\u0661\u0660.0.0.1/8']),
    ANY_TEXT,
)
ANY = st.one_of(ADDRESS_TEXT, MACS, st.integers(), st.floats(), st.booleans(), st.none(),
                st.lists(ADDRESS_TEXT, max_size=3), st.dictionaries(ANY_TEXT, ADDRESS_TEXT, max_size=2))


REFUSED = object()


def _outcome(check, param, *args):
    """``check(*args)``, or REFUSED when it raises a ParameterError that names ``param`` and starts with it."""
    try:
        return check(*args)
    except ParameterError as exc:
        assert exc.param == param and exc.msg.startswith(param), (param, exc.param, exc.msg)
        return REFUSED


def _kernel_reads(address):
    """The address text as the netlink adapter hands it to the kernel: inet_pton must read it."""
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    socket.inet_pton(family, address)


def _kernel_reads_cidr(cidr):
    address, _sep, plen = cidr.partition('/')
    _kernel_reads(address)
    assert plen.isascii() and plen.isdigit() and int(plen) <= (128 if ':' in address else 32), cidr


# MACs ---------------------------------------------------------------------------------------------------------


@settings(PROFILE, max_examples=300)
@given(MACS)
def test_bridge_mac_is_normalised_unicast_or_refused_by_name(mac):
    norm = _outcome(_bridge_mac, 'mac', mac)
    if norm is REFUSED or mac is None:
        assert norm in (REFUSED, None)
        return
    assert re.match(r'\A[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z', norm), norm
    raw = _rtnl._mac(norm)   # pylint: disable=protected-access
    assert len(raw) == 6 and not raw[0] & 1 and raw != b'\0' * 6
    assert _rtnl._mac_text(raw) == norm   # pylint: disable=protected-access
    assert _bridge_mac(norm) == norm
    _cnispec._mac(norm, 'plugins[0].mac')   # pylint: disable=protected-access


@PROFILE
@given(MACS.filter(lambda v: not isinstance(v, bytes)))   # a conflist holds JSON values
def test_conflist_mac_is_six_hex_pairs_or_refused_with_its_path(mac):
    try:
        _cnispec._mac(mac, 'plugins[0].mac')   # pylint: disable=protected-access
    except _cnispec.ConfigError as exc:
        assert exc.msg.startswith('plugins[0].mac: '), exc.msg
        return
    assert re.match(r'\A[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}\Z', mac), mac


@PROFILE
@given(ANY)
def test_vtep_mac_of_any_underlay_address(value):
    try:
        mac = _overlay.vtep_mac(value)
    except ParameterError as exc:
        assert exc.param == 'underlay address', exc.msg
        try:
            FILTERS['vtep_mac'](value)
        except AnsibleFilterError as fexc:
            assert 'cni.node.vtep_mac: ' in str(fexc)
        else:
            raise AssertionError('filter took %r' % (value,))
        return
    assert FILTERS['vtep_mac'](value) == mac
    assert _bridge_mac(mac) == mac
    first = int(mac[:2], 16)
    assert first & 0x02 and not first & 0x01, mac   # locally administered, unicast
    addr = _overlay.underlay_address(value)
    assert _overlay.vtep_mac(str(addr)) == mac
    if addr.version == 4:
        assert mac == '0e:04:' + ':'.join('%02x' % b for b in bytearray(addr.packed))


# Addresses ----------------------------------------------------------------------------------------------------


@settings(PROFILE, max_examples=300)
@given(st.lists(ADDRESS_TEXT | st.integers() | st.none(), max_size=4))
def test_link_addresses_are_kernel_cidrs_or_refused_by_name(addresses):
    for check, param in ((_bridge_addresses, 'addresses'), (_veth_addresses, 'veth.addresses')):
        out = _outcome(check, param, addresses)
        if out is REFUSED:
            continue
        assert len(set(out)) == len(out) and len(out) <= len(addresses)
        for cidr in out:
            _kernel_reads_cidr(cidr)
            iface = ipaddress.ip_interface(cidr)
            assert not iface.ip.is_multicast and not iface.ip.is_unspecified
        assert check(out) == out


@PROFILE
@given(ANY)
def test_veth_addresses_of_any_shape(value):
    _outcome(_veth_addresses, 'veth.addresses', value)


ROUTES = st.lists(st.one_of(
    st.fixed_dictionaries({'dst': ADDRESS_TEXT}, optional={'via': ADDRESS_TEXT | st.none()}),
    st.dictionaries(st.sampled_from(['dst', 'via', 'metric']), ANY, max_size=3),
    ANY,
), max_size=4)


@settings(PROFILE, max_examples=300)
@given(ROUTES | ANY)
@example([{'dst': 'fd00::/64', 'via': 'fe80::1%eth0'}])   # once accepted, then refused by the kernel's parser
def test_veth_routes_are_kernel_routes_or_refused_by_name(routes):
    out = _outcome(_namedns.check_routes, 'veth.routes', routes)
    if out is REFUSED or routes is None:
        assert out in (REFUSED, None)
        return
    for route in out:
        assert set(route) == {'dst', 'via'}
        _kernel_reads_cidr(route['dst'])
        net = ipaddress.ip_network(route['dst'])
        if route['via'] is not None:
            _kernel_reads(route['via'])
            assert ipaddress.ip_address(route['via']).version == net.version
    assert _namedns.check_routes(out) == out


@PROFILE
@given(ANY, st.sampled_from(['local', 'peers[0].remote']))
@example('fe80::1%eth0', 'local')   # found: accepted, then refused by inet_pton in the netlink encoder
def test_underlay_address_of_any_value(value, param):
    addr = _outcome(_overlay.underlay_address, param, value, param)
    if addr is REFUSED:
        return
    _kernel_reads(str(addr))
    assert addr.version == 4 or addr.ipv4_mapped is None
    assert _overlay.underlay_address(str(addr)) == addr


@PROFILE
@given(st.lists(ANY, max_size=4) | ANY)
@example(['fe80::1%eth0/64', '192.0.2.1'])   # found: gave 'fe80::1%eth0'
def test_first_address_filter(candidates):
    got = FILTERS['first_address'](candidates)
    assert isinstance(got, str)
    if got:
        _kernel_reads(got)
        assert FILTERS['first_address'](got) == got
        assert got == _overlay.underlay_address(got).compressed


@PROFILE
@given(ANY | st.integers(-100, 70000).map(str), ANY | st.sampled_from(['ipv4', 'ipv6', 4, 6, 'inet6', 'fd00::1']))
def test_vxlan_mtu_of_any_values(underlay_mtu, family):
    try:
        mtu = _overlay.vxlan_mtu(underlay_mtu, family)
    except ParameterError as exc:
        assert exc.param in ('underlay_mtu', 'family') and exc.msg.startswith(exc.param + ': '), exc.msg
        try:
            FILTERS['vxlan_mtu'](underlay_mtu, family)
        except AnsibleFilterError as fexc:
            assert 'cni.node.vxlan_mtu: ' in str(fexc)
        else:
            raise AssertionError('filter took %r' % ((underlay_mtu, family),))
        return
    assert _overlay.MIN_MTU <= mtu <= _overlay.MAX_MTU - 50
    assert FILTERS['vxlan_mtu'](underlay_mtu, family) == mtu


@settings(PROFILE, max_examples=300)
@given(st.lists(ADDRESS_TEXT, min_size=1, max_size=3) | ADDRESS_TEXT | ANY)
def test_host_local_ranges_filter_gives_what_the_conflist_check_takes(subnets):
    try:
        ranges = FILTERS['host_local_ranges'](subnets)
    except AnsibleFilterError as exc:
        assert 'cni.node.host_local_ranges: ' in str(exc)
        return
    conf = {'cniVersion': '1.0.0', 'name': 'n',
            'plugins': [{'type': 'bridge', 'ipam': {'type': 'host-local', 'ranges': ranges}}]}
    try:
        norm = _cnispec.normalise_list(conf)
    except _cnispec.ConfigError as exc:
        # Overlapping subnets given twice are the caller's to avoid; every single range is valid.
        assert 'overlaps' in exc.msg, exc.msg
        for rset in ranges:
            alone = {'type': 'bridge', 'ipam': {'type': 'host-local', 'ranges': [rset]}}
            _cnispec.normalise_list(dict(conf, plugins=[alone]))
        return
    assert norm['plugins'][0]['ipam']['ranges'] == ranges   # already canonical


# VXLAN peers --------------------------------------------------------------------------------------------------

PEER = st.one_of(
    st.fixed_dictionaries({'remote': ADDRESS_TEXT}, optional={'subnet': ADDRESS_TEXT, 'vtep_mac': MACS}),
    st.dictionaries(st.sampled_from(['remote', 'subnet', 'vtep_mac', 'mac']), ANY, max_size=3),
    ANY,
)


@settings(PROFILE, max_examples=300)
@given(st.lists(PEER, max_size=4) | ANY, st.sampled_from(['192.0.2.1', 'fd00::1']), st.booleans())
def test_vxlan_peers_of_any_shape(peers, local, l2_mode):
    check = _vxlanpeers.check_peers
    out = _outcome(check, 'peers', peers, ipaddress.ip_address(local), l2_mode)
    if out is REFUSED or peers is None:
        assert out in (REFUSED, None)
        return
    assert len(out) == len(peers)
    assert len(set(p.remote for p in out)) == len(out)
    for peer in out:
        _kernel_reads(str(peer.remote))
        assert peer.remote.version == ipaddress.ip_address(local).version
        assert _bridge_mac(peer.vtep_mac) == peer.vtep_mac
        if l2_mode:
            assert peer.subnet is None
        else:
            _kernel_reads_cidr(str(peer.subnet))
    if not l2_mode:
        assert len(set(p.vtep_mac for p in out)) == len(out)
        nets = [p.subnet for p in out]
        assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:] if a.version == b.version)


@PROFILE
@given(st.fixed_dictionaries({}, optional={
    'vni': ANY | st.integers(-1, 2 ** 25), 'port': ANY | st.integers(-1, 70000), 'mtu': ANY | st.integers(0, 70000),
    'mac': MACS, 'local': ADDRESS_TEXT, 'dev': ANY_TEXT, 'master': ANY_TEXT,
    'addresses': st.lists(ADDRESS_TEXT, max_size=2)}))
def test_vxlan_spec_of_any_arguments(args):
    args.setdefault('dev', 'eth0')
    try:
        spec = _vxlan.Spec('cnv0', **args)
    except ParameterError as exc:
        assert exc.param in ('vni', 'port', 'mtu', 'mac', 'local', 'dev', 'master', 'addresses'), exc.msg
        assert exc.msg.startswith(exc.param), exc.msg
        return
    assert 1 <= spec.vni <= _vxlan.MAX_VNI and 1 <= spec.port <= 65535
    assert spec.mtu == 'auto' or _linkargs.MIN_MTU <= spec.mtu <= _linkargs.MAX_MTU
    assert spec.mac == 'auto' or _bridge_mac(spec.mac) == spec.mac
    if spec.local is not None:
        _kernel_reads(str(spec.local))


# What the rtnl dumps print, read back as the desired side writes it (_vxlanpeers' fast path) ------------------

PACKED = st.one_of(
    st.binary(min_size=4, max_size=4),
    st.binary(min_size=16, max_size=16),
    # IPv6 forms inet_ntop prints with a dotted IPv4 tail, and runs of zeros to compress.
    st.binary(min_size=4, max_size=4).map(lambda b: b'\0' * 10 + b'\xff\xff' + b),
    st.binary(min_size=4, max_size=4).map(lambda b: b'\0' * 12 + b),
    st.lists(st.sampled_from([b'\0\0', b'\0\x01', b'\x20\x01', b'\xfe\x80']), min_size=8, max_size=8).map(b''.join),
)


@settings(PROFILE, max_examples=500)
@given(PACKED, st.integers(0, 128))
def test_dumped_addresses_and_routes_read_back_as_ipaddress_writes_them(packed, plen):
    family = socket.AF_INET6 if len(packed) == 16 else socket.AF_INET
    text = _rtnl._ip_text(packed)   # pylint: disable=protected-access
    assert _vxlanpeers._ip_text(text) == ipaddress.ip_address(text).compressed   # pylint: disable=protected-access
    plen = plen % (129 if family == socket.AF_INET6 else 33)
    cidr = u'%s/%d' % (text, plen)
    want = ipaddress.ip_network(cidr, strict=False).with_prefixlen
    assert _vxlanpeers._net_text(cidr) == want   # pylint: disable=protected-access
