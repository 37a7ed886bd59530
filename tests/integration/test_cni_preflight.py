# -*- coding: utf-8 -*-
"""cni_preflight on the real kernel: its verdicts checked against what the kernel really has.

The underlay checks run in a ``cnt-`` namespace on a dummy link the test
makes (a veth pair ``cnv``/``cnp`` + hex); the read-only /proc/sys case runs the module in a
private mount namespace (``unshare -m``) where /proc/sys is remounted
read-only, so the host's mounts are never touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import json
import os

import pytest

from conftest import INTERPRETERS, sh, unique

FEATURE_SYMBOL = dict(vxlan='CONFIG_VXLAN', bridge='CONFIG_BRIDGE', macvlan='CONFIG_MACVLAN', ipvlan='CONFIG_IPVLAN',
                      veth='CONFIG_VETH', nf_tables='CONFIG_NF_TABLES', br_netfilter='CONFIG_BRIDGE_NETFILTER')


def _kernel_config():
    """{symbol: value} of the running kernel, read here independently of the module; None when unavailable."""
    for path in ('/proc/config.gz', '/boot/config-%s' % os.uname()[2]):
        if os.path.exists(path):
            opener = gzip.open if path.endswith('.gz') else open
            with opener(path, 'rt') as f:
                out = {}
                for line in f:
                    line = line.strip()
                    if line.startswith('CONFIG_') and '=' in line:
                        k, v = line.split('=', 1)
                        out[k] = v
                    elif line.startswith('# CONFIG_') and line.endswith(' is not set'):
                        out[line.split()[1]] = 'n'
                return out
    return None


def _by_name(result):
    return dict((c['name'], c) for c in result['checks'])


def test_features_the_kernel_has_pass(module):
    result = module('cni_preflight', dict(profile='overlay', checks=['kernel'], fail_on_missing=False), check=True)
    assert result['changed'] is False
    checks = _by_name(result)
    # Probed independently: a live module shows in /sys/module.
    for feature in ('bridge', 'vxlan'):
        if os.path.isdir('/sys/module/' + feature):
            assert checks['kernel.' + feature]['ok'], checks['kernel.' + feature]
    if os.path.isdir('/proc/sys/net/bridge'):
        assert checks['kernel.br_netfilter']['ok']


def test_verdicts_match_the_kernel_configuration(module):
    config = _kernel_config()
    if config is None:
        pytest.skip('the kernel configuration is not readable here (/proc/config.gz, /boot/config-*): nothing to '
                    'compare the verdicts with')
    result = module('cni_preflight', dict(features=sorted(FEATURE_SYMBOL), checks=['kernel'], fail_on_missing=False))
    checks = _by_name(result)
    for feature, symbol in FEATURE_SYMBOL.items():
        if config.get(symbol, 'n') == 'y':
            assert checks['kernel.' + feature]['ok'], checks['kernel.' + feature]
        elif config.get(symbol, 'n') == 'n':
            c = checks['kernel.' + feature]
            assert not c['ok'] and c['required'] and 'is not set' in c['evidence'], c


def test_a_missing_feature_fails_the_module(module):
    config = _kernel_config()
    missing = sorted(f for f, s in FEATURE_SYMBOL.items() if config and config.get(s, 'n') == 'n')
    if not missing:
        pytest.skip('this kernel has every feature cni_preflight knows (or no readable configuration): no real '
                    'missing kernel object to refuse on')
    result = module('cni_preflight', dict(features=['bridge', missing[0]], checks=['kernel']))
    assert result['failed'] and result['missing'] == ['kernel.' + missing[0]]
    assert 'nothing was changed' in result['msg'] and FEATURE_SYMBOL[missing[0]] in result['msg']


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_underlay_state_and_mtu(module, netns, interpreter):
    dev = unique('cnv')
    # A veth (the kernel may lack dummy): created down, MTU 1400.
    sh('ip', 'netns', 'exec', netns, 'ip', 'link', 'add', dev, 'mtu', '1400', 'type', 'veth', 'peer', 'name',
       'cnp' + dev[3:])
    args = dict(underlay=dev, overlay_mtu=1450, checks=['underlay'], netns=netns)
    before = sh('ip', 'netns', 'exec', netns, 'ip', '-o', 'link', 'show')
    result = module('cni_preflight', args, python=interpreter)
    assert result['failed'] and result['missing'] == ['underlay.up', 'underlay.mtu'], result
    assert 'raise the MTU of %s to 1500' % dev in result['msg']
    assert sh('ip', 'netns', 'exec', netns, 'ip', '-o', 'link', 'show') == before   # read-only
    sh('ip', 'netns', 'exec', netns, 'ip', 'link', 'set', dev, 'up', 'mtu', '1500')
    result = module('cni_preflight', args, python=interpreter)
    assert not result.get('failed') and result['ready'] and result['missing'] == [], result
    v6 = module('cni_preflight', dict(args, underlay_family='ipv6'), python=interpreter)
    assert v6['missing'] == ['underlay.mtu'] and 'needs 1520' in v6['msg']
    gone = module('cni_preflight', dict(args, underlay=unique('cnv')), python=interpreter)
    assert gone['missing'] == ['underlay.exists']


def test_writable_sysctl_in_a_namespace(module, netns):
    result = module('cni_preflight', dict(checks=['sysctl'], netns=netns,
                                          sysctl_keys=['net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter']))
    assert result['ready'], result
    assert 'writable: net.ipv4.ip_forward, net.ipv4.conf.all.rp_filter' in result['checks'][0]['evidence']


def test_read_only_proc_sys_is_refused(module, tmp_path):
    if not os.path.exists('/usr/bin/unshare'):
        pytest.skip('unshare(1) is missing: no private mount namespace to make /proc/sys read-only in')
    # A private mount namespace: /proc/sys bind-mounted over itself and remounted read-only, as docker mounts it.
    prefix = ('unshare', '--mount', '--propagation', 'private', 'sh', '-ec',
              'mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys; exec "$@"', 'ro-proc-sys')
    result = module('cni_preflight', dict(checks=['sysctl']), prefix=prefix)
    assert result['failed'] and result['missing'] == ['sysctl.writable'], result
    evidence = result['checks'][0]['evidence']
    assert 'read-only mount' in evidence and 'NOT writable: net.ipv4.ip_forward' in evidence
    with open('/proc/sys/net/ipv4/ip_forward') as f:
        assert f.read().strip() in ('0', '1')   # the host's own /proc/sys is untouched (still readable, unchanged)
    assert os.access('/proc/sys/net/ipv4/ip_forward', os.W_OK)


def test_other_tools_files_sorting_first(module, tmp_path):
    conf = dict(cniVersion='1.0.0', plugins=[dict(type='bridge')])
    for name, net in (('10-cni-node.conflist', 'cni-node'), ('87-podman-bridge.conflist', 'podman')):
        (tmp_path / name).write_text(json.dumps(dict(conf, name=net)))
    assert module('cni_preflight', dict(checks=['conf_dir'], conf_dir=str(tmp_path)))['ready']
    (tmp_path / '10-calico.conflist').write_text(json.dumps(dict(conf, name='k8s-pod-network')))
    result = module('cni_preflight', dict(checks=['conf_dir'], conf_dir=str(tmp_path)))
    assert result['failed'] and result['missing'] == ['conf_dir.conflicts']
    assert '10-calico.conflist (network k8s-pod-network, Calico)' in result['msg']
    left = sorted(os.listdir(str(tmp_path)))
    assert left == ['10-calico.conflist', '10-cni-node.conflist', '87-podman-bridge.conflist']
