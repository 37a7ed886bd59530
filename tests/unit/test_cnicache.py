# -*- coding: utf-8 -*-
"""The cache room: ids and runtime arguments as libcni checks them, and libcni's cache entries on temp directories."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
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
