# -*- coding: utf-8 -*-
"""The dhcp IPAM room: its keys, the daemon socket on real unix sockets, the DEL order, facts from a fake /proc."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cnicache, _cniexec, _cniloader, _cnispec, _dhcp
from ansible_collections.cni.node.plugins.module_utils._cnivalues import ConfigError


def lst(ipam, ptype='bridge'):
    return {'cniVersion': '1.0.0', 'name': 'dh', 'plugins': [{'type': ptype, 'ipam': ipam}]}


def network(ipam, name='dh'):
    return _cniloader.network_from_bytes(json.dumps(dict(lst(ipam), name=name)).encode())


GOOD = [
    {'type': 'dhcp'},
    {'type': 'dhcp', 'daemonSocketPath': '/run/x/dhcp.sock'},
    {'type': 'dhcp', 'request': [{'skipDefault': False}, {'option': 'classless-static-routes'}, {'option': 121}]},
    {'type': 'dhcp', 'provide': [{'option': 'host-name', 'fromArg': 'K8S_POD_NAME'},
                                 {'option': '12', 'value': 'pod-a'}]},
    {'type': 'dhcp', 'timeout': '10s', 'resendMax': '1m2s', 'broadcast': True, 'priority': 100},
]


@pytest.mark.parametrize('ipam', GOOD)
def test_known_keys_are_accepted_unchanged(ipam):
    warnings = []
    out = _cnispec.normalise_list(lst(ipam), warnings=warnings)
    assert out['plugins'][0]['ipam'] == ipam and warnings == []


BAD = [
    ({'type': 'dhcp', 'daemonSocketPath': 'run/dhcp.sock'}, 'plugins[0].ipam.daemonSocketPath', 'absolute'),
    ({'type': 'dhcp', 'daemonSocketPath': 5}, 'plugins[0].ipam.daemonSocketPath', 'absolute path'),
    ({'type': 'dhcp', 'request': {'option': 'x'}}, 'plugins[0].ipam.request', 'a list'),
    ({'type': 'dhcp', 'request': [{}]}, 'plugins[0].ipam.request[0]', '"skipDefault"'),
    ({'type': 'dhcp', 'request': [{'option': 'Host Name'}]}, 'plugins[0].ipam.request[0].option', 'lower-case'),
    ({'type': 'dhcp', 'request': [{'option': 255}]}, 'plugins[0].ipam.request[0].option', '1 to 254'),
    ({'type': 'dhcp', 'request': [{'option': True}]}, 'plugins[0].ipam.request[0].option', 'not a DHCP option'),
    ({'type': 'dhcp', 'request': [{'option': 'a', 'skipDefault': 'yes'}]},
     'plugins[0].ipam.request[0].skipDefault', 'true or false'),
    ({'type': 'dhcp', 'request': [{'option': 'a', 'value': 'b'}]}, 'plugins[0].ipam.request[0].value',
     'valid: option, skipDefault'),
    ({'type': 'dhcp', 'provide': [{'option': 'host-name'}]}, 'plugins[0].ipam.provide[0]', 'exactly one'),
    ({'type': 'dhcp', 'provide': [{'option': 'host-name', 'value': 'a', 'fromArg': 'B'}]},
     'plugins[0].ipam.provide[0]', 'exactly one'),
    ({'type': 'dhcp', 'provide': [{'value': 'a'}]}, 'plugins[0].ipam.provide[0]', 'needs "option"'),
    ({'type': 'dhcp', 'provide': [{'option': 'host-name', 'value': 3}]}, 'plugins[0].ipam.provide[0].value',
     'a string'),
    ({'type': 'dhcp', 'timeout': 10}, 'plugins[0].ipam.timeout', 'duration'),
    ({'type': 'dhcp', 'resendMax': '10'}, 'plugins[0].ipam.resendMax', 'with a unit'),
    ({'type': 'dhcp', 'broadcast': 'true'}, 'plugins[0].ipam.broadcast', 'true or false'),
    ({'type': 'dhcp', 'priority': -1}, 'plugins[0].ipam.priority', 'from 0 to 4294967295'),
]


@pytest.mark.parametrize('ipam,path,words', BAD)
def test_bad_keys_name_their_json_path(ipam, path, words):
    with pytest.raises(ConfigError) as err:
        _cnispec.normalise_list(lst(ipam))
    assert err.value.path == path and words in err.value.msg, err.value.msg


def test_unknown_key_is_a_warning():
    warnings = []
    _cnispec.normalise_list(lst({'type': 'dhcp', 'daemonSocket': '/x'}), warnings=warnings)
    assert warnings == ['plugins[0].ipam: the dhcp IPAM does not know daemonSocket (known: daemonSocketPath, '
                        'request, provide, priority, routes, timeout, resendMax, broadcast)']


# ---------------------------------------------------------------- the socket, for real

@pytest.fixture
def listening(tmp_path):
    path = str(tmp_path / 'dhcp.sock')
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    yield path
    srv.close()


def test_socket_problem_tells_each_case(tmp_path, listening):
    assert _dhcp.socket_problem(listening) is None
    assert _dhcp.socket_problem(str(tmp_path / 'missing.sock')) == 'does not exist'
    plain = tmp_path / 'plain'
    plain.write_text(u'x')
    assert _dhcp.socket_problem(str(plain)) == 'is not a socket'
    dead = str(tmp_path / 'dead.sock')
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(dead)
    s.close()       # the file stays, nobody listens: a daemon that died
    assert _dhcp.socket_problem(dead).startswith('refuses connections')


def test_preflight_raises_naming_socket_and_role_or_warns_in_check_mode(tmp_path, listening):
    net = network({'type': 'dhcp', 'daemonSocketPath': str(tmp_path / 'gone.sock')})
    with pytest.raises(_dhcp.DaemonUnavailable) as err:
        _dhcp.preflight(net)
    assert err.value.param == 'network'
    assert "network 'dh' (plugins[0].ipam, type dhcp): no dhcp daemon answers on %s: it does not exist" \
        % (tmp_path / 'gone.sock') in err.value.msg
    assert 'cni.node.dhcp' in err.value.msg and 'nothing was changed' in err.value.msg
    warnings = []
    _dhcp.preflight(net, check_mode=True, warnings=warnings)
    assert len(warnings) == 1 and 'check mode: the real run fails here' in warnings[0]
    _dhcp.preflight(network({'type': 'dhcp', 'daemonSocketPath': listening}))          # answers: nothing
    _dhcp.preflight(network({'type': 'host-local', 'subnet': '10.1.0.0/24'}))           # not dhcp: nothing


def test_socket_warnings_for_cni_network(tmp_path, listening):
    conf = _cnispec.normalise_list(lst({'type': 'dhcp', 'daemonSocketPath': str(tmp_path / 'no.sock')}))
    assert len(_dhcp.socket_warnings(conf)) == 1
    assert _dhcp.socket_warnings(_cnispec.normalise_list(lst({'type': 'dhcp', 'daemonSocketPath': listening}))) == []


def test_daemon_differences(tmp_path, listening):
    assert _dhcp.daemon_differences(network({'type': 'dhcp', 'daemonSocketPath': listening})) == []
    gone = str(tmp_path / 'x.sock')
    assert _dhcp.daemon_differences(network({'type': 'dhcp', 'daemonSocketPath': gone})) == [
        ('dhcp_daemon', 'plugins[0]: %s does not exist' % gone, 'answering')]


# ---------------------------------------------------------------- the DEL order

class FakeRunner(object):
    def __init__(self, fail=False):
        self.calls, self.warnings, self.fail = [], [], fail

    def invoke(self, network, plugin, command, rt, prev_result=None):
        self.calls.append((plugin['type'], plugin['ipam'], command, rt.ifname, prev_result))
        if self.fail:
            raise _cniexec.CniFailure('boom', plugin='dhcp', command=command)


def test_release_first_runs_the_dhcp_binary_with_the_same_configuration(listening):
    net = network({'type': 'dhcp', 'daemonSocketPath': listening})
    runner = FakeRunner()
    rt = _cnicache.RuntimeConf('c1', '/run/netns/x', 'net1')
    _dhcp.release_first(runner, net, rt, {'cniVersion': '1.0.0'})
    assert runner.calls == [('dhcp', {'type': 'dhcp', 'daemonSocketPath': listening}, 'DEL', 'net1',
                             {'cniVersion': '1.0.0'})] and runner.warnings == []
    failing = FakeRunner(fail=True)
    _dhcp.release_first(failing, net, rt, None)
    assert failing.warnings == ['releasing the dhcp lease of plugins[0] before DEL failed: boom']


def test_release_first_skips_a_dead_daemon_with_a_warning_and_ignores_other_ipam(tmp_path):
    runner = FakeRunner()
    rt = _cnicache.RuntimeConf('c1', '/run/netns/x', 'eth0')
    _dhcp.release_first(runner, network({'type': 'dhcp', 'daemonSocketPath': str(tmp_path / 'n.sock')}), rt, None)
    assert runner.calls == [] and 'server keeps it until it expires' in runner.warnings[0]
    runner = FakeRunner()
    _dhcp.release_first(runner, network({'type': 'host-local', 'subnet': '10.1.0.0/24'}), rt, None)
    assert runner.calls == [] and runner.warnings == []


def test_check_skip_reason_only_for_dhcp():
    assert 'plugins 1.2.0' in _dhcp.check_skip_reason(network({'type': 'dhcp'}))
    assert _dhcp.check_skip_reason(network({'type': 'host-local', 'subnet': '10.1.0.0/24'})) is None


# ---------------------------------------------------------------- facts

def fake_proc(root, pid, argv, exe):
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / 'cmdline').write_bytes(b'\0'.join(a.encode() for a in argv) + b'\0')
    os.symlink(exe, str(d / 'exe'))


def test_daemons_from_proc(tmp_path):
    proc = tmp_path / 'proc'
    fake_proc(proc, 40, ['/usr/lib/cni/dhcp', 'daemon', '-socketpath', '/run/a.sock', '-pidfile', '/run/a.pid',
                         '-broadcast'], '/usr/lib/cni/dhcp')
    fake_proc(proc, 7, ['/opt/cni/bin/dhcp', 'daemon'], '/opt/cni/bin/dhcp')
    fake_proc(proc, 9, ['/usr/bin/sleep', '10'], '/usr/bin/sleep')
    (proc / 'self').mkdir()
    got = _dhcp.daemons(str(proc))
    assert [(d['pid'], d['socket'], d['pid_file']) for d in got] == [(7, _dhcp.DEFAULT_SOCKET, None),
                                                                     (40, '/run/a.sock', '/run/a.pid')]
    assert got[1]['options'] == ['-socketpath', '/run/a.sock', '-pidfile', '/run/a.pid', '-broadcast']


def test_stale_leases_and_facts(tmp_path, listening):
    net = network({'type': 'dhcp', 'daemonSocketPath': listening})
    cache_dir = str(tmp_path / 'cache')
    for cid, netns in (('live', '/run/netns/live'), ('dead', '/run/netns/dead')):
        rt = _cnicache.RuntimeConf(cid, netns, 'eth0')
        result = {'cniVersion': '1.0.0', 'ips': [{'address': '10.5.0.%d/24' % len(cid), 'gateway': '10.5.0.1'}]}
        _cnicache.write_cache(_cnicache.cache_path(cache_dir, 'dh', cid, 'eth0'),
                              _cnicache.encode_cache(net, rt, result))
    entries = _cnicache.cached_attachments(cache_dir)
    stale = [e for e in entries if e.container_id == 'dead']
    assert _dhcp.stale_leases(net, stale) == [dict(address='10.5.0.4', container_id='dead', ifname='eth0',
                                                   lease_file=None, via='dhcp_daemon', socket=listening)]
    facts = _dhcp.facts([net], entries, lambda p: p.endswith('/live'), proc=str(tmp_path / 'noproc'))
    assert facts['networks']['dh']['sockets'] == [listening]
    assert [(item['container_id'], item['address'], item['stale']) for item in facts['networks']['dh']['leases']] \
        == [('dead', '10.5.0.4/24', True), ('live', '10.5.0.4/24', False)]
    by_socket = dict((d['socket'], d) for d in facts['daemons'])
    assert by_socket[listening]['answers'] is True and by_socket[listening]['networks'] == ['dh']
    assert by_socket[listening]['pid'] is None            # no dhcp daemon process in the fake /proc
    assert _dhcp.DEFAULT_SOCKET in by_socket


def test_binary_version_of_the_real_plugin():
    path = '/usr/lib/cni/dhcp'
    if not os.path.exists(path):
        pytest.skip('Debian\'s containernetworking-plugins is not installed (no %s)' % path)
    version, spec = _dhcp.binary_version(path)
    assert version and '1.0.0' in spec


# ---------------------------------------------------------------- the hooks in the runtime

def _runner(tmp_path, calls):
    from ansible_collections.cni.node.plugins.module_utils import _cniruntime
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name in ('bridge', 'dhcp'):
        (bin_dir / name).write_text(u'#!/bin/sh\n')
        (bin_dir / name).chmod(0o755)

    def executor(path, command, stdin, env=None, timeout=None):
        calls.append((os.path.basename(path), command, json.loads(stdin.decode())['ipam']['type'], env['CNI_IFNAME']))
        out = json.dumps({'cniVersion': '1.0.0', 'ips': [{'address': '10.5.0.9/24'}]}) if command == 'ADD' else ''
        return _cniexec.Invocation(path, command, env, stdin, 0, out, '', 0.01)
    return _cniruntime, _cniruntime.Runner([str(bin_dir)], check_binaries=False, executor=executor)


def test_runtime_del_runs_the_dhcp_release_before_the_chain(tmp_path, listening):
    calls = []
    _runtime, runner = _runner(tmp_path, calls)
    net = network({'type': 'dhcp', 'daemonSocketPath': listening})
    runner.delete(net, _cnicache.RuntimeConf('c1', '/run/netns/p', 'net1'), {'cniVersion': '1.0.0'})
    assert calls == [('dhcp', 'DEL', 'dhcp', 'net1'), ('bridge', 'DEL', 'dhcp', 'net1')]
    assert [i['plugin'] for i in runner.invocations] == ['dhcp', 'bridge']


def test_runtime_add_with_a_dead_daemon_runs_no_plugin(tmp_path):
    calls = []
    runtime, runner = _runner(tmp_path, calls)
    net = network({'type': 'dhcp', 'daemonSocketPath': str(tmp_path / 'none.sock')})
    rt = _cnicache.RuntimeConf('c1', '', 'eth0')
    with pytest.raises(_dhcp.DaemonUnavailable):
        runtime.reconcile(runner, lambda: net, rt, 'present', str(tmp_path / 'cache'))
    assert calls == [] and not os.path.exists(str(tmp_path / 'cache'))
    predicted = runtime.reconcile(runner, lambda: net, rt, 'present', str(tmp_path / 'cache'), check_mode=True)
    assert predicted.changes.changed and calls == [] and 'check mode' in runner.warnings[-1]


def test_runtime_rerun_skips_check_and_reports_a_dead_daemon_as_drift(tmp_path):
    calls = []
    runtime, runner = _runner(tmp_path, calls)
    sock = str(tmp_path / 'd.sock')
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(1)
    net = network({'type': 'dhcp', 'daemonSocketPath': sock})
    rt = _cnicache.RuntimeConf('c1', '', 'eth0')
    cache = str(tmp_path / 'cache')
    runtime.reconcile(runner, lambda: net, rt, 'present', cache)
    assert [c[:2] for c in calls] == [('bridge', 'ADD')]
    again = runtime.reconcile(runner, lambda: net, rt, 'present', cache)
    assert again.check == 'skipped' and again.actions == [] and len(calls) == 1      # no CHECK ran
    srv.close()                    # the daemon dies; its socket file stays
    predicted = runtime.reconcile(runner, lambda: net, rt, 'present', cache, check_mode=True)
    assert predicted.actions == [] and len(calls) == 1
    assert [(d['path'].split('/')[-1], d['after']) for d in predicted.changes.drift] == [('dhcp_daemon', 'answering')]
    assert predicted.changes.drift[0]['before'].startswith('plugins[0]: %s refuses connections' % sock)
    with pytest.raises(_dhcp.DaemonUnavailable):
        runtime.reconcile(runner, lambda: net, rt, 'present', cache)
    assert len(calls) == 1          # nothing ran: the attachment stays as it was
