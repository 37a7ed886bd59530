# -*- coding: utf-8 -*-
"""cni_info's core on temporary directories: range sizes, networks, leases, plugins, sysctls."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
from test_cnicache import PODMAN_SANDBOX, write_podman_entry

from ansible_collections.cni.node.plugins.module_utils import _cniinfo
from ansible_collections.cni.node.plugins.module_utils._fileutil import read_text


@pytest.mark.parametrize('rng, size', [
    ({'subnet': '10.0.0.0/24'}, 253),                                      # .1 is the gateway: .2-.254
    ({'subnet': '10.0.0.0/24', 'rangeStart': '10.0.0.10', 'rangeEnd': '10.0.0.50', 'gateway': '10.0.0.1'}, 41),
    ({'subnet': '10.0.0.0/24', 'rangeStart': '10.0.0.1', 'rangeEnd': '10.0.0.10', 'gateway': '10.0.0.5'}, 9),
    ({'subnet': 'fd00::/120'}, 254),
    ({'subnet': 'nonsense'}, 0),
])
def test_range_size_is_what_host_local_can_hand_out(rng, size):
    assert _cniinfo._range_size(rng) == size


def test_networks_and_leases_of_a_conf_dir(tmp_path):
    data = tmp_path / 'data'
    conf = {'cniVersion': '1.0.0', 'name': 'infonet', 'plugins': [
        {'type': 'bridge', 'ipam': {'type': 'host-local', 'dataDir': str(data),
                                    'ranges': [[{'subnet': '10.1.0.0/24', 'rangeStart': '10.1.0.10',
                                                 'rangeEnd': '10.1.0.19'}]]}}]}
    conf_dir = tmp_path / 'net.d'
    conf_dir.mkdir()
    (conf_dir / '10-infonet.conflist').write_text(json.dumps(conf))
    (conf_dir / '20-dup.conflist').write_text(json.dumps(dict(conf, plugins=[{'type': 'loopback'}])))
    (data / 'infonet').mkdir(parents=True)
    (data / 'infonet' / '10.1.0.10').write_bytes(b'gone\r\neth0')
    nets = _cniinfo.networks(str(conf_dir), read_text)
    assert nets['default_network'] == {'path': str(conf_dir / '10-infonet.conflist'), 'name': 'infonet',
                                       'problem': None}
    assert list(nets['duplicates']) == ['infonet']
    assert nets['files'][0]['plugins'] == ['bridge'] and nets['files'][0]['cni_version'] == '1.0.0'
    leases = _cniinfo.leases(str(conf_dir), str(tmp_path / 'cache'), read_text, netns_exists=lambda p: True)
    assert {k: v for k, v in leases['infonet'].items() if k != 'leases' and k != 'dirs'} == {
        'used': 1, 'stale': 1, 'free': 9, 'size': 10}


def test_plugins_first_binary_wins_and_unsafe_ones_are_not_run(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    a.mkdir()
    b.mkdir()
    for d in (a, b):
        script = d / 'fake'
        script.write_text('#!/bin/sh\necho \'{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}\'\n')
        script.chmod(0o755)
    (b / 'fake').chmod(0o777)     # writable by others: never run
    (b / 'other').write_text('#!/bin/sh\nexit 0\n')
    (b / 'other').chmod(0o777)
    out = _cniinfo.plugins([str(a), str(b)])
    assert out['fake']['shadowed'] == [str(b / 'fake')] and len(out['fake']['sha256']) == 64
    if os.geteuid() == 0:
        assert out['fake']['versions'] == ['0.4.0', '1.0.0']
    assert out['other']['versions'] is None and out['other']['problems']


def test_sysctls_missing_keys_are_null(tmp_path):
    (tmp_path / 'net' / 'ipv4').mkdir(parents=True)
    (tmp_path / 'net' / 'ipv4' / 'ip_forward').write_text('1\n')
    assert _cniinfo.sysctls(('net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables'), root=str(tmp_path)) == {
        'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': None}


@pytest.mark.parametrize('live', [True, False])
def test_a_podman_lease_is_stale_exactly_when_cni_gc_would_release_it(tmp_path, live):
    """cni_info judges by the same namespace as cni_gc: podman's entry names it only in the result's sandbox."""
    data, cache_dir, conf_dir = tmp_path / 'data', str(tmp_path / 'cache'), tmp_path / 'net.d'
    conf_dir.mkdir()
    (conf_dir / '10-cntpd-net.conflist').write_text(json.dumps({
        'cniVersion': '1.0.0', 'name': 'cntpd-net', 'plugins': [{'type': 'bridge', 'ipam': {
            'type': 'host-local', 'dataDir': str(data), 'ranges': [[{'subnet': '10.199.7.0/24'}]]}}]}))
    write_podman_entry(cache_dir, container_id='c0ffee', data_dir=str(data))
    (data / 'cntpd-net').mkdir(parents=True)
    (data / 'cntpd-net' / '10.199.7.2').write_bytes(b'c0ffee\r\neth0')
    leases = _cniinfo.leases(str(conf_dir), cache_dir, read_text, netns_exists=lambda p: live and p == PODMAN_SANDBOX)
    assert leases['cntpd-net']['leases'] == [dict(address='10.199.7.2', container_id='c0ffee', ifname='eth0',
                                                  stale=not live)]
    assert leases['cntpd-net']['stale'] == (0 if live else 1)
