# -*- coding: utf-8 -*-
"""cni_gc's core on temporary directories: lease files, liveness, the plan, release under the lock."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.cni.node.plugins.module_utils import _cnicache, _cnigc, _cniloader


def network(data_dir):
    return _cniloader.network_from_bytes(json.dumps({
        'cniVersion': '1.0.0', 'name': 'gcnet',
        'plugins': [{'type': 'bridge', 'ipam': {'type': 'host-local', 'dataDir': data_dir, 'subnet': '10.9.0.0/24'}},
                    {'type': 'portmap'}]}).encode())


def lease(directory, address, content):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, address), 'w', newline='') as f:
        f.write(content)


def cache(cache_dir, net, cid, netns):
    rt = _cnicache.RuntimeConf(cid, netns, 'eth0')
    path = _cnicache.cache_path(cache_dir, net.name, cid, 'eth0')
    _cnicache.write_cache(path, _cnicache.encode_cache(net, rt, {'cniVersion': '1.0.0'}))


def test_lease_content_old_and_new_format():
    assert _cnigc.parse_lease('abc\r\neth0') == ('abc', 'eth0')
    assert _cnigc.parse_lease('abc\n') == ('abc', None)


def test_lease_dirs_follow_the_chain_and_default_data_dir():
    net = _cniloader.network_from_bytes(json.dumps({'cniVersion': '1.0.0', 'name': 'n', 'plugins': [
        {'type': 'bridge', 'ipam': {'type': 'host-local', 'subnet': '10.0.0.0/24'}},
        {'type': 'ptp', 'ipam': {'type': 'host-local', 'dataDir': '/x', 'subnet': '10.1.0.0/24'}},
        {'type': 'macvlan', 'ipam': {'type': 'dhcp'}}]}).encode())
    assert _cnigc.lease_dirs(net) == ['/var/lib/cni/networks/n', '/x/n']


def test_plan_keeps_live_and_valid_and_releases_the_rest(tmp_path):
    data, cache_dir = str(tmp_path / 'data'), str(tmp_path / 'cache')
    net = network(data)
    d = os.path.join(data, 'gcnet')
    lease(d, '10.9.0.2', 'live\r\neth0')
    lease(d, '10.9.0.3', 'stale\r\neth0')
    lease(d, '10.9.0.4', 'orphan\r\neth0')
    lease(d, '10.9.0.5', 'declared\r\neth0')
    lease(d, '10.9.0.6', 'unjudged\r\neth0')
    lease(d, 'last_reserved_ip.0', '10.9.0.6')
    open(os.path.join(d, 'lock'), 'w').close()
    cache(cache_dir, net, 'live', '/alive')
    cache(cache_dir, net, 'stale', '/gone')
    cache(cache_dir, net, 'unjudged', '')
    p = _cnigc.plan(net, cache_dir, [('declared', 'eth0')], netns_exists=lambda path: path == '/alive')
    assert [(r['container_id'], r['via']) for r in p.released()] == [('stale', 'DEL'), ('orphan', 'lease_file')]
    assert sorted((k['container_id'], k['why']) for k in p.kept()) == [
        ('declared', 'valid'), ('live', 'live'), ('unjudged', 'no netns in the cache')]
    assert p.summary()['leases'] == {'total': 5, 'released': 2, 'kept': 3}
    assert p.changes.changed and os.path.exists(os.path.join(d, '10.9.0.4'))   # planning changes nothing


def test_release_removes_only_a_lease_still_held_by_the_same_container(tmp_path):
    d = str(tmp_path)
    lease(d, '10.9.0.4', 'orphan\r\neth0')
    [found] = _cnigc.read_leases(d)
    lease(d, '10.9.0.4', 'newcomer\r\neth0')          # re-allocated meanwhile
    assert _cnigc.release_lease(found) is False and os.path.exists(found.path)
    lease(d, '10.9.0.4', 'orphan\r\neth0')
    assert _cnigc.release_lease(found) is True and not os.path.exists(found.path)
    assert os.path.exists(os.path.join(d, 'lock'))
    assert _cnigc.release_lease(found) is False
