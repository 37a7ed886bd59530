# -*- coding: utf-8 -*-
"""cni_doctor's pure checks (_doctor) on hand-made facts: what the real kernel cannot show on demand
(conntrack near its limit, an iptables-nft rule, duplicate VTEPs across a fleet), and the options' errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _doctor
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError


def opts(**kw):
    return _doctor.check_options(**kw)


def subjects(findings, severity=None):
    return [(f['check'], f['subject']) for f in findings if severity in (None, f['severity'])]


@pytest.mark.parametrize('count,limit,severity', [(95, 100, 'warning'), (100, 100, 'error'), (10, 100000, None),
                                                  (0, 64, 'warning')])
def test_conntrack(count, limit, severity):
    found = _doctor.run(dict(conntrack=dict(count=count, max=limit)), opts(checks=['conntrack']))
    assert [f['severity'] for f in found] == ([severity] if severity else [])


# What `iptables -A INPUT -p udp --dport 4789 -j DROP` (iptables-nft) lists as nft JSON.
IPTABLES_RULE = {'rule': {'family': 'ip', 'table': 'filter', 'chain': 'INPUT', 'handle': 4, 'expr': [
    {'match': {'op': '==', 'left': {'meta': {'key': 'l4proto'}}, 'right': 'udp'}},
    {'match': {'op': '==', 'left': {'payload': {'protocol': 'udp', 'field': 'dport'}}, 'right': 4789}},
    {'counter': {'packets': 0, 'bytes': 0}}, {'drop': None}]}}


@pytest.mark.parametrize('right,op,blocked', [
    (4789, '==', True), (4790, '==', False), ({'set': [53, {'range': [4000, 5000]}]}, '==', True),
    ({'set': [53, 8472]}, '==', False), (22, '!=', True), (4789, '!=', False)])
def test_vxlan_port_rules(right, op, blocked):
    rule = {'rule': dict(IPTABLES_RULE['rule'], expr=[
        {'match': {'op': op, 'left': {'payload': {'protocol': 'udp', 'field': 'dport'}}, 'right': right}},
        {'drop': None}])}
    found = _doctor.run(dict(nft=dict(ruleset=[rule]), links=[]), opts(checks=['vxlan_port']))
    assert subjects(found) == ([('vxlan_port', 'ip filter INPUT')] if blocked else [])


def test_an_accepting_rule_and_an_unreadable_ruleset():
    accept = {'rule': dict(IPTABLES_RULE['rule'], expr=IPTABLES_RULE['rule']['expr'][:3] + [{'accept': None}])}
    assert _doctor.run(dict(nft=dict(ruleset=[accept]), links=[]), opts(checks=['vxlan_port'])) == []
    found = _doctor.run(dict(nft=dict(error='nft is not installed')), opts(checks=['vxlan_port', 'nftables']))
    assert [f['severity'] for f in found] == ['info', 'info']


def _vxlan(mac, local='192.0.2.1', index=5, mtu=1450, under=2):
    return dict(index=index, name='vxlan0', kind='vxlan', mtu=mtu, address=mac, master=None,
                vxlan=dict(local=local, link=under, port=4789), addresses=['10.244.0.0/32'])


def test_duplicate_vtep_macs_across_the_fleet():
    facts = dict(links=[_vxlan('0e:04:c0:00:02:01')], neighbours=[])
    peers = [dict(name='n1', remote='192.0.2.1'), dict(name='n2', remote='192.0.2.2', vtep_mac='0e:04:aa:aa:aa:aa'),
             dict(name='n3', remote='192.0.2.3', vtep_mac='0E:04:AA:AA:AA:AA')]
    found = _doctor.run(facts, opts(checks=['vtep_macs'], peers=peers))
    assert subjects(found, 'error') == [('vtep_macs', '0e:04:aa:aa:aa:aa')]
    assert 'n2, n3' in found[0]['evidence']


def test_mtu_ipv6_underlay_and_veths():
    under = dict(index=2, name='eth0', kind=None, mtu=1500, address='aa:bb:cc:00:00:01', master=None)
    br = dict(index=6, name='cni0', kind='bridge', mtu=1450, master=None)
    veth = dict(index=7, name='veth1', kind='veth', mtu=1500, master=6)
    facts = dict(links=[under, _vxlan('0e:04:c0:00:02:01', local='2001:db8::1'), br, veth], conffiles=[])
    found = _doctor.run(facts, opts(checks=['mtu']))
    assert subjects(found, 'error') == [('mtu', 'cni0'), ('mtu', 'vxlan0')]
    assert '1430' in found[1]['evidence'] and '70 bytes' in found[1]['evidence']
    assert subjects(found, 'warning') == [('mtu', 'veth1')]


def test_an_unexpected_xdp_program_and_the_expected_one():
    facts = dict(links=[dict(index=2, name='eth0', xdp=dict(id=17, mode='generic')),
                        dict(index=3, name='eth1', xdp=dict(id=None, mode=None))])
    assert subjects(_doctor.run(facts, opts(checks=['xdp']))) == [('xdp', 'eth0')]
    assert _doctor.run(facts, opts(checks=['xdp'], expected_xdp=['eth0'])) == []


def test_forwarding_with_bridge_netfilter():
    facts = dict(sysctl={'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '0'})
    found = _doctor.run(facts, opts(checks=['forwarding'], bridge_nf=True))
    assert subjects(found) == [('forwarding', 'net.bridge.bridge-nf-call-ip6tables'),
                               ('forwarding', 'net.bridge.bridge-nf-call-iptables')]
    assert 'br_netfilter' in found[0]['evidence']


def test_findings_come_errors_first_and_healthy_ignores_warnings():
    facts = dict(sysctl={'net.ipv4.ip_forward': '0'}, conntrack=dict(count=95, max=100))
    found = _doctor.run(facts, opts(checks=['conntrack', 'forwarding']))
    assert [f['severity'] for f in found] == ['error', 'warning']
    assert not _doctor.healthy(found) and _doctor.healthy(found[1:])
    assert set(found[0]) == set(['check', 'severity', 'subject', 'evidence', 'fix'])


@pytest.mark.parametrize('kw,param,text', [
    (dict(checks=['mtu', 'nope']), 'checks', 'nope not known'),
    (dict(peers=[dict(remote='192.0.2.1', port=1)]), 'peers', 'peers[0]: unknown key(s) port'),
    (dict(peers=[dict(subnet='10.0.0.0/24')]), 'peers', 'peers[0].remote is required'),
    (dict(peers=[dict(remote='192.0.2.1', subnet='10.0.0.0/33')]), 'peers', 'peers[0].subnet'),
    (dict(conntrack_threshold=101), 'conntrack_threshold', 'percentage'),
    (dict(vxlan_port=70000), 'vxlan_port', 'UDP port'),
])
def test_bad_options_name_the_option(kw, param, text):
    with pytest.raises(ParameterError) as info:
        opts(**kw)
    assert info.value.param == param and text in info.value.msg


def test_needed_sections():
    assert _doctor.needed(['conntrack']) == ['conntrack']
    assert _doctor.needed(['peers', 'mtu']) == ['conffiles', 'fdb', 'links', 'neighbours', 'routes']
    assert set(_doctor.NEEDS) == set(_doctor.CHECKS)
