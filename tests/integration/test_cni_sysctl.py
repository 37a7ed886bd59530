# -*- coding: utf-8 -*-
"""cni_sysctl on the real kernel, in throwaway network namespaces.

Host-side tests (persistence file) only ask for the values the host has
already, so the host's kernel parameters never change; files go to a
temporary directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import subprocess

import pytest

from conftest import ns_read, ns_write, sh, unique

# Per-namespace keys and values that differ from a new namespace's defaults.
DESIRED = {
    'net.core.somaxconn': 1024,
    'net.ipv4.ip_local_port_range': [20000, 30000],
    'net.ipv4.conf.all.rp_filter': 2,
    'net.ipv4.tcp_fin_timeout': 30,
    'net.ipv4.ip_default_ttl': 70,
    'net.ipv4.conf.default.arp_ignore': 1,
    'net.ipv6.conf.all.hop_limit': 70,
}
NORMALISED = {k: ' '.join(str(x) for x in v) if isinstance(v, list) else str(v) for k, v in DESIRED.items()}


def snapshot(netns, keys):
    return {k: ns_read(netns, k) for k in keys}


def test_apply_idempotent_then_exact_drift(module, netns):
    initial = snapshot(netns, DESIRED)
    differing = [k for k in DESIRED if initial[k] != NORMALISED[k]]   # drift comes in the order given
    assert len(differing) >= 5, 'precondition: a new namespace has other defaults (%s)' % initial

    predicted = module('cni_sysctl', dict(params=DESIRED, netns=netns), check=True)
    assert snapshot(netns, DESIRED) == initial, 'check mode changed the kernel'

    first = module('cni_sysctl', dict(params=DESIRED, netns=netns))
    assert first['changed'] is True
    assert first['drift'] == predicted['drift']
    assert [d['path'] for d in first['drift']] == ['sysctl/' + k for k in differing]
    assert snapshot(netns, DESIRED) == NORMALISED
    assert first['values'] == NORMALISED and first['params'] == NORMALISED
    assert first['file'] is None

    second = module('cni_sysctl', dict(params=DESIRED, netns=netns))
    assert second['changed'] is False and second['drift'] == [] and second['diff'] == []

    # Drift behind the module's back: one key.
    ns_write(netns, 'net.core.somaxconn', 555)
    drifted = snapshot(netns, DESIRED)
    check = module('cni_sysctl', dict(params=DESIRED, netns=netns), check=True)
    assert check['changed'] is True
    assert check['drift'] == [dict(path='sysctl/net.core.somaxconn', before='555', after='1024')]
    assert check['diff'][0]['before'] == {'net.core.somaxconn': '555'}
    assert snapshot(netns, DESIRED) == drifted, 'check mode changed the kernel'

    fix = module('cni_sysctl', dict(params=DESIRED, netns=netns))
    assert fix['changed'] is True and fix['drift'] == check['drift']
    assert snapshot(netns, DESIRED) == NORMALISED

    assert module('cni_sysctl', dict(params=DESIRED, netns=netns))['changed'] is False


def test_whitespace_and_boolean_forms_are_the_same_value(module, netns):
    module('cni_sysctl', dict(params={'net.ipv4.ip_local_port_range': '21000 31000',
                                      'net.ipv4.conf.all.arp_filter': True}, netns=netns))
    res = module('cni_sysctl', dict(params={'net.ipv4.ip_local_port_range': '21000\t  31000',
                                            'net/ipv4/conf/all/arp_filter': 'yes'}, netns=netns))
    assert res['changed'] is False, res['drift']


def test_netns_given_as_path(module, netns):
    res = module('cni_sysctl', dict(params={'net.core.somaxconn': 777}, netns='/run/netns/' + netns))
    assert res['changed'] is True and ns_read(netns, 'net.core.somaxconn') == '777'


HOST_KEYS = ('net.ipv4.ip_forward', 'net.core.somaxconn', 'net.ipv4.ip_local_port_range',
             'net.ipv4.conf.all.rp_filter', 'net.ipv4.tcp_fin_timeout')


def host_values():
    return {k: ns_read(None, k) for k in HOST_KEYS}


def test_persistence_file_is_exact(module, tmp_path):
    current = host_values()   # ask for what the host has: its runtime never changes
    conf = tmp_path / '90-cni-node.conf'
    mods = tmp_path.parent / (tmp_path.name + '-modules')
    mods.mkdir()
    args = dict(params=current, sysctl_dir=str(tmp_path), modules_load_dir=str(mods))
    res = module('cni_sysctl', args)
    assert res['changed'] is True and res['file'] == str(conf)
    assert [d['path'] for d in res['drift']] == ['persist/' + k for k in HOST_KEYS]
    # Lines in the order given: systemd-sysctl applies them in file order.
    expected = ('# Managed by cni.node.cni_sysctl: changes made here are overwritten.\n'
                + ''.join('%s = %s\n' % (k, current[k]) for k in HOST_KEYS))
    assert conf.read_text() == expected
    assert stat.S_IMODE(conf.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ['90-cni-node.conf'], 'a temporary file was left behind'
    assert module('cni_sysctl', args)['changed'] is False
    assert host_values() == current

    # A stale key in the file: kept without exclusive, removed with it.
    conf.write_text(expected + 'net.ipv4.stale_key = 1\n')
    keep = module('cni_sysctl', args)
    # Kept, and moved before the task's keys: only the order changed.
    assert conf.read_text().splitlines()[1] == 'net.ipv4.stale_key = 1'
    assert [d['path'] for d in keep['drift']] == ['file' + str(conf)]
    check = module('cni_sysctl', dict(args, exclusive=True), check=True)
    assert check['drift'] == [dict(path='persist/net.ipv4.stale_key', before='1', after=None)]
    assert 'net.ipv4.stale_key' in conf.read_text()
    excl = module('cni_sysctl', dict(args, exclusive=True))
    assert excl['drift'] == check['drift'] and conf.read_text() == expected

    # state=absent takes keys out of the file, and the file with the last one.
    one = module('cni_sysctl', dict(args, params={'net.core.somaxconn': None}, state='absent'))
    assert one['drift'] == [dict(path='persist/net.core.somaxconn', before=current['net.core.somaxconn'], after=None)]
    assert 'somaxconn' not in conf.read_text()
    module('cni_sysctl', dict(args, params={}, exclusive=True, state='absent'))
    assert not conf.exists()
    assert host_values() == current
    assert list(mods.iterdir()) == []


def failing(res):
    assert res.get('failed') is True, res
    return res['msg']


@pytest.mark.parametrize('params, words', [
    ({'net.core.somaxconn': 1000, 'net.ipv4.no_such_key': 1}, 'params.net.ipv4.no_such_key: unknown key'),
    ({'net.core.somaxconn': 'lots'}, "params.net.core.somaxconn: 'lots' is not valid"),
    ({'net.core.somaxconn': 1000, 'net.ipv4.ip_local_port_range': [1000]},
     'params.net.ipv4.ip_local_port_range'),
    # The kernel refuses the second key after the first was written: the first is put back.
    ({'net.core.somaxconn': 1000, 'net.ipv4.ip_default_ttl': 300},
     "params.net.ipv4.ip_default_ttl: the kernel refused '300' (Invalid argument); the values this run had "
     "written were put back (net.core.somaxconn)"),
    ({'net.core.somaxconn': 1000, 'kernel.pid_max': 4194304}, 'params.kernel.pid_max: not a per-network-namespace'),
    ({'net.core.somaxconn': 1000, 'net.core.netdev_max_backlog': 2000}, 'global key'),
    ({'net.core.somaxconn': 1.5}, 'params.net.core.somaxconn'),
])
def test_bad_input_changes_nothing(module, netns, params, words):
    if 'net.core.netdev_max_backlog' in params:   # a global key: on the host, not in a namespace
        assert os.path.exists('/proc/sys/net/core/netdev_max_backlog')
        assert ns_read(netns, 'net.core.somaxconn') and not has_key(netns, 'net.core.netdev_max_backlog')
    before = {k: ns_read(netns, k) for k in params if k.startswith('net.') and has_key(netns, k)}
    msg = failing(module('cni_sysctl', dict(params=params, netns=netns)))
    assert words in msg
    assert {k: ns_read(netns, k) for k in before} == before


def has_key(netns, key):
    path = '/proc/sys/' + key.replace('.', '/')
    return sh('ip', 'netns', 'exec', netns, 'test', '-f', path, check=False) == '' and \
        subprocess.call(['ip', 'netns', 'exec', netns, 'test', '-f', path]) == 0


@pytest.mark.parametrize('order', ['reset-first', 'reset-last'])
def test_keys_that_reset_each_other(module, netns, order):
    # Writing net.ipv4.ip_forward resets every net.ipv4.conf.*.forwarding.
    ns_write(netns, 'net.ipv4.ip_forward', 0)
    ns_write(netns, 'net.ipv4.conf.lo.forwarding', 0)
    keys = ['net.ipv4.ip_forward', 'net.ipv4.conf.lo.forwarding']
    if order == 'reset-last':
        keys.reverse()
    want = {'net.ipv4.ip_forward': 1, 'net.ipv4.conf.lo.forwarding': 0}
    params = dict((k, want[k]) for k in keys)
    check = module('cni_sysctl', dict(params=params, netns=netns), check=True)
    res = module('cni_sysctl', dict(params=params, netns=netns))
    assert res.get('changed') is True and res['drift'] == check['drift'], res
    assert snapshot(netns, want) == {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.lo.forwarding': '0'}
    assert module('cni_sysctl', dict(params=params, netns=netns))['changed'] is False


def test_one_value_under_two_names_fails_and_is_put_back(module, netns):
    ns_write(netns, 'net.ipv4.ip_forward', 1)
    keys = ('net.ipv4.ip_forward', 'net.ipv4.conf.all.forwarding')
    before = snapshot(netns, keys)
    msg = failing(module('cni_sysctl', dict(params={keys[0]: 0, keys[1]: 1}, netns=netns)))
    assert 'cannot hold' in msg and 'put back' in msg
    assert snapshot(netns, keys) == before


def test_netns_that_is_not_a_namespace(module, tmp_path):
    fifo = tmp_path / 'fifo'
    os.mkfifo(str(fifo))   # opening a FIFO for reading would block forever
    assert 'not a network namespace file' in failing(
        module('cni_sysctl', dict(params={'net.core.somaxconn': 1000}, netns=str(fifo))))
    plain = tmp_path / 'plain'
    plain.write_text('')   # what a stale /run/netns entry looks like
    assert 'not a network namespace file' in failing(
        module('cni_sysctl', dict(params={'net.core.somaxconn': 1000}, netns=str(plain))))
    assert 'must be absolute' in failing(
        module('cni_sysctl', dict(params={'net.core.somaxconn': 1000}, netns='run/netns/x')))


def test_missing_namespace_is_not_created(module):
    name = unique()
    msg = failing(module('cni_sysctl', dict(params={'net.core.somaxconn': 1000}, netns=name)))
    assert "network namespace '%s' does not exist" % name in msg
    assert not os.path.exists('/run/netns/' + name)
    # Check mode too.
    failing(module('cni_sysctl', dict(params={'net.core.somaxconn': 1000}, netns=name), check=True))
    assert not os.path.exists('/run/netns/' + name)


def test_persist_with_netns_refused(module, netns, tmp_path):
    before = ns_read(netns, 'net.core.somaxconn')
    res = module('cni_sysctl', dict(params={'net.core.somaxconn': 999}, netns=netns, persist=True,
                                    sysctl_dir=str(tmp_path)))
    assert res['param'] == 'persist' and 'persist' in failing(res)
    assert ns_read(netns, 'net.core.somaxconn') == before and list(tmp_path.iterdir()) == []


def test_missing_directory_refused(module, tmp_path):
    current = host_values()
    missing = tmp_path / 'no' / 'such'
    res = module('cni_sysctl', dict(params=current, sysctl_dir=str(missing)))
    assert res['param'] == 'sysctl_dir' and 'does not exist' in failing(res)
    assert list(tmp_path.iterdir()) == [] and host_values() == current


@pytest.mark.parametrize('args, param', [
    (dict(params={'net.core.somaxconn': 1}, state='maybe'), 'state'),
    (dict(params={'net.core.somaxconn': 1}, file='../../etc/passwd'), 'file'),
    (dict(params=['net.core.somaxconn']), 'params'),
])
def test_argument_errors_name_the_parameter(module, netns, args, param):
    res = module('cni_sysctl', dict(args, netns=netns))
    msg = failing(res)
    assert msg.startswith(param) or ' %s ' % param in msg or " '%s' " % param in msg, msg
    if 'param' in res:   # the module's own checks say which parameter; Ansible's say it in words
        assert res['param'] == param
