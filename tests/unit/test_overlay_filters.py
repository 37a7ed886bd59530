# -*- coding: utf-8 -*-
"""The shared VTEP MAC derivation, the VXLAN MTU rule and the cni.node filters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import random

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cni.node.plugins.filter.cni_node import FilterModule
from ansible_collections.cni.node.plugins.module_utils import _overlay
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

FILTERS = FilterModule().filters()


@pytest.mark.parametrize('addr, mac', [
    ('192.0.2.10', '0e:04:c0:00:02:0a'),
    ('10.255.0.1/24', '0e:04:0a:ff:00:01'),
    ('::ffff:192.0.2.10', '0e:04:c0:00:02:0a'),
    # Pinned: the derivation must never change (peers of a running overlay rely on it).
    ('fd00::1', '06:35:d6:d2:60:bb'),
])
def test_vtep_mac_known_values(addr, mac):
    assert _overlay.vtep_mac(addr) == mac
    assert FILTERS['vtep_mac'](addr) == mac


def test_vtep_macs_are_unicast_locally_administered_and_distinct():
    rnd = random.Random(5)
    v4 = [str(ipaddress.IPv4Address(rnd.getrandbits(32))) for _n in range(2000)]
    v6 = [str(ipaddress.IPv6Address(rnd.getrandbits(128))) for _n in range(2000)]
    macs = [_overlay.vtep_mac(a) for a in v4 + v6]
    for mac in macs:
        first = int(mac.split(':')[0], 16)
        assert first & 0x02 and not first & 0x01, mac
        assert len(mac.split(':')) == 6
    assert len(set(macs)) == len(set(v4 + v6))
    assert all(_overlay.vtep_mac(a) == m for a, m in zip(v4 + v6, macs))   # deterministic


@pytest.mark.parametrize('bad', ['', 'node1', '300.1.1.1', None])
def test_vtep_mac_refuses_non_addresses(bad):
    with pytest.raises(ParameterError):
        _overlay.vtep_mac(bad)
    with pytest.raises(AnsibleFilterError, match='cni.node.vtep_mac'):
        FILTERS['vtep_mac'](bad)


@pytest.mark.parametrize('mtu, family, expected', [
    (1500, 'ipv4', 1450), (1500, 'ipv6', 1430), ('9000', 6, 8930), (1500, 'inet', 1450),
    (1500, '192.0.2.1', 1450), (1500, 'fd00::1', 1430), (118, 'ipv4', 68),
])
def test_vxlan_mtu(mtu, family, expected):
    assert _overlay.vxlan_mtu(mtu, family) == expected
    assert FILTERS['vxlan_mtu'](mtu, family) == expected


@pytest.mark.parametrize('mtu, family, words', [
    (117, 'ipv4', 'between 118 and 65535'), (70000, 'ipv4', 'between'), ('x', 'ipv4', 'not an integer'),
    (True, 'ipv4', 'not an integer'), (1500, 'ipv5', 'family'),
])
def test_vxlan_mtu_errors(mtu, family, words):
    with pytest.raises(ParameterError) as exc:
        _overlay.vxlan_mtu(mtu, family)
    assert words in exc.value.msg
    with pytest.raises(AnsibleFilterError):
        FILTERS['vxlan_mtu'](mtu, family)


def test_vxlan_mtu_defaults_to_ipv4():
    assert FILTERS['vxlan_mtu'](1500) == 1450


def test_host_local_ranges_filter():
    assert FILTERS['host_local_ranges']('10.244.3.0/24') == [
        [{'subnet': '10.244.3.0/24', 'rangeStart': '10.244.3.2', 'rangeEnd': '10.244.3.254',
          'gateway': '10.244.3.1'}]]
    dual = FILTERS['host_local_ranges'](['10.244.3.0/24', 'fd00:1:2:3::/64'])
    assert [r[0]['gateway'] for r in dual] == ['10.244.3.1', 'fd00:1:2:3::1']


@pytest.mark.parametrize('bad, words', [
    ('10.244.3.7/24', 'has host bits set'), ('10.0.0.0/31', 'too small'), ([], 'no subnet'),
])
def test_host_local_ranges_filter_errors(bad, words):
    with pytest.raises(AnsibleFilterError, match=words):
        FILTERS['host_local_ranges'](bad)


@pytest.mark.parametrize('candidates, first', [
    (['cafe.de', '10.0.0', '1.2.3.4.5', '::::', '256.1.1.1', '1::2::3', '192.0.2.7'], '192.0.2.7'),
    (['', None, '2001:DB8::0:1'], '2001:db8::1'),
    (['192.0.2.7/24', '198.51.100.1'], '192.0.2.7'),       # an interface address gives its address
    (['::ffff:192.0.2.9'], '192.0.2.9'),                   # as cni_vxlan reads a remote
    (['cafe.de', ''], ''),
    ([], ''),
    ('198.51.100.2', '198.51.100.2'),                      # a single value is a list of one
])
def test_first_address(candidates, first):
    assert FILTERS['first_address'](candidates) == first
