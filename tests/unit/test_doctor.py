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


# ---------------------------------------------------------------- the module's edge, in-process

def test_the_module_names_a_bad_option_and_skips_what_it_cannot_read(run_main, tmp_path, monkeypatch):
    from ansible_collections.cni.node.plugins.module_utils import _doctorgather, _netlink
    from ansible_collections.cni.node.plugins.module_utils._errors import MissingDependency
    from ansible_collections.cni.node.plugins.modules import cni_doctor

    res = run_main(cni_doctor, dict(checks=['mtu'], conntrack_threshold=0))
    assert res['failed'] and res['param'] == 'conntrack_threshold'

    def no_pyroute2(netns=None):
        raise MissingDependency(_netlink.MISSING_PYROUTE2)
    monkeypatch.setattr(_doctorgather._netlink, 'Netlink', no_pyroute2)
    res = run_main(cni_doctor, dict(checks=['mtu', 'conflists'], conf_dir=str(tmp_path), bin_dirs=[str(tmp_path)],
                                    cache_dir=str(tmp_path)), check=True)
    assert res['rc'] == 0 and res['changed'] is False and res['drift'] == [] and res['diff'] == []
    assert res['checks'] == ['conflists'] and 'pyroute2' in res['skipped']['mtu'] and 'links' in res['errors']
    assert 'vteps' not in res


# ---------------------------------------------------------------- the diagnose role's probe script and filter

def _diag():
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), '..', '..', 'roles', 'diagnose', 'files', 'cni_node_diag.py')
    spec = importlib.util.spec_from_file_location('cni_node_diag', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TCPDUMP = u'''\
14:29:40.643826 IP 172.28.61.11.56953 > 172.28.61.12.4789: VXLAN, flags [I] (0x08), vni 1
IP 10.244.0.2 > 10.244.1.2: ICMP echo request, id 5, seq 1, length 64
14:29:40.643900 IP 172.28.61.12.40000 > 172.28.61.11.4789: VXLAN, flags [I] (0x08), vni 1
IP 10.244.1.2 > 10.244.0.2: ICMP echo reply, id 5, seq 1, length 64
14:29:41.188833 IP 172.28.61.11.47153 > 172.28.61.12.4789: VXLAN, flags [I] (0x08), vni 1
ARP, Request who-has 10.244.1.2 tell 10.244.0.2, length 28
14:29:42.000000 IP 172.28.61.11.56953 > 172.28.61.12.4789: VXLAN, flags [I] (0x08), vni 1 IP 10.244.0.2 > 10.244.1.2: ICMP echo request, id 5, seq 2, length 64
14:29:42.100000 IP 172.28.61.11.5353 > 172.28.61.12.53: UDP, length 20
14:29:43.000000 IP 172.28.61.11.56953 > 172.28.61.12.4789: VXLAN, flags [I] (0x08), vni 1
IP truncated-ip - 1194 bytes missing! 10.244.0.2 > 10.244.1.2: ICMP echo request, id 5, seq 3, length 1430
'''


def test_the_capture_summary_counts_pairs_and_inner_flows(monkeypatch):
    diag = _diag()
    monkeypatch.setattr(diag, 'run', lambda argv, timeout: (0, TCPDUMP))
    out = diag.summary('/x.pcap', 4789)
    assert out['packets'] == 5
    assert out['pairs'] == {'172.28.61.11 > 172.28.61.12': 4, '172.28.61.12 > 172.28.61.11': 1}
    icmp = [(f['outer_src'], f['inner_dst'], f['packets']) for f in out['flows'] if f['proto'] == 'ICMP']
    assert sorted(icmp) == [('172.28.61.11', '10.244.1.2', 3), ('172.28.61.12', '10.244.0.2', 1)]
    assert [f['proto'] for f in out['flows'] if f['inner_src'] is None] == ['ARP']


def test_the_path_mtu_bisection(monkeypatch):
    diag = _diag()
    limit = 1350 - diag.IP_HEADERS   # payloads up to this pass

    def fake_ping(netns, address, count=1, size=None, df=False, wait=1, interval=None):
        ok = size is None or size <= limit
        return dict(rc=0 if ok else 1, sent=count, received=count if ok else 0, rtt_avg_ms=0.1 if ok else None,
                    output=['x'])
    monkeypatch.setattr(diag, 'ping', fake_ping)
    [entry] = diag.probe('ns', 1450, 2, ['node2=10.244.1.2'])
    assert entry['reachable'] and entry['mtu_ok'] is False and entry['largest'] == 1350
    from ansible_collections.cni.node.plugins.filter.cni_node import probe_finding
    f = probe_finding(entry, 'node1', 'path_mtu')
    assert f['subject'] == 'node1 -> node2' and '1350' in f['evidence'] and '1350' in f['fix']
    assert probe_finding(dict(entry, reachable=False, received=0, error='100% loss'), 'node1', 'ping')['check'] \
        == 'ping'


def test_mask_secrets_filter():
    from ansible_collections.cni.node.plugins.filter.cni_node import NOT_JSON, mask_secrets
    masked = mask_secrets('{"name": "n", "plugins": [{"type": "x", "token": "s3cret"}]}')
    assert masked['plugins'][0]['token'] != 's3cret' and masked['name'] == 'n'
    assert mask_secrets('{broken') == NOT_JSON
