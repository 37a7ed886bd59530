# -*- coding: utf-8 -*-
"""The runtime room: env and stdin building, capabilities, errors, masking, the runner and reconcile.

Plugin runs here use tiny fake plugins (a Python script in a temporary
directory, really executed): they reach what the reference plugins cannot -
a 1.1.0 GC/STATUS, a hang past the timeout, a chosen error. The real plugins
are exercised in tests/integration/runtime.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import sys

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cnicache, _cniexec, _cniloader
from ansible_collections.cni.node.plugins.module_utils import _cniruntime as rt_
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError


# ---------------------------------------------------------------- env and stdin

NET = _cniloader.Network('podnet', '1.0.0', [
    {'type': 'bridge', 'bridge': 'cni0', 'capabilities': {'mac': True}},
    {'type': 'portmap', 'capabilities': {'portMappings': True, 'bandwidth': False}},
], b'{}')


def test_env_holds_every_cni_variable():
    rt = _cnicache.RuntimeConf('c1', '/run/netns/p', 'eth0', args={'A': '1', 'B': '2'})
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
    net = _cniloader.Network('outer', '0.4.0', [{'type': 'x', 'name': 'inner', 'cniVersion': '0.3.1'}], b'{}')
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


def test_portmap_false_alarm_only_for_ipv4_only_results():
    failure = _cniexec.CniFailure('x', code=999, cni_msg='could not check ipv6 dnat: chain X not found',
                                  command='CHECK')
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
    return _cniloader.network_from_bytes(json.dumps(data).encode())


def test_add_chains_prev_result_and_del_runs_in_reverse_with_the_cached_result(fake):
    runner = fake.runner()
    net = chain()
    rt = _cnicache.RuntimeConf('c1', '/run/netns/x', 'eth0', capability_args={'portMappings': [1]})
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
    rt = _cnicache.RuntimeConf('c1', '', 'eth0')
    runner.delete(net, rt, {'ips': []})
    assert all('prevResult' not in r['stdin'] for r in fake.runs())
    with pytest.raises(rt_.AttachmentError):
        runner.check(net, rt, None)
    assert runner.check(chain(disableCheck=True), rt, None) == 'skipped'


def test_a_plugin_error_becomes_a_cni_failure_with_its_code(fake):
    net = chain()
    net.plugins[1]['behaviour'] = {'ADD': {'code': 11, 'msg': 'busy', 'details': 'retry'}}
    with pytest.raises(_cniexec.CniFailure) as exc:
        fake.runner().add(net, _cnicache.RuntimeConf('c1', '', 'eth0'))
    e = exc.value
    assert (e.code, e.cni_msg, e.cni_details, e.plugin, e.command) == (11, 'busy', 'retry', 'two', 'ADD')
    assert e.to_fail_kwargs()['cni_code'] == 11 and 'try again later' in e.msg


def test_a_hanging_plugin_is_killed_at_the_timeout(fake):
    net = chain()
    net.plugins[0]['behaviour'] = {'ADD': 'hang'}
    with pytest.raises(_cniexec.CniFailure) as exc:
        fake.runner(timeout=0.5).add(net, _cnicache.RuntimeConf('c1', '', 'eth0'))
    assert 'within 0.5 s' in exc.value.msg and exc.value.code is None


def test_missing_binary_names_bin_dirs(fake):
    net = _cniloader.network_from_bytes(b'{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"nope"}]}')
    with pytest.raises(_cniexec.CniFailure) as exc:
        fake.runner().add(net, _cnicache.RuntimeConf('c1', '', 'eth0'))
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
    runner.add(chain(), _cnicache.RuntimeConf('c1', '', 'eth0', args={'API_TOKEN': 'x'}))
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
    rt = _cnicache.RuntimeConf('c1', '/run/netns/x', 'eth0')
    kw = dict(netns_exists=lambda p: True)
    predicted = rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, check_mode=True, **kw)
    assert predicted.changes.changed and fake.runs() == [] and not os.path.exists(predicted.cache_path)
    done = rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, **kw)
    assert done.actions == ['ADD'] and _cnicache.read_cache(done.cache_path).result == done.result
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
    rt = _cnicache.RuntimeConf('c1', '/run/netns/x', 'eth0')
    rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, netns_exists=lambda p: True)

    def gone():
        raise ParameterError('no such network', param='network')
    out = rt_.reconcile(runner, gone, _cnicache.RuntimeConf('c1', '', 'eth0'), 'absent', fake.cache,
                        network_name='fakenet')
    assert out.actions == ['DEL'] and fake.runs()[-1]['env']['CNI_NETNS'] == '/run/netns/x'


def test_present_for_a_namespace_that_is_gone_fails_naming_netns(fake):
    runner = fake.runner()
    net = chain()
    rt = _cnicache.RuntimeConf('c1', '/run/netns/x', 'eth0')
    rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, netns_exists=lambda p: True)
    for check_mode in (True, False):
        with pytest.raises(ParameterError) as exc:
            rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, check_mode=check_mode,
                          netns_exists=lambda p: False)
        assert exc.value.param == 'netns' and 'stale' in exc.value.msg


def test_a_podman_entry_with_the_namespace_only_in_the_result_is_not_a_netns_difference(fake):
    # podman (netavark's CNI path) writes no ``netns`` key: the namespace is only in interfaces[].sandbox.
    runner = fake.runner()
    net = _cniloader.network_from_bytes(b'{"cniVersion":"1.0.0","name":"fakenet","disableCheck":true,'
                                        b'"plugins":[{"type":"one"}]}')
    rt = _cnicache.RuntimeConf('c1', '/run/netns/x', 'eth0')
    kw = dict(netns_exists=lambda p: True)
    done = rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, **kw)
    entry = _cnicache.read_cache(done.cache_path).data
    del entry['netns']
    entry['result']['interfaces'] = [{'name': 'eth0', 'sandbox': '/run/netns/x'}]
    _cnicache.write_cache(done.cache_path, entry)
    again = rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, **kw)
    assert not again.changes.changed and again.actions == []
    # A sandbox naming another namespace still is one.
    entry['result']['interfaces'] = [{'name': 'eth0', 'sandbox': '/run/netns/y'}]
    _cnicache.write_cache(done.cache_path, entry)
    other = rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, check_mode=True, **kw)
    assert [(d['path'].rsplit('/', 1)[1], d['before'], d['after']) for d in other.changes.drift] == [
        ('netns', '/run/netns/y', '/run/netns/x')]


def test_labels_are_recorded_and_changing_them_is_an_update_not_a_re_add(fake):
    from ansible_collections.cni.node.plugins.module_utils import _cniinfo
    runner = fake.runner()
    net = chain()
    kw = dict(netns_exists=lambda p: True)
    rt = _cnicache.RuntimeConf('c1', '/run/netns/x', 'eth0', labels={'app': 'web'})
    done = rt_.reconcile(runner, lambda: net, rt, 'present', fake.cache, **kw)
    assert done.actions == ['ADD'] and _cnicache.read_cache(done.cache_path).labels == {'app': 'web'}

    def commands():
        return [r['env']['CNI_COMMAND'] for r in fake.runs()]
    assert commands() == ['ADD', 'ADD', 'ADD']
    new = _cnicache.RuntimeConf('c1', '/run/netns/x', 'eth0', labels={'app': 'api'})
    predicted = rt_.reconcile(runner, lambda: net, new, 'present', fake.cache, check_mode=True, **kw)
    assert [d['path'] for d in predicted.changes.drift] == ['attachment/fakenet-c1-eth0/labels']
    assert _cnicache.read_cache(done.cache_path).labels == {'app': 'web'}
    relabel = rt_.reconcile(runner, lambda: net, new, 'present', fake.cache, **kw)
    assert relabel.actions == [] and relabel.changes.drift == [
        {'path': 'attachment/fakenet-c1-eth0/labels', 'before': {'app': 'web'}, 'after': {'app': 'api'}}]
    entry = _cnicache.read_cache(done.cache_path)
    assert entry.labels == {'app': 'api'} and entry.result == done.result
    assert commands() == ['ADD'] * 3 + ['CHECK'] * 6      # CHECK in check mode and the real run; no DEL, ADD
    # labels not given: the cached ones are kept, nothing changes
    keep = rt_.reconcile(runner, lambda: net, _cnicache.RuntimeConf('c1', '/run/netns/x', 'eth0'), 'present',
                         fake.cache, **kw)
    assert not keep.changes.changed and _cnicache.read_cache(done.cache_path).labels == {'app': 'api'}
    info = _cniinfo.attachments(fake.cache, netns_exists=lambda p: True)
    assert info['fakenet'][0]['labels'] == {'app': 'api'} and info['fakenet'][0]['live'] is True
