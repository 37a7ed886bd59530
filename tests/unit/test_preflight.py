# -*- coding: utf-8 -*-
"""_preflight: the checks' logic on fake kernels (a temporary root with the files a kernel shows)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import gzip
import json
import os

import pytest

from ansible_collections.cni.node.plugins.module_utils import _fileutil, _preflight
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

REL = '6.1.0-test'


def _write(root, path, text=''):
    full = os.path.join(str(root), path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w') as f:
        f.write(text)
    return full


def _config(root, lines, where='/proc/config.gz'):
    full = os.path.join(str(root), where.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    data = ('\n'.join(lines) + '\n').encode()
    if where.endswith('.gz'):
        with gzip.open(full, 'wb') as f:
            f.write(data)
    else:
        with open(full, 'wb') as f:
            f.write(data)


def _kernel(root):
    return _preflight.Kernel(root=str(root), release=REL)


def _one(root, feature):
    return _preflight.kernel_check(_kernel(root), feature)


def test_trace_wins(tmp_path):
    os.makedirs(str(tmp_path / 'sys/module/vxlan'))
    c = _one(tmp_path, 'vxlan')
    assert c['ok'] and c['required'] and c['fix'] is None
    assert '/sys/module/vxlan' in c['evidence']


def test_loaded_module(tmp_path):
    _write(tmp_path, '/proc/modules', 'macvlan 32768 0 - Live 0x0\nveth 40960 0 - Live 0x0\n')
    c = _one(tmp_path, 'macvlan')
    assert c['ok'] and '/proc/modules' in c['evidence']


def test_modules_builtin(tmp_path):
    _write(tmp_path, '/proc/modules', 'veth 1 0 - Live 0x0\n')
    _write(tmp_path, '/lib/modules/%s/modules.builtin' % REL, 'kernel/net/bridge/bridge.ko\n')
    c = _one(tmp_path, 'bridge')
    assert c['ok'] and 'built in' in c['evidence']


def test_config_y(tmp_path):
    _config(tmp_path, ['CONFIG_NF_TABLES=y'])
    c = _one(tmp_path, 'nf_tables')
    assert c['ok'] and 'CONFIG_NF_TABLES=y' in c['evidence']


def test_config_not_set_is_required_failure(tmp_path):
    _config(tmp_path, ['# CONFIG_IPVLAN is not set', 'CONFIG_MACVLAN=y'])
    c = _one(tmp_path, 'ipvlan')
    assert not c['ok'] and c['required']
    assert 'CONFIG_IPVLAN is not set' in c['evidence'] and 'CONFIG_IPVLAN' in c['fix']


def test_config_absent_symbol_counts_as_not_set(tmp_path):
    _config(tmp_path, ['CONFIG_MACVLAN=y'], where='/boot/config-%s' % REL)
    c = _one(tmp_path, 'vxlan')
    assert not c['ok'] and c['required'] and '/boot/config-%s' % REL in c['evidence']


def test_module_with_file_passes_without_file_fails(tmp_path):
    _write(tmp_path, '/proc/modules', 'veth 1 0 - Live 0x0\n')
    _config(tmp_path, ['CONFIG_BRIDGE_NETFILTER=m', 'CONFIG_VXLAN=m'])
    _write(tmp_path, '/lib/modules/%s/modules.dep' % REL,
           'kernel/net/bridge/br_netfilter.ko.xz: kernel/net/bridge/bridge.ko.xz\n')
    ok = _one(tmp_path, 'br_netfilter')
    assert ok['ok'] and 'modules.dep' in ok['evidence']
    bad = _one(tmp_path, 'vxlan')
    assert not bad['ok'] and bad['required'] and 'modprobe vxlan' in bad['fix']


def test_cannot_tell_is_a_warning(tmp_path):
    c = _one(tmp_path, 'macvlan')
    assert not c['ok'] and not c['required'] and 'cannot tell' in c['evidence']


def test_br_netfilter_trace_and_bpffs(tmp_path):
    os.makedirs(str(tmp_path / 'proc/sys/net/bridge'))
    _write(tmp_path, '/proc/filesystems', 'nodev\tsysfs\nnodev\tbpf\n')
    assert _one(tmp_path, 'br_netfilter')['ok']
    assert _one(tmp_path, 'bpffs')['ok']


def test_bpffs_missing(tmp_path):
    _write(tmp_path, '/proc/filesystems', 'nodev\tsysfs\n')
    _config(tmp_path, ['# CONFIG_BPF_SYSCALL is not set'])
    c = _one(tmp_path, 'bpffs')
    assert not c['ok'] and c['required'] and 'does not list bpf' in c['evidence']


@pytest.mark.parametrize('kwargs, param', [
    (dict(profile='calico'), 'profile'),
    (dict(features=['vxlan', 'wireguard']), 'features'),
    (dict(checks=['kernel', 'magic']), 'checks'),
    (dict(checks=['kernel']), 'checks'),
    (dict(checks=['underlay']), 'checks'),
    (dict(overlay_mtu=20), 'overlay_mtu'),
    (dict(overlay_mtu=True), 'overlay_mtu'),
    (dict(underlay='a' * 16), 'underlay'),
    (dict(underlay_family='ipx'), 'underlay_family'),
    (dict(priority=1000), 'priority'),
    (dict(sysctl_keys=['no key']), 'sysctl_keys'),
])
def test_spec_rejects(kwargs, param):
    with pytest.raises(ParameterError) as exc:
        _preflight.Spec(**kwargs)
    assert exc.value.param == param


def test_spec_defaults_pick_groups_with_input():
    assert _preflight.Spec().checks == ['sysctl', 'conf_dir']
    spec = _preflight.Spec(profile='overlay', features=['xdp', 'vxlan'], underlay='eth0')
    assert spec.checks == ['kernel', 'sysctl', 'underlay', 'conf_dir']
    assert spec.features == ['bridge', 'veth', 'vxlan', 'br_netfilter', 'nf_tables', 'xdp']
    assert spec.filename == '10-cni-node.conflist'


def test_sysctl_writable_and_readonly(tmp_path):
    root = tmp_path / 'sys'
    _write(root, 'net/ipv4/ip_forward', '0\n')
    ro = _write(root, 'net/ipv4/conf/all/rp_filter', '0\n')
    flags = collections.namedtuple('V', 'f_flag')
    c = _preflight.sysctl_check(['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables'], str(root),
                                statvfs=lambda p: flags(0))
    assert c['ok'] and 'absent' in c['evidence'] and 'read-write mount' in c['evidence']
    if os.geteuid() != 0:   # root passes access(W_OK) on a mode-0444 file; a read-only mount is the real case
        os.chmod(ro, 0o444)
        c = _preflight.sysctl_check(['net.ipv4.conf.all.rp_filter'], str(root),
                                    statvfs=lambda p: flags(os.ST_RDONLY))
        assert not c['ok'] and 'NOT writable: net.ipv4.conf.all.rp_filter' in c['evidence']
        assert 'read-only mount' in c['evidence']


def test_sysctl_denied_through_access(tmp_path, monkeypatch):
    root = tmp_path / 'sys'
    _write(root, 'net/ipv4/ip_forward', '0\n')
    monkeypatch.setattr(_preflight.os, 'access', lambda path, mode: False)
    c = _preflight.sysctl_check(['net.ipv4.ip_forward'], str(root))
    assert not c['ok'] and c['required'] and 'NOT writable: net.ipv4.ip_forward' in c['evidence']


LINKS = [dict(name='lo', index=1, up=True, mtu=65536), dict(name='eth0', index=2, up=True, mtu=1500),
         dict(name='eth1', index=3, up=False, mtu=1500)]


@pytest.mark.parametrize('dev, mtu, family, failed', [
    ('eth0', 1450, 'ipv4', []),
    ('eth0', 1451, 'ipv4', ['underlay.mtu']),
    ('eth0', 1450, 'ipv6', ['underlay.mtu']),
    ('eth0', 1430, '2001:db8::1', []),
    ('eth1', None, 'ipv4', ['underlay.up']),
    ('eth9', 1450, 'ipv4', ['underlay.exists']),
])
def test_underlay(dev, mtu, family, failed):
    spec = _preflight.Spec(underlay=dev, overlay_mtu=mtu, underlay_family=family)
    checks = _preflight.underlay_checks(LINKS, spec)
    assert [c['name'] for c in checks if not c['ok']] == failed
    if failed == ['underlay.mtu']:
        bad = checks[-1]
        assert 'raise the MTU of eth0 to %d' % (mtu + (70 if family == 'ipv6' else 50)) in bad['fix']


def _conf(d, name, network, plugins=None):
    with open(os.path.join(str(d), name), 'w') as f:
        json.dump(dict(cniVersion='1.0.0', name=network, plugins=plugins or [dict(type='bridge')]), f)


def test_conflicts_before_ours_only(tmp_path):
    _conf(tmp_path, '10-cni-node.conflist', 'cni-node')
    _conf(tmp_path, '05-cni-node.conflist', 'cni-node')     # ours at another priority
    _conf(tmp_path, '87-podman-bridge.conflist', 'podman')  # after ours
    spec = _preflight.Spec(conf_dir=str(tmp_path))
    c = _preflight.conf_dir_check(spec, _fileutil.read_text)
    assert c['ok'] and '87-podman-bridge.conflist (network podman, Podman)' in c['evidence']
    _conf(tmp_path, '10-flannel.conflist', 'cbr0')
    _conf(tmp_path, '10-calico.conflist', 'k8s-pod-network')
    with open(str(tmp_path / '00-broken.conf'), 'w') as f:
        f.write('{')
    c = _preflight.conf_dir_check(spec, _fileutil.read_text)
    assert not c['ok'] and c['required']
    assert '00-broken.conf (unreadable)' in c['evidence']
    assert '10-calico.conflist (network k8s-pod-network, Calico)' in c['evidence']
    # 10-flannel sorts after 10-cni-node ('f' > 'c'): not a conflict at the default priority.
    assert '10-flannel.conflist (network cbr0, flannel)' in c['evidence'].split('after it')[1]
    assert '87-podman' not in c['evidence'].split('after it')[0]
    excl = _preflight.conf_dir_check(_preflight.Spec(conf_dir=str(tmp_path), exclusive=True), _fileutil.read_text)
    assert excl['ok'] and 'exclusive: cni_network removes' in excl['evidence']
    # A later priority for ours puts podman before it.
    later = _preflight.Spec(conf_dir=str(tmp_path), priority=90)
    assert 'Podman' in _preflight.conf_dir_check(later, _fileutil.read_text)['evidence'].split('after it')[0]


def test_conf_dir_missing_is_fine(tmp_path):
    spec = _preflight.Spec(conf_dir=str(tmp_path / 'nope'))
    c = _preflight.conf_dir_check(spec, _fileutil.read_text)
    assert c['ok'] and 'no configuration files' in c['evidence']


def test_run_and_message(tmp_path):
    _config(tmp_path, ['CONFIG_BRIDGE=y', 'CONFIG_VETH=y', '# CONFIG_VXLAN is not set'])
    spec = _preflight.Spec(features=['bridge', 'veth', 'vxlan', 'macvlan'], checks=['kernel', 'underlay'],
                           underlay='eth1')
    checks, missing = _preflight.run(spec, _kernel(tmp_path), links=lambda: LINKS)
    assert [c['name'] for c in checks] == ['kernel.bridge', 'kernel.veth', 'kernel.vxlan', 'kernel.macvlan',
                                           'underlay.exists', 'underlay.up', 'underlay.mtu']
    # macvlan: the configuration has no CONFIG_MACVLAN line: not set, so required.
    assert missing == ['kernel.vxlan', 'kernel.macvlan', 'underlay.up']
    msg = _preflight.message(checks, missing)
    assert msg.startswith('preflight: 3 of 7 required checks failed, nothing was changed: kernel.vxlan: ')
    assert 'ip link set eth1 up' in msg


def test_links_not_read_without_underlay(tmp_path):
    def boom():
        raise AssertionError('links read')
    spec = _preflight.Spec(checks=['conf_dir'], conf_dir=str(tmp_path))
    checks, missing = _preflight.run(spec, _kernel(tmp_path), links=boom, read_text=_fileutil.read_text)
    assert missing == [] and len(checks) == 1


def test_module_edge(run_main, tmp_path):
    from ansible_collections.cni.node.plugins.modules import cni_preflight
    _conf(tmp_path, '10-flannel.conflist', 'cbr0')   # sorts after 10-cni-node.conflist: no conflict
    assert run_main(cni_preflight, dict(checks=['conf_dir'], conf_dir=str(tmp_path)))['ready'] is True
    _conf(tmp_path, '10-calico.conflist', 'k8s-pod-network')
    out = run_main(cni_preflight, dict(checks=['conf_dir'], conf_dir=str(tmp_path)), check=True)
    assert out['failed'] and out['missing'] == ['conf_dir.conflicts'] and out['ready'] is False
    assert out['changed'] is False and 'Calico' in out['msg'] and 'flannel' not in out['msg'].split('after it')[0] and 'nothing was changed' in out['msg']
    out = run_main(cni_preflight, dict(checks=['conf_dir'], conf_dir=str(tmp_path), fail_on_missing=False))
    assert not out.get('failed') and out['missing'] == ['conf_dir.conflicts'] and out['rc'] == 0
    out = run_main(cni_preflight, dict(sysctl_keys=['net..x'], conf_dir=str(tmp_path)))
    assert out['failed'] and out['param'] == 'sysctl_keys' and out['msg'].startswith('sysctl_keys[0]: ')
    out = run_main(cni_preflight, dict(conf_dir='relative/dir'))
    assert out['failed'] and out['param'] == 'conf_dir'
