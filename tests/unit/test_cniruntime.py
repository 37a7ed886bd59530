# -*- coding: utf-8 -*-
"""The runtime core's pure logic: versions, names, env and stdin building, capabilities, cache, errors, masking.

Plugin runs here use tiny fake plugins (a Python script in a temporary
directory, really executed): they reach what the reference plugins cannot -
a 1.1.0 GC/STATUS, a hang past the timeout, a chosen error. The real plugins
are exercised in tests/integration/runtime.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import stat
import sys

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cniruntime as rt_
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError


# ---------------------------------------------------------------- versions, names, args

@pytest.mark.parametrize('version, versions, expected', [
    ('1.0.0', None, '1.0.0'),
    ('', None, ''),
    ('0.4.0', ['1.0.0', '0.3.1'], '1.0.0'),
    ('1.0.0', ['0.3.1'], '1.0.0'),
    ('', ['0.4.0', '1.1.0', '9.0.0'], '1.1.0'),      # versions above the implemented spec are skipped
    ('', ['9.0.0'], ''),
])
def test_effective_version_is_the_highest_implemented(version, versions, expected):
    assert rt_.effective_version(version, versions) == expected


@pytest.mark.parametrize('value, other, expected', [
    ('0.4.0', '0.4.0', True), ('0.3.1', '0.4.0', False), ('1.0.0', '0.4.0', True), ('', '0.4.0', False),
    ('1.1.0', '1.1.0', True),
])
def test_version_at_least(value, other, expected):
    assert rt_.version_at_least(value, other) is expected


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
        rt_.validate_ids(network, cid, ifname)
    assert exc.value.param == param
    assert exc.value.msg.startswith(param)


def test_ifname_limit_counts_bytes_not_characters():
    """15 characters of which some are not ASCII: more than the kernel's 15 bytes (IFNAMSIZ)."""
    name = u'eth' + u'\u00e9' * 12
    assert len(name) == 15 and len(name.encode('utf-8')) == 27
    with pytest.raises(ParameterError) as exc:
        rt_.validate_ids('net', 'c1', name)
    assert exc.value.param == 'ifname'
    assert exc.value.msg == u'ifname %r is 27 bytes long: a Linux interface name has at most 15' % name


@pytest.mark.parametrize('ifname', ['eth0', 'x' * 15, u'\u00e9' * 7, u'net-\u00e9\u00e9-1234'])
def test_ifnames_up_to_15_bytes_are_taken(ifname):
    assert len(ifname.encode('utf-8')) <= 15
    rt_.validate_ids('net', 'c1', ifname)


def test_valid_ids_pass():
    rt_.validate_ids('pod-net.1', 'abc_123.x-y', 'eth0')


@pytest.mark.parametrize('netns, path', [
    ('pod1', '/run/netns/pod1'), ('/proc/1/ns/net', '/proc/1/ns/net'), (None, ''), ('', ''),
])
def test_netns_path(netns, path):
    assert rt_.netns_path(netns) == path


def test_relative_netns_path_is_refused():
    with pytest.raises(ParameterError) as exc:
        rt_.netns_path('a/b')
    assert exc.value.param == 'netns'


def test_args_keep_their_order_and_refuse_separators():
    pairs = rt_.normalise_args({'K8S_POD_NAME': 'web', 'IP': '10.0.0.5'})
    assert pairs == [['K8S_POD_NAME', 'web'], ['IP', '10.0.0.5']]
    assert rt_.normalise_args([['A', 1], {'key': 'B', 'value': None}]) == [['A', '1'], ['B', '']]
    for bad in ({'A=B': 'x'}, {'A': 'x;y'}, [['only-one']]):
        with pytest.raises(ParameterError) as exc:
            rt_.normalise_args(bad)
        assert exc.value.param == 'args'


# ---------------------------------------------------------------- env and stdin

NET = rt_.Network('podnet', '1.0.0', [
    {'type': 'bridge', 'bridge': 'cni0', 'capabilities': {'mac': True}},
    {'type': 'portmap', 'capabilities': {'portMappings': True, 'bandwidth': False}},
], b'{}')


def test_env_holds_every_cni_variable():
    rt = rt_.RuntimeConf('c1', '/run/netns/p', 'eth0', args={'A': '1', 'B': '2'})
    assert rt_.build_env('ADD', rt, ['/opt/cni/bin', '/usr/lib/cni']) == {
        'CNI_COMMAND': 'ADD', 'CNI_CONTAINERID': 'c1', 'CNI_NETNS': '/run/netns/p', 'CNI_IFNAME': 'eth0',
        'CNI_ARGS': 'A=1;B=2', 'CNI_PATH': '/opt/cni/bin:/usr/lib/cni'}
    assert rt_.build_env('STATUS', None, ['/b']) == {
        'CNI_COMMAND': 'STATUS', 'CNI_CONTAINERID': '', 'CNI_NETNS': '', 'CNI_IFNAME': '', 'CNI_ARGS': '',
        'CNI_PATH': '/b'}


def test_stdin_gets_name_version_prev_result_and_only_declared_capabilities():
    caps = {'portMappings': [{'hostPort': 80, 'containerPort': 8080}], 'bandwidth': {'ingressRate': 1},
            'ips': ['10.0.0.5/24']}
    prev = {'cniVersion': '1.0.0', 'ips': []}
    bridge = rt_.build_stdin(NET.plugins[0], NET, None, caps)
    assert bridge == {'type': 'bridge', 'bridge': 'cni0', 'capabilities': {'mac': True}, 'name': 'podnet',
                      'cniVersion': '1.0.0'}
    portmap = rt_.build_stdin(NET.plugins[1], NET, prev, caps)
    assert portmap['prevResult'] == prev and portmap['name'] == 'podnet'
    assert portmap['runtimeConfig'] == {'portMappings': caps['portMappings']}   # bandwidth: declared false
    assert 'runtimeConfig' not in NET.plugins[1] and 'name' not in NET.plugins[1]   # the network is not altered


def test_plugin_name_and_version_are_replaced_by_the_lists():
    net = rt_.Network('outer', '0.4.0', [{'type': 'x', 'name': 'inner', 'cniVersion': '0.3.1'}], b'{}')
    stdin = rt_.build_stdin(net.plugins[0], net)
    assert (stdin['name'], stdin['cniVersion']) == ('outer', '0.4.0')


def test_a_null_capability_value_is_refused():
    with pytest.raises(ParameterError) as exc:
        rt_.runtime_config({'type': 'x', 'capabilities': {'mac': True}}, {'mac': None})
    assert exc.value.param == 'capability_args'


# ---------------------------------------------------------------- errors and masking

def test_plugin_error_json_becomes_code_message_details():
    assert rt_.parse_error(1, {'code': 7, 'msg': 'bad', 'details': 'why'}, '', '') == (7, 'bad', 'why')
    assert rt_.parse_error(1, None, 'not json', 'panic: x') == (None, 'panic: x', None)
    assert rt_.parse_error(2, None, '', '') == (None, 'exit code 2 and no error message', None)
    msg = rt_.failure_message({'type': 'bridge'}, 'ADD', 7, 'bad', 'why')
    assert msg == 'plugin type="bridge" failed (add): CNI error 7 (invalid network config): bad (why)'


def test_secrets_are_masked_in_the_log():
    conf = {'type': 'x', 'auth': {'token': 'abc', 'user': 'u'}, 'apiKey': 'k', 'list': [{'password': 'p'}]}
    assert rt_.mask(conf) == {'type': 'x', 'auth': {'token': rt_.MASK, 'user': 'u'}, 'apiKey': rt_.MASK,
                              'list': [{'password': rt_.MASK}]}
    env = rt_.masked_env({'CNI_ARGS': 'K8S_POD_NAME=web;AUTH_TOKEN=s3cret', 'CNI_COMMAND': 'ADD'})
    assert env == {'CNI_ARGS': 'K8S_POD_NAME=web;AUTH_TOKEN=%s' % rt_.MASK, 'CNI_COMMAND': 'ADD'}


# ---------------------------------------------------------------- networks

def test_a_single_plugin_configuration_is_upconverted():
    net = rt_.network_from_bytes(b'{"cniVersion": "0.4.0", "name": "one", "type": "bridge"}')
    assert (net.name, net.cni_version, [p['type'] for p in net.plugins]) == ('one', '0.4.0', ['bridge'])
    assert json.loads(net.raw.decode()) == {'name': 'one', 'cniVersion': '0.4.0',
                                            'plugins': [{'cniVersion': '0.4.0', 'name': 'one', 'type': 'bridge'}]}


def test_inline_config_is_validated_and_errors_name_config():
    with pytest.raises(ParameterError) as exc:
        rt_.inline_network({'cniVersion': '1.0.0', 'name': 'n', 'plugins': [
            {'type': 'bridge', 'ipam': {'type': 'host-local', 'subnet': '10.0.0.0/33'}}]})
    assert exc.value.param == 'config' and exc.value.msg.startswith('config.plugins[0].ipam.subnet')
    net = rt_.inline_network({'cniVersion': '1.0.0', 'name': 'n', 'disableCheck': 'true',
                              'plugins': [{'type': 'loopback'}]})
    assert net.disable_check is True and net.name == 'n'


def test_load_network_by_name_with_plugins_from_the_sibling_folder(tmp_path):
    text = '{"cniVersion": "1.0.0", "name": "split", "plugins": [{"type": "bridge"}]}\n'
    (tmp_path / '10-split.conflist').write_text(text)
    (tmp_path / 'split').mkdir()
    (tmp_path / 'split' / '20-tuning.conf').write_text('{"type": "tuning"}')
    (tmp_path / 'split' / '10-portmap.conf').write_text('{"type": "portmap"}')
    (tmp_path / 'split' / 'ignored.json').write_text('{"type": "nope"}')
    net = rt_.load_network(str(tmp_path), 'split')
    assert [p['type'] for p in net.plugins] == ['bridge', 'portmap', 'tuning']
    assert net.path == str(tmp_path / '10-split.conflist')
    # The cache holds the whole chain, so a DEL from the cache runs the sibling plugins too.
    assert [p['type'] for p in rt_.network_from_bytes(net.raw).plugins] == ['bridge', 'portmap', 'tuning']
    inlined_only = text.replace('"plugins"', '"loadOnlyInlinedPlugins": true, "plugins"')
    (tmp_path / '10-split.conflist').write_text(inlined_only)
    inlined_net = rt_.load_network(str(tmp_path), 'split')
    assert [p['type'] for p in inlined_net.plugins] == ['bridge'] and inlined_net.raw == inlined_only.encode()
    with pytest.raises(ParameterError) as exc:
        rt_.load_network(str(tmp_path), 'other')
    assert exc.value.param == 'network' and 'other' in exc.value.msg


# ---------------------------------------------------------------- the cache

def test_cache_entry_is_libcnis_format_and_reads_back(tmp_path):
    net = rt_.Network('podnet', '1.0.0', [{'type': 'bridge'}],
                      b'{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"bridge"}]}\n')
    rt = rt_.RuntimeConf('c1', '/run/netns/p', 'eth0', args={'A': '1'}, capability_args={'mac': 'x'})
    result = {'cniVersion': '1.0.0', 'ips': [{'address': '10.0.0.2/24'}]}
    entry = rt_.encode_cache(net, rt, result)
    assert list(entry) == ['kind', 'containerId', 'config', 'ifName', 'networkName', 'netns', 'cniArgs',
                           'capabilityArgs', 'result']
    assert base64.b64decode(entry['config']) == net.raw and entry['kind'] == 'cniCacheV1'
    path = rt_.cache_path(str(tmp_path), 'podnet', 'c1', 'eth0')
    assert path == str(tmp_path / 'results' / 'podnet-c1-eth0')
    rt_.write_cache(path, entry)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    back = rt_.read_cache(path)
    assert (back.result, back.netns, back.cni_args, back.capability_args) == (
        result, '/run/netns/p', [['A', '1']], {'mac': 'x'})
    assert back.network().name == 'podnet' and back.config_bytes() == net.raw
    again = back.runtime_conf(rt_.RuntimeConf('c1', '', 'eth0'))
    assert (again.netns, again.args) == ('/run/netns/p', [['A', '1']])
    assert [e.path for e in rt_.cached_attachments(str(tmp_path), network='podnet')] == [path]
    assert rt_.cached_attachments(str(tmp_path), network='other') == []


def test_empty_optional_fields_are_left_out_like_go_omitempty():
    entry = rt_.encode_cache(rt_.Network('n', '1.0.0', [], b'{}'), rt_.RuntimeConf('c', '', 'eth0'), None)
    assert sorted(entry) == ['config', 'containerId', 'ifName', 'kind', 'networkName']


def test_legacy_corrupt_and_missing_cache_entries(tmp_path):
    assert rt_.read_cache(str(tmp_path / 'none')) is None
    (tmp_path / 'legacy').write_text('{"cniVersion": "0.3.1", "ips": []}')
    legacy = rt_.read_cache(str(tmp_path / 'legacy'))
    assert legacy.legacy and legacy.result == {'cniVersion': '0.3.1', 'ips': []} and legacy.network() is None
    (tmp_path / 'broken').write_text('{nope')
    broken = rt_.read_cache(str(tmp_path / 'broken'))
    assert broken.error.startswith('not valid JSON') and broken.result is None


def test_portmap_false_alarm_only_for_ipv4_only_results():
    failure = rt_.CniFailure('x', code=999, cni_msg='could not check ipv6 dnat: chain X not found', command='CHECK')
    v4 = {'ips': [{'address': '10.0.0.2/24'}]}
    v6 = {'ips': [{'address': 'fd00::2/64'}]}
    assert rt_.portmap_ipv6_false_alarm({'type': 'portmap'}, failure, v4)
    assert not rt_.portmap_ipv6_false_alarm({'type': 'portmap'}, failure, v6)
    assert not rt_.portmap_ipv6_false_alarm({'type': 'bridge'}, failure, v4)


# ---------------------------------------------------------------- running fake plugins

FAKE = r'''#!%(python)s
import json, os, sys, time
conf = json.load(sys.stdin)
env = dict((k, v) for k, v in os.environ.items() if k.startswith('CNI_'))
with open(%(record)r, 'a') as f:
    f.write(json.dumps({'type': conf['type'], 'env': env, 'stdin': conf}) + '\n')
behaviour = conf.get('behaviour', {}).get(os.environ['CNI_COMMAND'])
if behaviour == 'hang':
    time.sleep(30)
if isinstance(behaviour, dict):
    print(json.dumps(behaviour))
    sys.exit(1)
if os.environ['CNI_COMMAND'] == 'ADD':
    prev = conf.get('prevResult') or {'cniVersion': conf['cniVersion'], 'ips': [], 'interfaces': []}
    prev = dict(prev, interfaces=prev.get('interfaces', []) + [{'name': conf['type']}])
    print(json.dumps(prev))
'''


@pytest.fixture
def fake(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    record = str(tmp_path / 'record.jsonl')
    for name in ('one', 'two', 'three'):
        path = bin_dir / name
        path.write_text(FAKE % dict(python=sys.executable, record=record))
        path.chmod(0o755)

    class Fake(object):
        dir = str(bin_dir)
        cache = str(tmp_path / 'cache')
        log = str(tmp_path / 'invocations.jsonl')

        @staticmethod
        def runs():
            if not os.path.exists(record):
                return []
            with open(record) as f:
                return [json.loads(line) for line in f]

        @staticmethod
        def runner(**kw):
            return rt_.Runner([str(bin_dir)], check_binaries=False, **kw)
    return Fake


def chain(version='1.0.0', **extra):
    data = {'cniVersion': version, 'name': 'fakenet',
            'plugins': [{'type': 'one'}, {'type': 'two', 'capabilities': {'portMappings': True}}, {'type': 'three'}]}
    data.update(extra)
    return rt_.network_from_bytes(json.dumps(data).encode())


def test_add_chains_prev_result_and_del_runs_in_reverse_with_the_cached_result(fake):
    runner = fake.runner()
    net = chain()
    rt = rt_.RuntimeConf('c1', '/run/netns/x', 'eth0', capability_args={'portMappings': [1]})
    result = runner.add(net, rt)
    assert [i['name'] for i in result['interfaces']] == ['one', 'two', 'three']
    runs = fake.runs()
    assert [r['type'] for r in runs] == ['one', 'two', 'three']
    assert 'prevResult' not in runs[0]['stdin'] and runs[2]['stdin']['prevResult']['interfaces'][-1] == {
        'name': 'two'}
    assert runs[1]['stdin']['runtimeConfig'] == {'portMappings': [1]} and 'runtimeConfig' not in runs[0]['stdin']
    runner.delete(net, rt, result)
    dels = fake.runs()[3:]
    assert [r['type'] for r in dels] == ['three', 'two', 'one']
    assert all(r['stdin']['prevResult'] == result and r['env']['CNI_COMMAND'] == 'DEL' for r in dels)


def test_del_before_0_4_0_gets_no_prev_result_and_check_is_refused(fake):
    runner = fake.runner()
    net = chain('0.3.1')
    rt = rt_.RuntimeConf('c1', '', 'eth0')
    runner.delete(net, rt, {'ips': []})
    assert all('prevResult' not in r['stdin'] for r in fake.runs())
    with pytest.raises(rt_.AttachmentError):
        runner.check(net, rt, None)
    assert runner.check(chain(disableCheck=True), rt, None) == 'skipped'


def test_a_plugin_error_becomes_a_cni_failure_with_its_code(fake):
    net = chain()
    net.plugins[1]['behaviour'] = {'ADD': {'code': 11, 'msg': 'busy', 'details': 'retry'}}
    with pytest.raises(rt_.CniFailure) as exc:
        fake.runner().add(net, rt_.RuntimeConf('c1', '', 'eth0'))
    e = exc.value
    assert (e.code, e.cni_msg, e.cni_details, e.plugin, e.command) == (11, 'busy', 'retry', 'two', 'ADD')
    assert e.to_fail_kwargs()['cni_code'] == 11 and 'try again later' in e.msg


def test_a_hanging_plugin_is_killed_at_the_timeout(fake):
    net = chain()
    net.plugins[0]['behaviour'] = {'ADD': 'hang'}
    with pytest.raises(rt_.CniFailure) as exc:
        fake.runner(timeout=0.5).add(net, rt_.RuntimeConf('c1', '', 'eth0'))
    assert 'within 0.5 s' in exc.value.msg and exc.value.code is None


def test_missing_binary_names_bin_dirs(fake):
    net = rt_.network_from_bytes(b'{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"nope"}]}')
    with pytest.raises(rt_.CniFailure) as exc:
        fake.runner().add(net, rt_.RuntimeConf('c1', '', 'eth0'))
    assert exc.value.param == 'bin_dirs' and 'nope' in exc.value.msg


def test_gc_and_status_run_only_from_1_1_0(fake):
    runner = fake.runner()
    assert runner.gc(chain('1.0.0'), [('c1', 'eth0')]) is False and runner.status(chain('1.0.0')) is None
    assert fake.runs() == []
    assert runner.gc(chain('1.1.0'), [('c1', 'eth0')]) is True
    gcs = fake.runs()
    assert [r['env']['CNI_COMMAND'] for r in gcs] == ['GC'] * 3
    assert gcs[0]['stdin']['cni.dev/valid-attachments'] == [{'containerID': 'c1', 'ifname': 'eth0'}]
    assert gcs[0]['env']['CNI_CONTAINERID'] == ''
    assert runner.status(chain('1.1.0')) == 'available'
    assert runner.gc(chain('1.1.0', disableGC=True), []) is False


def test_the_log_file_gets_one_json_line_per_invocation(fake):
    runner = fake.runner(log_file=fake.log)
    runner.add(chain(), rt_.RuntimeConf('c1', '', 'eth0', args={'API_TOKEN': 'x'}))
    with open(fake.log) as f:
        lines = [json.loads(line) for line in f]
    assert [(l['plugin'], l['command'], l['exit_code']) for l in lines] == [
        ('one', 'ADD', 0), ('two', 'ADD', 0), ('three', 'ADD', 0)]
    assert lines[0]['env']['CNI_ARGS'] == 'API_TOKEN=' + rt_.MASK and lines[0]['stdin']['name'] == 'fakenet'
    assert json.loads(lines[2]['stdout'])['interfaces'][-1] == {'name': 'three'}
    assert stat.S_IMODE(os.stat(fake.log).st_mode) == 0o600
    assert len(runner.invocations) == 3


def test_reconcile_present_adds_then_checks_and_absent_deletes(fake):
    runner = fake.runner()
    net = chain()
    rt = rt_.RuntimeConf('c1', '/run/netns/x', 'eth0')
    kw = dict(netns_exists=lambda p: True)
    predicted = rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, check_mode=True, **kw)
    assert predicted.changes.changed and fake.runs() == [] and not os.path.exists(predicted.cache_path)
    done = rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, **kw)
    assert done.actions == ['ADD'] and rt_.read_cache(done.cache_path).result == done.result
    again = rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, **kw)
    assert not again.changes.changed and again.check == 'passed' and again.result == done.result
    # The configuration changed since: drift, redone with DEL of the cached configuration, then ADD.
    other = chain(disableCheck=True)
    redo = rt_.reconcile(runner, lambda: other, rt, 'present', fake.cache, **kw)
    assert redo.actions == ['DEL', 'ADD'] and [d['path'].rsplit('/', 1)[1] for d in redo.changes.drift] == [
        'config']
    gone = rt_.reconcile(runner, lambda: other, rt, 'absent', fake.cache, **kw)
    assert gone.actions == ['DEL'] and not os.path.exists(gone.cache_path)
    nothing = rt_.reconcile(runner, lambda: other, rt, 'absent', fake.cache, **kw)
    assert not nothing.changes.changed and nothing.actions == []


def test_absent_without_the_network_file_uses_the_cached_configuration(fake):
    runner = fake.runner()
    net = chain()
    rt = rt_.RuntimeConf('c1', '/run/netns/x', 'eth0')
    rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, netns_exists=lambda p: True)

    def gone():
        raise ParameterError('no such network', param='network')
    out = rt_.reconcile(runner, gone, rt_.RuntimeConf('c1', '', 'eth0'), 'absent', fake.cache,
                        network_name='fakenet')
    assert out.actions == ['DEL'] and fake.runs()[-1]['env']['CNI_NETNS'] == '/run/netns/x'


def test_present_for_a_namespace_that_is_gone_fails_naming_netns(fake):
    runner = fake.runner()
    net = chain()
    rt = rt_.RuntimeConf('c1', '/run/netns/x', 'eth0')
    rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, netns_exists=lambda p: True)
    for check_mode in (True, False):
        with pytest.raises(ParameterError) as exc:
            rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, check_mode=check_mode,
                          netns_exists=lambda p: False)
        assert exc.value.param == 'netns' and 'stale' in exc.value.msg
