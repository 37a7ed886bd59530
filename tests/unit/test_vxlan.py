# -*- coding: utf-8 -*-
"""The pure parts of cni_vxlan: arguments, peers, the underlay and the desired entries (no kernel needed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _vxlan
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

LINKS = [
    dict(index=1, name='lo', kind=None, mtu=65536),
    dict(index=2, name='eth0', kind=None, mtu=1500),
    dict(index=3, name='cni0', kind='bridge', mtu=1500),
]
ADDRS = [
    dict(index=1, family=4, address='127.0.0.1', prefixlen=8, scope=254),
    dict(index=2, family=4, address='192.168.10.11', prefixlen=24, scope=0),
    dict(index=2, family=6, address='2001:db8::11', prefixlen=64, scope=0),
    dict(index=2, family=6, address='fe80::1', prefixlen=64, scope=253),
]


def spec(**kw):
    args = dict(name='vxlan0', vni=1, dev='eth0')
    args.update(kw)
    return _vxlan.Spec(**args)


def desired(**kw):
    s = spec(**kw)
    return _vxlan.Desired(s, _vxlan.resolve_underlay(s, LINKS, ADDRS), LINKS)


@pytest.mark.parametrize('kw,param,needle', [
    (dict(vni=0), 'vni', 'vni: 0 is out of range: a VXLAN network identifier takes 1 to 16777215'),
    (dict(vni=16777216), 'vni', '1 to 16777215'),
    (dict(vni=None), 'vni', 'required'),
    (dict(vni=True), 'vni', 'vni: True is out of range'),
    (dict(port=0), 'port', '1 to 65535'),
    (dict(port=65536), 'port', 'UDP port'),
    (dict(mtu='67'), 'mtu', "mtu: '67' is out of range: a VXLAN device's MTU ('auto' or a number) takes 68 to 65535"),
    (dict(mtu='big'), 'mtu', "'auto' or a number"),
    (dict(dev=None), 'dev', 'dev or local is required'),
    (dict(dev='vxlan0'), 'dev', 'the VXLAN device itself'),
    (dict(local='300.1.1.1'), 'local', 'not an IPv4 or IPv6 address'),
    (dict(mac='ff:ff:ff:ff:ff:ff'), 'mac',
     "mac: 'ff:ff:ff:ff:ff:ff' is a multicast address: a VXLAN device needs a unicast MAC"),
    (dict(addresses=['10.0.0.1']), 'addresses', "addresses: '10.0.0.1' has no prefix length"),
    (dict(state='gone'), 'state', 'present or absent'),
    (dict(master='cni0', direct_routing=True), 'direct_routing', 'L3 mode'),
    (dict(name='a-name-far-too-long'), 'name', 'at most 15'),
])
def test_spec_refuses_bad_arguments_naming_them(kw, param, needle):
    with pytest.raises(ParameterError) as err:
        spec(**kw)
    assert err.value.param == param
    assert needle in err.value.msg


@pytest.mark.parametrize('peers,needle', [
    ([dict(remote='192.168.10.12')], 'peers[0].subnet is required in L3 mode'),
    ([dict(remote='192.168.10.12', subnet='10.244.2.1/24')], 'peers[0].subnet'),
    ([dict(remote='2001:db8::12', subnet='10.244.2.0/24')], 'one underlay family'),
    ([dict(remote='192.168.10.11', subnet='10.244.2.0/24')], "this node's own underlay address"),
    ([dict(remote='192.168.10.12', subnet='10.244.2.0/24'),
      dict(remote='192.168.10.12', subnet='10.244.3.0/24')], 'same remote'),
    ([dict(remote='192.168.10.12', subnet='10.244.2.0/24'),
      dict(remote='192.168.10.13', subnet='10.244.0.0/16')], 'peers[1].subnet 10.244.0.0/16 overlaps peers[0]'),
    ([dict(remote='192.168.10.12', subnet='10.244.2.0/24', vtep_mac='zz')],
     "peers[0].vtep_mac: 'zz' is not a MAC address (six hex octets, e.g. 02:42:ac:11:00:01)"),
    ([dict(remote='192.168.10.12', subnet='10.244.2.0/24', color='red')], 'unknown key'),
    (['192.168.10.12'], 'not a dict'),
])
def test_peers_are_checked(peers, needle):
    with pytest.raises(ParameterError) as err:
        desired(peers=peers)
    assert err.value.param == 'peers'
    assert needle in err.value.msg


@pytest.mark.parametrize('mac,problem', [
    ('01:00:5e:00:00:01', "'01:00:5e:00:00:01' is a multicast address: a VXLAN tunnel endpoint needs a unicast MAC"),
    ('00:00:00:00:00:00', "'00:00:00:00:00:00' is the zero address: a VXLAN tunnel endpoint needs a unicast MAC"),
    ('02:00:00:00:04', "'02:00:00:00:04' is not a MAC address (six hex octets, e.g. 02:42:ac:11:00:01)"),
])
def test_a_bad_peer_mac_names_the_peer_and_its_vtep_mac(mac, problem):
    peers = [dict(remote='198.51.100.%d' % i, subnet='10.244.%d.0/24' % i) for i in range(1, 5)]
    peers[3]['vtep_mac'] = mac
    with pytest.raises(ParameterError) as err:
        desired(peers=peers)
    assert err.value.param == 'peers'
    assert err.value.msg == 'peers[3].vtep_mac: ' + problem


def test_l2_peers_take_no_subnet():
    with pytest.raises(ParameterError) as err:
        desired(master='cni0', peers=[dict(remote='192.168.10.12', subnet='10.244.2.0/24')])
    assert 'L2 mode' in err.value.msg


def test_overlap_sweep_finds_overlaps_anywhere_in_a_large_list():
    peers = [dict(remote='198.18.%d.%d' % (i // 250, i % 250 + 1), subnet='10.%d.%d.0/24' % (i // 250 + 1, i % 250))
             for i in range(2000)]
    assert len(desired(peers=peers).routes) == 2000
    peers.append(dict(remote='198.19.0.1', subnet='10.3.0.0/16'))
    with pytest.raises(ParameterError) as err:
        desired(peers=peers)
    assert 'peers[2000].subnet 10.3.0.0/16 overlaps peers[500].subnet 10.3.0.0/24' in err.value.msg
    # Different families never overlap.
    desired(peers=[dict(remote='192.168.10.12', subnet='10.244.2.0/24'),
                   dict(remote='192.168.10.13', subnet='fd00:2::/64')])


def test_desired_l3_entries_direct_routing_and_derived_macs():
    want = desired(direct_routing=True, peers=[
        dict(remote='192.168.10.12', subnet='10.244.2.0/24'),
        dict(remote='198.51.100.3', subnet='10.244.3.0/24'),
        dict(remote='198.51.100.4', subnet='fd00:4::/64', vtep_mac='02:00:00:00:04:04'),
    ])
    assert want.mtu == 1450 and want.mac == '0e:04:c0:a8:0a:0b'
    assert want.routes == {
        '10.244.2.0/24': dict(gateway='192.168.10.12', dev='eth0', onlink=False),
        '10.244.3.0/24': dict(gateway='10.244.3.0', dev='vxlan0', onlink=True),
        'fd00:4::/64': dict(gateway='fd00:4::', dev='vxlan0', onlink=True),
    }
    assert want.neighbours == {'10.244.3.0': '0e:04:c6:33:64:03', 'fd00:4::': '02:00:00:00:04:04'}
    assert want.fdb == {('0e:04:c6:33:64:03', '198.51.100.3'), ('02:00:00:00:04:04', '198.51.100.4')}
    assert want.direct == {'192.168.10.12'}


def test_desired_l2_flood_entries_and_master():
    want = desired(master='cni0', peers=[dict(remote='192.168.10.12'), dict(remote='198.51.100.3')])
    assert want.master_index == 3
    assert want.fdb == {('00:00:00:00:00:00', '192.168.10.12'), ('00:00:00:00:00:00', '198.51.100.3')}
    assert want.routes == {} and want.neighbours == {}


@pytest.mark.parametrize('kw,param,needle', [
    (dict(mtu='1451'), 'mtu', 'mtu 1451 is above what a VXLAN over eth0 can carry: 1450'),
    (dict(dev='eth9'), 'dev', "no link called 'eth9'"),
    (dict(master='eth0'), 'master', 'not a bridge'),
    (dict(master='br9'), 'master', "no bridge called 'br9'"),
    (dict(dev=None, local='203.0.113.1'), 'mtu', "mtu 'auto' needs the underlay link"),
    (dict(dev='lo'), 'dev', "link 'lo' has no global IPv4 or usable IPv6 address to use as the local underlay "
                            "address; give local"),
])
def test_underlay_dependent_checks(kw, param, needle):
    with pytest.raises(ParameterError) as err:
        desired(**kw)
    assert err.value.param == param
    assert needle in err.value.msg


def test_underlay_resolution():
    assert _vxlan.resolve_underlay(spec(), LINKS, ADDRS).local.compressed == '192.168.10.11'
    six = _vxlan.resolve_underlay(spec(local='2001:db8::11', dev=None), LINKS, ADDRS)
    assert six.link['name'] == 'eth0' and str(six.network) == '2001:db8::/64'
    assert desired(local='2001:db8::11', dev=None).mtu == 1430


# IPv6 address flags (IFA_F_*) as the adapter reports them.
TEMPORARY, NODAD, DADFAILED, DEPRECATED, TENTATIVE, PERMANENT = 0x01, 0x02, 0x08, 0x20, 0x40, 0x80


def v6(address, flags, index=2):
    return dict(index=index, family=6, address=address, prefixlen=64, scope=0, flags=flags)


@pytest.mark.parametrize('addresses,chosen', [
    # The kernel dumps IPv6 addresses newest first: the unusable ones come before the good one here.
    ([v6('2001:db8::7', TEMPORARY), v6('2001:db8::5', PERMANENT | DEPRECATED), v6('2001:db8::1', PERMANENT)],
     '2001:db8::1'),
    ([v6('2001:db8::9', PERMANENT | TENTATIVE | DADFAILED), v6('2001:db8::8', PERMANENT | TENTATIVE),
      v6('2001:db8::1', PERMANENT | NODAD)], '2001:db8::1'),
    # Autoconfigured (SLAAC, not permanent) counts after a configured one, wherever it is in the dump.
    ([v6('2001:db8::aa', 0), v6('2001:db8::1', PERMANENT)], '2001:db8::1'),
    ([v6('2001:db8::aa', 0), v6('2001:db8::7', TEMPORARY)], '2001:db8::aa'),
    # Flags not known (an adapter without them): permanent, the lowest one.
    ([v6('2001:db8::2', None), v6('2001:db8::1', PERMANENT)], '2001:db8::1'),
    # Addresses of other links do not count.
    ([v6('2001:db8::3', PERMANENT, index=3), v6('2001:db8::1', PERMANENT)], '2001:db8::1'),
    # Within a group the lowest address, not the kernel's order (newest first), which changes.
    ([v6('2001:db8::ab', 0), v6('2001:db8::aa', 0), v6('2001:db8::10', 0)], '2001:db8::10'),
    ([v6('2001:db8::10', 0), v6('2001:db8::ab', 0), v6('2001:db8::aa', 0)], '2001:db8::10'),
    ([v6('2001:db8::9', PERMANENT), v6('2001:db8::3', PERMANENT), v6('2001:db8::1', 0)], '2001:db8::3'),
    ([v6('2001:db8::3', PERMANENT), v6('2001:db8::9', PERMANENT), v6('2001:db8::1', 0)], '2001:db8::3'),
    # A tentative address that would come after the chosen one changes nothing once usable.
    ([v6('2001:db8::9', PERMANENT | TENTATIVE), v6('2001:db8::1', PERMANENT)], '2001:db8::1'),
    ([v6('2001:db8::1', TENTATIVE), v6('2001:db8::9', PERMANENT)], '2001:db8::9'),
    # A dadfailed one never becomes usable: it does not hold the choice up.
    ([v6('2001:db8::1', PERMANENT | TENTATIVE | DADFAILED), v6('2001:db8::aa', 0)], '2001:db8::aa'),
])
def test_ipv6_underlay_address_skips_temporary_deprecated_tentative_and_dadfailed(addresses, chosen):
    links = LINKS + [dict(index=4, name='eth1', kind=None, mtu=1500)]
    got = _vxlan.resolve_underlay(spec(), links, addresses + [dict(a, index=4) for a in addresses])
    assert got.local.compressed == chosen and got.link['name'] == 'eth0'
    assert str(got.network) == '2001:db8::/64'


@pytest.mark.parametrize('addresses,waiting,instead', [
    # The only permanent address is still in duplicate address detection, an autoconfigured one is usable.
    ([v6('2001:db8::aa', 0), v6('2001:db8::1', PERMANENT | TENTATIVE)], '2001:db8::1', '2001:db8::aa'),
    # A lower permanent one still tentative.
    ([v6('2001:db8::1', PERMANENT | TENTATIVE), v6('2001:db8::5', PERMANENT)], '2001:db8::1', '2001:db8::5'),
    # A lower autoconfigured one still tentative.
    ([v6('2001:db8::1', TENTATIVE), v6('2001:db8::5', 0)], '2001:db8::1', '2001:db8::5'),
])
def test_ipv6_underlay_address_about_to_change_fails_before_any_change(addresses, waiting, instead):
    with pytest.raises(ParameterError) as err:
        _vxlan.resolve_underlay(spec(), LINKS, addresses)
    assert err.value.param == 'dev'
    assert err.value.msg == (
        "dev: link 'eth0': its IPv6 address %s, which comes before %s as the local underlay address, is still "
        "tentative (duplicate address detection running); the choice would change once it ends, so nothing was "
        "changed: run again in a few seconds, or give local" % (waiting, instead))


def test_choose_ipv6_returns_the_choice_and_what_holds_it_up():
    iface = _vxlan.ipaddress.ip_interface
    assert _vxlan.choose_ipv6([]) == (None, None)
    assert _vxlan.choose_ipv6([(iface(u'2001:db8::1/64'), TENTATIVE)]) == (None, None)
    assert _vxlan.choose_ipv6([(iface(u'2001:db8::2/64'), 0), (iface(u'2001:db8::1/64'), TENTATIVE)]) == (
        iface(u'2001:db8::2/64'), iface(u'2001:db8::1/64'))


def test_ipv4_underlay_address_is_chosen_as_before_whatever_the_flags():
    """0x01 is IFA_F_SECONDARY for IPv4, 0x20 a deprecated (preferred_lft 0) address: the first IPv4 one wins,
    and any IPv4 address before IPv6."""
    addresses = [v6('2001:db8::1', PERMANENT),
                 dict(index=2, family=4, address='192.168.10.11', prefixlen=24, scope=0, flags=DEPRECATED | PERMANENT),
                 dict(index=2, family=4, address='192.168.10.12', prefixlen=24, scope=0, flags=PERMANENT | 0x01)]
    assert _vxlan.resolve_underlay(spec(), LINKS, addresses).local.compressed == '192.168.10.11'


def test_no_usable_ipv6_address_fails_naming_the_skipped_ones():
    addresses = [v6('2001:db8::5', PERMANENT | DEPRECATED), v6('2001:db8::9', TENTATIVE | DADFAILED | PERMANENT)]
    with pytest.raises(ParameterError) as err:
        _vxlan.resolve_underlay(spec(), LINKS, addresses)
    assert err.value.param == 'dev'
    assert err.value.msg == ("dev: link 'eth0' has no global IPv4 or usable IPv6 address to use as the local underlay "
                             "address: skipped 2001:db8::5 (deprecated), 2001:db8::9 (dadfailed, tentative); give "
                             "local")


def test_local_given_is_taken_whatever_its_flags():
    addresses = [v6('2001:db8::5', PERMANENT | DEPRECATED)]
    got = _vxlan.resolve_underlay(spec(local='2001:db8::5'), LINKS, addresses)
    assert got.local.compressed == '2001:db8::5' and got.link['name'] == 'eth0'


def test_drift_paths_map_to_parameters():
    assert _vxlan._param_of('vxlan/vx0/mtu') == 'mtu'
    assert _vxlan._param_of('vxlan/vx0/routes/10.0.0.0/24') == 'peers'
    assert _vxlan._param_of('vxlan/vx0') == 'name'


def test_peers_with_one_vtep_mac_or_the_devices_own_are_refused():
    with pytest.raises(ParameterError) as err:
        desired(peers=[dict(remote='198.51.100.3', subnet='10.244.3.0/24', vtep_mac='02:00:00:00:00:01'),
                       dict(remote='198.51.100.4', subnet='10.244.4.0/24', vtep_mac='02:00:00:00:00:01')])
    assert 'same vtep_mac' in err.value.msg
    with pytest.raises(ParameterError) as err:
        desired(peers=[dict(remote='198.51.100.3', subnet='10.244.3.0/24', vtep_mac='0e:04:c0:a8:0a:0b')])
    assert "this device's own MAC" in err.value.msg
    # In L2 mode every peer is the zero MAC: no such rule.
    desired(master='cni0', peers=[dict(remote='192.168.10.12'), dict(remote='198.51.100.3')])
