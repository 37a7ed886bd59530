# -*- coding: utf-8 -*-
"""_params: the checks of module parameters every module shares (absolute paths, lists of dictionaries)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _params
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError


@pytest.mark.parametrize('value', ['/opt/cni/bin', '/', '/a/../b'])
def test_absolute_paths_pass(value):
    assert _params.absolute_path(value, 'bin_dir') == value


def test_none_passes():
    assert _params.absolute_path(None, 'log_file') is None


@pytest.mark.parametrize('value', ['relbin', './relbin', '../x', '', 'opt/cni/bin', 5])
def test_relative_paths_are_refused_by_name(value):
    with pytest.raises(ParameterError) as exc:
        _params.absolute_path(value, 'bin_dir')
    assert exc.value.param == 'bin_dir'
    assert exc.value.msg == 'bin_dir: must be an absolute path, got %r' % (value,)


def test_a_nul_byte_is_refused():
    with pytest.raises(ParameterError) as exc:
        _params.absolute_path('/opt/cni\0/bin', 'bin_dir')
    assert exc.value.param == 'bin_dir' and 'NUL' in exc.value.msg


def test_check_paths_names_the_list_item():
    params = dict(conf_dir='/etc/cni/net.d', bin_dirs=['/opt/cni/bin', 'relbin'], log_file=None)
    with pytest.raises(ParameterError) as exc:
        _params.check_paths(params, ('conf_dir', 'bin_dirs', 'log_file'))
    assert exc.value.param == 'bin_dirs'
    assert exc.value.msg == "bin_dirs[1]: must be an absolute path, got 'relbin'"
    _params.check_paths(dict(params, bin_dirs=['/opt/cni/bin']), ('conf_dir', 'bin_dirs', 'log_file'))


@pytest.mark.parametrize('value', [None, '', 'blue', '/run/netns/blue', '/proc/1/ns/net'])
def test_netns_names_and_absolute_paths_pass(value):
    assert _params.netns_value(value) == value


def test_a_relative_netns_path_is_refused_by_name():
    with pytest.raises(ParameterError) as exc:
        _params.netns_value('run/netns/x')
    assert exc.value.param == 'netns' and exc.value.msg.startswith("netns: must be an absolute path, got 'run/netns/x'")
    assert 'must be absolute' in exc.value.msg and '/run/netns' in exc.value.msg


@pytest.mark.parametrize('value, fault', [
    ('blue', None), ('/run/netns/blue', None), ('/proc/1/ns/net', None), ('run/netns/x', 'relative'),
    ('./x', 'relative'), ('', 'name'), ('.', 'name'), ('..', 'name'), ('a\0b', 'nul'), ('/x\0', 'nul'),
])
def test_netns_fault_is_the_one_check(value, fault):
    assert _params.netns_fault(value) == fault


@pytest.mark.parametrize('value, words', [
    ('.', "netns: '.' is not a namespace name: give a name under /run/netns or an absolute path"),
    ('..', "netns: '..' is not a namespace name"),
    ('a\0b', "netns: must not contain a NUL byte"),
])
def test_dot_names_and_nul_bytes_are_refused_by_name(value, words):
    with pytest.raises(ParameterError) as exc:
        _params.netns_value(value)
    assert exc.value.param == 'netns' and exc.value.msg.startswith(words)


def test_dict_elements_names_a_nested_option_with_where():
    with pytest.raises(ParameterError) as exc:
        _params.dict_elements(['default'], 'veth', {'dst': {'required': True}, 'via': {}}, where='veth.routes')
    assert exc.value.param == 'veth'
    assert exc.value.msg == "veth.routes[0]: expected a dictionary with dst and via, got 'default'"
    with pytest.raises(ParameterError) as exc:
        _params.dict_elements([{'via': '10.0.0.1'}], 'veth', {'dst': {'required': True}, 'via': {}},
                              where='veth.routes')
    assert exc.value.msg == 'veth.routes[0]: dst is required'


PEER = dict(remote=dict(type='str', required=True), subnet=dict(type='str'), vtep_mac=dict(type='str', default='auto'))


def test_dict_elements_fill_defaults_and_convert_scalars():
    got = _params.dict_elements([{'remote': '10.0.0.1'}, {'remote': '10.0.0.2', 'subnet': '10.1.0.0/24',
                                                          'vtep_mac': None}], 'peers', PEER)
    assert got == [dict(remote='10.0.0.1', subnet=None, vtep_mac='auto'),
                   dict(remote='10.0.0.2', subnet='10.1.0.0/24', vtep_mac='auto')]
    assert _params.dict_elements(None, 'peers', PEER) is None
    assert _params.dict_elements([], 'peers', PEER) == []
    valid = _params.dict_elements([{'container_id': 5}], 'valid_attachments',
                                  dict(container_id=dict(type='str', required=True), ifname=dict(default='eth0')))
    assert valid == [dict(container_id='5', ifname='eth0')]


@pytest.mark.parametrize('value, what, msg', [
    (['10.0.0.1'], 'remote and subnet', "peers[0]: expected a dictionary with remote and subnet, got '10.0.0.1'"),
    ([{'remote': 'a'}, 7], None, 'peers[1]: expected a dictionary with remote, subnet and vtep_mac, got 7'),
    ([{'subnet': '10.1.0.0/24'}], None, 'peers[0]: remote is required'),
    ([{'remote': None}], None, 'peers[0]: remote is required'),
    ([{'remote': 'a', 'vni': 1}], None, 'peers[0]: unsupported key vni (valid: remote, subnet, vtep_mac)'),
    ([{'remote': ['a']}], None, "peers[0].remote: expected a string, got ['a']"),
    ('10.0.0.1', None, "peers: expected a list of dictionaries, got '10.0.0.1'"),
])
def test_dict_elements_refusals_name_the_element(value, what, msg):
    with pytest.raises(ParameterError) as exc:
        _params.dict_elements(value, 'peers', PEER, what=what)
    assert exc.value.param == 'peers' and exc.value.msg == msg


def test_dict_elements_types():
    options = dict(n=dict(type='int'), on=dict(type='bool'), any=dict(type='raw'))
    assert _params.dict_elements([dict(n='3', on='yes', any=[1])], 'x', options) == [dict(n=3, on=True, any=[1])]
    for bad, words in ((dict(n='three'), 'x[0].n: expected an integer'), (dict(n=True), 'x[0].n: expected an integer'),
                       (dict(on='maybe'), 'x[0].on: expected a boolean')):
        with pytest.raises(ParameterError) as exc:
            _params.dict_elements([bad], 'x', options)
        assert words in exc.value.msg
