# -*- coding: utf-8 -*-
"""cni_policy's pure rooms: labels, the policy's normalisation and selectors, compilation and drift."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

import pytest

from ansible_collections.cni.node.plugins.module_utils import _labels, _nft, _policyrules, _policyspec
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._result import Changes


@pytest.mark.parametrize('labels, words', [
    ({'-a': 'x'}, "the name '-a'"),
    ({'a' * 64: 'x'}, 'is not 1-63'),
    ({'Example.com/app': 'x'}, "the prefix 'Example.com'"),
    ({'/app': 'x'}, "the prefix ''"),
    ({'app': 'a b'}, 'a value is empty, or 1-63'),
    ({'app': True}, 'must be a string'),
    ('app=web', 'must be a dict'),
])
def test_bad_labels_name_the_parameter(labels, words):
    with pytest.raises(ParameterError) as exc:
        _labels.check_labels(labels)
    assert exc.value.param == 'labels' and words in exc.value.msg


def test_good_labels_are_normalised():
    assert _labels.check_labels({'example.com/tier': 'front', 'n': 3, 'e': ''}) == {
        'e': '', 'example.com/tier': 'front', 'n': '3'}
    assert _labels.check_labels(None) is None


def norm(**kw):
    return _policyspec.normalise(dict(dict(name='p', network='net'), **kw))


@pytest.mark.parametrize('kw, param, words', [
    (dict(name='P'), 'name', 'a DNS label'),
    (dict(pod_selector={'match_labels': {'app': 'x'}, 'labels': {}}), 'pod_selector', "unknown key 'labels'"),
    (dict(pod_selector={'match_expressions': [{'key': 'a', 'operator': 'in', 'values': ['x']}]}),
     'pod_selector', 'pod_selector.match_expressions[0].operator: unknown operator'),
    (dict(pod_selector={'match_expressions': [{'key': 'a', 'operator': 'NotIn', 'values': []}]}),
     'pod_selector', 'needs a non-empty list'),
    (dict(pod_selector={'match_expressions': [{'key': 'a', 'operator': 'DoesNotExist', 'values': ['x']}]}),
     'pod_selector', 'takes no values'),
    (dict(ingress=[{'from': [{'ip_block': {'cidr': '10.0.0.0'}}]}]), 'ingress', 'with its prefix length'),
    (dict(ingress=[{'from': [{'ip_block': {'cidr': '10.0.0.5/24'}}]}]), 'ingress', 'did you mean 10.0.0.0/24?'),
    (dict(ingress=[{'from': [{'ip_block': {'cidr': 'x/24'}}]}]), 'ingress', 'is not a CIDR'),
    (dict(ingress=[{'from': [{'ip_block': {'cidr': '10.0.0.0/24', 'except': ['10.0.0.0/16']}}]}]), 'ingress',
     'ingress[0].from[0].ip_block.except[0]: 10.0.0.0/16 is not inside cidr 10.0.0.0/24'),
    (dict(ingress=[{'from': [{'ip_block': {'except': []}}]}]), 'ingress', 'ip_block.cidr: is required'),
    (dict(ingress=[{'from': [{'namespace_selector': {}}]}]), 'ingress', 'a CNI node has no Kubernetes namespaces'),
    (dict(ingress=[{'from': [{}]}]), 'ingress', 'got neither'),
    (dict(ingress=[{'ports': [{'port': 'dns'}]}]), 'ingress', "named port 'dns' is not supported"),
    (dict(ingress=[{'ports': [{'port': True}]}]), 'ingress', 'must be a port number'),
    (dict(ingress=[{'ports': [{'protocol': 'icmp'}]}]), 'ingress', "unknown protocol 'icmp'"),
    (dict(ingress=[{'ports': [{'port': 90, 'end_port': 89}]}]), 'ingress', '89 is below port 90'),
    (dict(ingress=[{'ports': [{'end_port': 89}]}]), 'ingress', 'needs port'),
    (dict(ingress=[{'peers': []}]), 'ingress', "unknown key 'peers'"),
    (dict(egress=[{'from': []}]), 'egress', "unknown key 'from'"),
    (dict(ingress='all'), 'ingress', 'must be a list'),
    (dict(policy_types=['Egress'], ingress=[{}]), 'policy_types', 'leaves Ingress out'),
    (dict(policy_types=['ingress']), 'policy_types', "unknown type 'ingress'"),
    (dict(policy_types=[]), 'policy_types', 'non-empty'),
])
def test_bad_policies_name_the_parameter(kw, param, words):
    with pytest.raises(ParameterError) as exc:
        norm(**kw)
    assert exc.value.param == param and words in exc.value.msg, exc.value.msg


def test_policy_types_default_as_kubernetes():
    assert norm()['policy_types'] == ['Ingress']
    assert norm(egress=[])['policy_types'] == ['Ingress']             # an empty egress list is no egress section
    assert norm(egress=[{}])['policy_types'] == ['Ingress', 'Egress']
    assert norm(policy_types=['Egress', 'Ingress'])['policy_types'] == ['Ingress', 'Egress']
    p = norm(ingress=[{'ports': [{'port': '80', 'protocol': 'udp', 'end_port': 80}]}])
    assert p['ingress'] == [{'from': [], 'ports': [{'protocol': 'UDP', 'port': 80, 'end_port': None}]}]


@pytest.mark.parametrize('selector, labels, expected', [
    ({}, {}, True),
    ({'match_labels': {'app': 'web'}}, {'app': 'web', 'x': 'y'}, True),
    ({'match_labels': {'app': 'web'}}, {'app': 'db'}, False),
    ({'match_expressions': [{'key': 'app', 'operator': 'In', 'values': ['web', 'db']}]}, {'app': 'db'}, True),
    ({'match_expressions': [{'key': 'app', 'operator': 'In', 'values': ['web']}]}, {}, False),
    ({'match_expressions': [{'key': 'app', 'operator': 'NotIn', 'values': ['web']}]}, {}, True),
    ({'match_expressions': [{'key': 'app', 'operator': 'NotIn', 'values': ['web']}]}, {'app': 'web'}, False),
    ({'match_expressions': [{'key': 'app', 'operator': 'Exists'}]}, {'app': ''}, True),
    ({'match_expressions': [{'key': 'app', 'operator': 'DoesNotExist'}]}, {'app': ''}, False),
    ({'match_labels': {'a': '1'}, 'match_expressions': [{'key': 'b', 'operator': 'Exists'}]}, {'a': '1'}, False),
])
def test_selectors_mean_what_kubernetes_means(selector, labels, expected):
    sel = _policyspec.check_selector(selector, 'pod_selector', 'pod_selector')
    assert _policyspec.matches(sel, labels) is expected


def pods(*specs):
    return [dict(id=i, labels=labels, ips=[ipaddress.ip_address(a) for a in addrs]) for i, labels, addrs in specs]


PODS = pods(('w1', {'app': 'web'}, ['10.0.0.10', 'fd00::10']), ('w2', {'app': 'web'}, ['10.0.0.11']),
            ('c', {'role': 'client'}, ['10.0.0.20']))


def test_compile_sets_and_rules():
    pol = norm(name='web', pod_selector={'match_labels': {'app': 'web'}},
               ingress=[{'from': [{'pod_selector': {'match_labels': {'role': 'client'}}},
                                  {'ip_block': {'cidr': '192.168.0.0/24', 'except': ['192.168.0.128/25']}}],
                         'ports': [{'port': 80}, {'protocol': 'UDP'}]}])
    m = _policyrules.compile_policies([pol], PODS)
    assert m.sets['web.sel4'] == ('ipv4_addr', ['10.0.0.10/31'])
    assert m.sets['web.sel6'] == ('ipv6_addr', ['fd00::10'])
    assert m.sets['web.i0.4'] == ('ipv4_addr', ['10.0.0.20', '192.168.0.0/25'])
    assert m.sets['_ingress4'] == ('ipv4_addr', ['10.0.0.10/31']) and m.sets['_egress4'] == ('ipv4_addr', [])
    texts = [(c, _policyrules.rule_text(e)) for c, e in m.rules['ingress']]
    assert texts == [
        ('cni-node:web:ingress:0:ip:port0', 'ip daddr @web.sel4 ip saddr @web.i0.4 tcp dport 80 accept'),
        ('cni-node:web:ingress:0:ip:port1', 'ip daddr @web.sel4 ip saddr @web.i0.4 meta l4proto udp accept'),
        ('cni-node:web:ingress:0:ip6:port0', 'ip6 daddr @web.sel6 ip6 saddr @web.i0.6 tcp dport 80 accept'),
        ('cni-node:web:ingress:0:ip6:port1', 'ip6 daddr @web.sel6 ip6 saddr @web.i0.6 meta l4proto udp accept'),
        ('cni-node:_node:deny-ingress', 'drop')]
    assert [_policyrules.rule_text(e) for _c, e in m.rules['forward']] == [
        'ct state established,related accept', 'ip saddr @_egress4 jump egress', 'ip6 saddr @_egress6 jump egress',
        'ip daddr @_ingress4 jump ingress', 'ip6 daddr @_ingress6 jump ingress']
    assert m.rules['egress'] == [('cni-node:_node:deny-egress', [{'drop': None}])]
    assert _policyrules.compile_policies([], PODS) is None


def test_empty_rule_list_denies_and_empty_rule_allows_everyone():
    deny = _policyrules.compile_policies([norm(name='d')], PODS)
    assert [c for c, _e in deny.rules['ingress']] == ['cni-node:_node:deny-ingress']
    allow = _policyrules.compile_policies([norm(name='a', ingress=[{}])], PODS)
    assert _policyrules.rule_text(allow.rules['ingress'][0][1]) == 'ip daddr @a.sel4 accept'


def listing_of(model, network='n'):
    """What nft would list for a model: the commands' objects, as the kernel echoes them (handles added)."""
    out = []
    for i, cmd in enumerate(_policyrules.commands(network, model, False)[3:]):
        kind, body = list(cmd['add'].items())[0]
        out.append({kind: json.loads(json.dumps(dict(body, handle=i + 1)))})
    return out


def test_a_listing_of_the_desired_table_is_no_drift_and_each_change_is_one_item():
    pol = norm(name='web', pod_selector={'match_labels': {'app': 'web'}}, ingress=[{'ports': [{'port': 80}]}])
    desired = _policyrules.compile_policies([pol], PODS)
    listing = listing_of(desired)
    ch = Changes()
    assert _policyrules.compare('n', desired, _policyrules.from_listing(listing), ch) is False and ch.drift == []
    # an element given as a range and as separate addresses is the same set
    for item in listing:
        if item.get('set', {}).get('name') == 'web.sel4':
            item['set']['elem'] = [{'range': ['10.0.0.10', '10.0.0.11']}]
    assert _policyrules.compare('n', desired, _policyrules.from_listing(listing), Changes()) is False
    for item in listing:
        if item.get('set', {}).get('name') == 'web.sel4':
            item['set']['elem'] = ['10.0.0.10']
        if item.get('rule', {}).get('comment') == 'cni-node:web:ingress:0:ip:port0':
            item['rule']['expr'][1]['match']['right'] = 81
    listing.append({'rule': dict(family='inet', table='cni_node_n', chain='forward', handle=99, expr=[{'drop': None}])})
    ch = Changes()
    assert _policyrules.compare('n', desired, _policyrules.from_listing(listing), ch) is True
    assert ch.drift == [
        {'path': 'policy/n/web/set/web.sel4', 'before': ['10.0.0.10'], 'after': ['10.0.0.10/31']},
        {'path': 'policy/n/_unowned/rule/forward/handle 99', 'before': 'drop', 'after': None},
        {'path': 'policy/n/web/rule/ingress:0:ip:port0', 'before': 'ip daddr @web.sel4 tcp dport 81 accept',
         'after': 'ip daddr @web.sel4 tcp dport 80 accept'}]


def test_table_present_or_absent_and_the_transaction():
    pol = norm(name='web')
    desired = _policyrules.compile_policies([pol], PODS)
    ch = Changes()
    assert _policyrules.compare('n', desired, None, ch) and ch.drift == [
        {'path': 'policy/n/table', 'before': 'absent', 'after': 'present'}]
    cmds = _policyrules.commands('n', desired, False)
    assert cmds[:3] == [{'add': {'table': {'family': 'inet', 'name': 'cni_node_n'}}},
                        {'delete': {'table': {'family': 'inet', 'name': 'cni_node_n'}}},
                        {'add': {'table': {'family': 'inet', 'name': 'cni_node_n'}}}]
    assert all(list(c.values())[0].get('table', {}).get('name', 'cni_node_n') == 'cni_node_n' or
               list(c.values())[0].get('table') == 'cni_node_n' for c in cmds)
    assert _policyrules.commands('n', None, True) == [{'delete': {'table': {'family': 'inet', 'name': 'cni_node_n'}}}]
    assert _policyrules.commands('n', None, False) == []


def test_nft_adapter_one_transaction_and_absent_table():
    calls = []

    def runner(argv, stdin):
        calls.append((argv, stdin))
        if argv[1:3] == ['-j', 'list']:
            return 1, '', 'Error: No such file or directory\nlist table inet cni_node_x'
        return 0, '', ''

    nft = _nft.Nft(binary='/usr/sbin/nft', runner=runner)
    assert nft.list_table('inet', 'cni_node_x') is None
    nft.apply([{'add': {'table': {'family': 'inet', 'name': 'cni_node_x'}}}])
    nft.apply([])
    assert len(calls) == 2 and calls[1][0] == ['/usr/sbin/nft', '-j', '-f', '-']
    table = {'family': 'inet', 'name': 'cni_node_x'}
    assert json.loads(calls[1][1].decode()) == {'nftables': [{'add': {'table': table}}]}

    def refusing(argv, stdin):
        return 1, '', 'Error: Could not process rule: No such file or directory'

    with pytest.raises(_nft.NftError) as exc:
        _nft.Nft(binary='/usr/sbin/nft', runner=refusing).apply([{'x': 1}])
    assert 'nothing was changed' in exc.value.msg


def test_remote_pods_are_peers_never_selected():
    pol = norm(name='web', pod_selector={}, ingress=[{'from': [{'pod_selector': {'match_labels': {'role': 'client'}}}]}],
               remote_pods=[{'labels': {'role': 'client'}, 'ips': ['10.1.0.5/24'], 'container_id': 'x', 'live': True},
                            {'labels': {'role': 'other'}, 'ips': ['10.1.0.6']}])
    assert pol['remote_pods'][0] == {'labels': {'role': 'client'}, 'ips': ['10.1.0.5']}
    m = _policyrules.compile_policies([pol], PODS)
    assert m.sets['web.i0.4'] == ('ipv4_addr', ['10.0.0.20', '10.1.0.5'])
    assert m.sets['web.sel4'] == ('ipv4_addr', ['10.0.0.10/31', '10.0.0.20'])
    with pytest.raises(ParameterError) as exc:
        norm(remote_pods=[{'ips': ['10.1.0.300']}])
    assert exc.value.param == 'remote_pods' and 'remote_pods[0].ips[0]' in exc.value.msg


def test_intervals_merge_and_render_as_nft_lists_them():
    c = _policyrules._collapse
    assert c([(10, 10), (11, 11), (12, 12)], 4) == ['0.0.0.10-0.0.0.12']
    assert c([(8, 11), (12, 15)], 4) == ['0.0.0.8/29']
    assert c([(1, 1), (3, 3)], 4) == ['0.0.0.1', '0.0.0.3']
    assert c([(0, 2 ** 32 - 1)], 4) == ['0.0.0.0/0']
    assert _policyrules._minus([(0, 255)], 128, 255) == [(0, 127)]
    assert _policyrules._minus([(0, 255)], 10, 10) == [(0, 9), (11, 255)]
