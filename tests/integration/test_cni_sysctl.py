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

import pytest

from conftest import ns_read, ns_write, unique

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
    differing = sorted(k for k in DESIRED if initial[k] != NORMALISED[k])
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
    res = module('cni_sysctl', dict(params=current, sysctl_dir=str(tmp_path)))
    assert res['changed'] is True and res['file'] == str(conf)
    assert sorted(d['path'] for d in res['drift']) == sorted('persist/' + k for k in HOST_KEYS)
    expected = ('# Managed by cni.node.cni_sysctl: changes made here are overwritten.\n'
                + ''.join('%s = %s\n' % (k, current[k]) for k in sorted(HOST_KEYS)))
    assert conf.read_text() == expected
    assert stat.S_IMODE(conf.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ['90-cni-node.conf'], 'a temporary file was left behind'
    assert module('cni_sysctl', dict(params=current, sysctl_dir=str(tmp_path)))['changed'] is False
    assert host_values() == current

    # A stale key in the file: kept without exclusive, removed with it.
    conf.write_text(expected + 'net.ipv4.stale_key = 1\n')
    keep = module('cni_sysctl', dict(params=current, sysctl_dir=str(tmp_path)))
    assert 'net.ipv4.stale_key = 1\n' in conf.read_text()
    assert [d['path'] for d in keep['drift']] == ['file/' + str(conf)]   # reformatted (sorted) only
    check = module('cni_sysctl', dict(params=current, sysctl_dir=str(tmp_path), exclusive=True), check=True)
    assert check['drift'] == [dict(path='persist/net.ipv4.stale_key', before='1', after=None)]
    assert 'net.ipv4.stale_key' in conf.read_text()
    excl = module('cni_sysctl', dict(params=current, sysctl_dir=str(tmp_path), exclusive=True))
    assert excl['drift'] == check['drift'] and conf.read_text() == expected

    # state=absent takes keys out of the file, and the file with the last one.
    one = module('cni_sysctl', dict(params={'net.core.somaxconn': None}, state='absent', sysctl_dir=str(tmp_path)))
    assert one['drift'] == [dict(path='persist/net.core.somaxconn', before=current['net.core.somaxconn'], after=None)]
    assert 'somaxconn' not in conf.read_text()
    module('cni_sysctl', dict(params={}, exclusive=True, state='absent', sysctl_dir=str(tmp_path)))
    assert not conf.exists()
    assert host_values() == current


def failing(res):
    assert res.get('failed') is True, res
    return res['msg']


@pytest.mark.parametrize('params, words', [
    ({'net.core.somaxconn': 1000, 'net.ipv4.no_such_key': 1}, 'params.net.ipv4.no_such_key: unknown key'),
    ({'net.core.somaxconn': 'lots'}, "params.net.core.somaxconn: 'lots' is not valid"),
    ({'net.core.somaxconn': 1000, 'net.ipv4.ip_local_port_range': [1000]},
     'params.net.ipv4.ip_local_port_range'),
    # The kernel refuses the second key after the first was written: the first is put back.
    ({'net.core.somaxconn': 1000, 'net.ipv4.ip_default_ttl': 300}, 'params.net.ipv4.ip_default_ttl'),
    ({'net.core.somaxconn': 1000, 'kernel.pid_max': 4194304}, 'params.kernel.pid_max: not a per-network-namespace'),
    ({'net.core.somaxconn': 1000, 'net.core.netdev_max_backlog': 2000}, 'global key'),
    ({'net.core.somaxconn': 1.5}, 'params.net.core.somaxconn'),
])
def test_bad_input_changes_nothing(module, netns, params, words):
    keys = [k for k in params if k.startswith('net.') and os.path.exists('/proc/sys/' + k.replace('.', '/'))]
    before = {k: ns_read(netns, k) for k in keys if k != 'net.core.netdev_max_backlog'}
    msg = failing(module('cni_sysctl', dict(params=params, netns=netns)))
    assert words in msg
    assert {k: ns_read(netns, k) for k in before} == before


def test_global_key_precondition():
    # The "global key" case above relies on this key existing on the host only.
    assert os.path.exists('/proc/sys/net/core/netdev_max_backlog')


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
    args = dict(args, netns=netns)
    res = module('cni_sysctl', args)
    msg = failing(res)
    assert param in msg
