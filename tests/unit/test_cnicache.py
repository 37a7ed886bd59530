# -*- coding: utf-8 -*-
"""The cache room: ids and runtime arguments as libcni checks them, and libcni's cache entries on temp directories."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import collections
import json
import os
import stat

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cnicache, _cniloader
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError


# ---------------------------------------------------------------- ids, netns, args

@pytest.mark.parametrize('network, cid, ifname, param', [
    ('net', '-bad', 'eth0', 'container_id'),
    ('net', 'a b', 'eth0', 'container_id'),
    ('bad/name', 'c1', 'eth0', 'network'),
    ('net', 'c1', 'x' * 16, 'ifname'),
    ('net', 'c1', 'eth:0', 'ifname'),
    ('net', 'c1', '..', 'ifname'),
    ('net', 'c1', '', 'ifname'),
    ('net', 'c1', 'eth 0', 'ifname'),
    ('net', 'c1', u'eth\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9', 'ifname'),
])
def test_ids_libcni_refuses_name_their_parameter(network, cid, ifname, param):
    with pytest.raises(ParameterError) as exc:
        _cnicache.validate_ids(network, cid, ifname)
    assert exc.value.param == param
    assert exc.value.msg.startswith(param)


def test_ifname_limit_counts_bytes_not_characters():
    """15 characters of which some are not ASCII: more than the kernel's 15 bytes (IFNAMSIZ)."""
    name = u'eth' + u'\u00e9' * 12
    assert len(name) == 15 and len(name.encode('utf-8')) == 27
    with pytest.raises(ParameterError) as exc:
        _cnicache.validate_ids('net', 'c1', name)
    assert exc.value.param == 'ifname'
    assert exc.value.msg == u'ifname %r is 27 bytes long: a Linux interface name has at most 15' % name


@pytest.mark.parametrize('ifname', ['eth0', 'x' * 15, u'\u00e9' * 7, u'net-\u00e9\u00e9-1234'])
def test_ifnames_up_to_15_bytes_are_taken(ifname):
    assert len(ifname.encode('utf-8')) <= 15
    _cnicache.validate_ids('net', 'c1', ifname)


def test_valid_ids_pass():
    _cnicache.validate_ids('pod-net.1', 'abc_123.x-y', 'eth0')


@pytest.mark.parametrize('netns, path', [
    ('pod1', '/run/netns/pod1'), ('/proc/1/ns/net', '/proc/1/ns/net'), (None, ''), ('', ''),
])
def test_netns_path(netns, path):
    assert _cnicache.netns_path(netns) == path


def test_relative_netns_path_is_refused():
    with pytest.raises(ParameterError) as exc:
        _cnicache.netns_path('a/b')
    assert exc.value.param == 'netns'


def test_netns_path_asks_the_one_check_in_params(monkeypatch):
    seen = []
    monkeypatch.setattr(_cnicache, 'netns_fault', lambda value: seen.append(value) or 'name')
    with pytest.raises(ParameterError) as exc:
        _cnicache.netns_path('pod1')
    assert seen == ['pod1'] and exc.value.param == 'netns'


@pytest.mark.parametrize('netns', ['.', '..', 'a\0b'])
def test_dot_names_and_nul_bytes_are_refused(netns):
    with pytest.raises(ParameterError) as exc:
        _cnicache.netns_path(netns)
    assert exc.value.param == 'netns'


def test_args_keep_their_order_and_refuse_separators():
    pairs = _cnicache.normalise_args({'K8S_POD_NAME': 'web', 'IP': '10.0.0.5'})
    assert pairs == [['K8S_POD_NAME', 'web'], ['IP', '10.0.0.5']]
    assert _cnicache.normalise_args([['A', 1], {'key': 'B', 'value': None}]) == [['A', '1'], ['B', '']]
    for bad in ({'A=B': 'x'}, {'A': 'x;y'}, [['only-one']]):
        with pytest.raises(ParameterError) as exc:
            _cnicache.normalise_args(bad)
        assert exc.value.param == 'args'


# ---------------------------------------------------------------- the cache

def test_cache_entry_is_libcnis_format_and_reads_back(tmp_path):
    net = _cniloader.Network('podnet', '1.0.0', [{'type': 'bridge'}],
                             b'{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"bridge"}]}\n')
    rt = _cnicache.RuntimeConf('c1', '/run/netns/p', 'eth0', args={'A': '1'}, capability_args={'mac': 'x'})
    result = {'cniVersion': '1.0.0', 'ips': [{'address': '10.0.0.2/24'}]}
    entry = _cnicache.encode_cache(net, rt, result)
    assert list(entry) == ['kind', 'containerId', 'config', 'ifName', 'networkName', 'netns', 'cniArgs',
                           'capabilityArgs', 'result']
    assert base64.b64decode(entry['config']) == net.raw and entry['kind'] == 'cniCacheV1'
    path = _cnicache.cache_path(str(tmp_path), 'podnet', 'c1', 'eth0')
    assert path == str(tmp_path / 'results' / 'podnet-c1-eth0')
    _cnicache.write_cache(path, entry)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    back = _cnicache.read_cache(path)
    assert (back.result, back.netns, back.cni_args, back.capability_args) == (
        result, '/run/netns/p', [['A', '1']], {'mac': 'x'})
    assert back.network().name == 'podnet' and back.config_bytes() == net.raw
    again = back.runtime_conf(_cnicache.RuntimeConf('c1', '', 'eth0'))
    assert (again.netns, again.args) == ('/run/netns/p', [['A', '1']])
    assert [e.path for e in _cnicache.cached_attachments(str(tmp_path), network='podnet')] == [path]
    assert _cnicache.cached_attachments(str(tmp_path), network='other') == []


def test_empty_optional_fields_are_left_out_like_go_omitempty():
    entry = _cnicache.encode_cache(_cniloader.Network('n', '1.0.0', [], b'{}'), _cnicache.RuntimeConf('c', '', 'eth0'),
                                   None)
    assert sorted(entry) == ['config', 'containerId', 'ifName', 'kind', 'networkName']


def test_legacy_corrupt_and_missing_cache_entries(tmp_path):
    assert _cnicache.read_cache(str(tmp_path / 'none')) is None
    (tmp_path / 'legacy').write_text('{"cniVersion": "0.3.1", "ips": []}')
    legacy = _cnicache.read_cache(str(tmp_path / 'legacy'))
    assert legacy.legacy and legacy.result == {'cniVersion': '0.3.1', 'ips': []} and legacy.network() is None
    (tmp_path / 'broken').write_text('{nope')
    broken = _cnicache.read_cache(str(tmp_path / 'broken'))
    assert broken.error.startswith('not valid JSON') and broken.result is None


# ---------------------------------------------------------------- where an entry names its namespace

PODMAN_SANDBOX = '/run/netns/netns-6c1e2f0a-93d4-4b7e-a1f2-0c9d8e7b6a51'


def podman_entry(network='cntpd-net', container_id='4a1f' * 16, sandbox=PODMAN_SANDBOX, netns=None,
                 result_version='1.0.0', data_dir='/tmp/cnt-podman-x/ipam'):
    """The text of a cache entry shaped exactly like the one podman 4.3.1 (Debian, CNI backend) wrote here.

    Captured from a real run (tests/integration/runtime/test_cni_gc_podman.py
    makes one): libcni's keys in its order, compact JSON, no ``netns``
    (that podman's libcni predates it), the namespace only in the container
    interface's ``sandbox``, the result's keys sorted (a Go map). Ids,
    addresses and MACs are made up. ``netns`` adds the key as libcni 1.2+
    writes it; ``sandbox=None`` leaves the key out; ``result_version='0.2.0'``
    gives the result libcni converts to for a 0.2.0 network (no interfaces).
    """
    conflist = ('{"cniVersion":"1.0.0","name":"%s","plugins":[{"type":"bridge","bridge":"cnp1a2b3c4d",'
                '"isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","dataDir":"%s",'
                '"ranges":[[{"subnet":"10.199.7.0/24"}]]}}]}\n' % (network, data_dir)).encode()
    eth0 = {'mac': '36:40:8e:00:00:02', 'name': 'eth0'}
    if sandbox is not None:
        eth0['sandbox'] = sandbox
    if result_version == '0.2.0':
        result = {'cniVersion': '0.2.0', 'dns': {}, 'ip4': {'gateway': '10.199.7.1', 'ip': '10.199.7.2/24'}}
    else:
        result = {'cniVersion': result_version, 'dns': {}, 'interfaces': [
            {'mac': 'b6:1c:fb:00:00:01', 'name': 'cnp1a2b3c4d'}, {'mac': 'ee:94:be:00:00:03', 'name': 'veth1a2b3c4d'},
            eth0], 'ips': [{'address': '10.199.7.2/24', 'gateway': '10.199.7.1', 'interface': 2}]}
    entry = [('kind', 'cniCacheV1'), ('containerId', container_id),
             ('config', base64.b64encode(conflist).decode('ascii')), ('ifName', 'eth0'), ('networkName', network)]
    if netns is not None:
        entry.append(('netns', netns))
    entry += [('cniArgs', [['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'cntpd-c1']]),
              ('capabilityArgs', {'aliases': {network: [container_id[:12]]}}), ('result', result)]
    return json.dumps(collections.OrderedDict(entry), separators=(',', ':'))


def write_podman_entry(cache_dir, **kwargs):
    """Write ``podman_entry(**kwargs)`` where libcni keeps it (0600 in a 0700 ``results``); return the path."""
    text = podman_entry(**kwargs)
    data = json.loads(text)
    path = _cnicache.cache_path(cache_dir, data['networkName'], data['containerId'], data['ifName'])
    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    return path


@pytest.mark.parametrize('kwargs, namespace', [
    # podman 4.3 (CNI backend): no netns key; the container interface's sandbox, interfaces[2]
    ({}, (PODMAN_SANDBOX, 'result.interfaces[2].sandbox')),
    # libcni 1.2+: its netns key is trusted first, even over a sandbox naming another path
    ({'netns': '/run/netns/cni-1234'}, ('/run/netns/cni-1234', 'netns')),
    ({'netns': PODMAN_SANDBOX, 'sandbox': None}, (PODMAN_SANDBOX, 'netns')),
    # neither: the interface has no sandbox, or the result (0.2.0) has no interfaces
    ({'sandbox': None}, ('', None)),
    ({'result_version': '0.2.0'}, ('', None)),
    # a 0.3.1 result has interfaces too; a sandbox that is no path names no namespace
    ({'result_version': '0.3.1'}, (PODMAN_SANDBOX, 'result.interfaces[2].sandbox')),
    ({'sandbox': 'vm-4711'}, ('', None)),
    ({'sandbox': ''}, ('', None)),
])
def test_an_entry_names_its_namespace_in_netns_or_the_results_sandbox(tmp_path, kwargs, namespace):
    path = write_podman_entry(str(tmp_path), **kwargs)
    [entry] = _cnicache.cached_attachments(str(tmp_path), network='cntpd-net')
    assert entry.path == path and entry.namespace() == namespace
    assert entry.netns == kwargs.get('netns', '')        # the key itself, as cni_attachment compares it


def test_the_sandbox_of_the_entrys_interface_wins_else_the_only_one():
    ours = {'name': 'eth0', 'sandbox': '/run/netns/a'}
    other = {'name': 'net1', 'sandbox': '/run/netns/b'}
    host = {'name': 'cni0'}
    assert _cnicache.result_sandbox({'interfaces': [host, other, ours]}, 'eth0') == (
        '/run/netns/a', 'result.interfaces[2].sandbox')
    # no interface of that name: the sandbox every sandboxed interface shares, or none when they differ
    assert _cnicache.result_sandbox({'interfaces': [host, other]}, 'eth0') == (
        '/run/netns/b', 'result.interfaces[1].sandbox')
    assert _cnicache.result_sandbox({'interfaces': [host, other, dict(ours, name='net2')]}, 'eth0') == ('', None)
    for junk in (None, [], {'interfaces': None}, {'interfaces': ['x', 7, {'sandbox': 7}]}):
        assert _cnicache.result_sandbox(junk, 'eth0') == ('', None)


def test_a_legacy_bare_result_gives_its_sandbox_and_a_broken_entry_none(tmp_path):
    (tmp_path / 'legacy').write_text(json.dumps({'cniVersion': '0.3.1', 'interfaces': [
        {'name': 'eth0', 'sandbox': '/proc/4711/ns/net'}], 'ips': []}))
    assert _cnicache.read_cache(str(tmp_path / 'legacy')).namespace() == (
        '/proc/4711/ns/net', 'result.interfaces[0].sandbox')
    (tmp_path / 'broken').write_text('{nope')
    assert _cnicache.read_cache(str(tmp_path / 'broken')).namespace() == ('', None)
    (tmp_path / 'odd').write_text(json.dumps({'kind': 'cniCacheV1', 'netns': 7, 'ifName': 'eth0',
                                              'result': {'interfaces': [{'name': 'eth0', 'sandbox': '/x'}]}}))
    assert _cnicache.read_cache(str(tmp_path / 'odd')).namespace() == ('/x', 'result.interfaces[0].sandbox')


def test_writing_an_entry_removes_the_stale_temporaries_of_its_name(tmp_path):
    # A runtime killed between writing the entry's temporary and renaming it (issue 13 item 4).
    path = _cnicache.cache_path(str(tmp_path), 'podnet', 'c1', 'eth0')
    os.makedirs(os.path.dirname(path))
    stale = os.path.join(os.path.dirname(path), '.podnet-c1-eth0.abcd1234.tmp')
    other = os.path.join(os.path.dirname(path), '.podnet-c2-eth0.abcd1234.tmp')
    for name in (stale, other):
        with open(name, 'w') as f:
            f.write('{')
    _cnicache.write_cache(path, {'kind': 'cniCacheV1'})
    assert not os.path.exists(stale) and os.path.exists(other) and _cnicache.read_cache(path) is not None
