# -*- coding: utf-8 -*-
"""cni_gc's core on temporary directories: lease files, liveness, the plan, release under the lock."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
from test_cnicache import PODMAN_SANDBOX, write_podman_entry

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


# ---------------------------------------------------------------- entries another runtime wrote

class RecordingRunner(object):
    """Stands in for the plugin runner: records what DEL and GC were asked to do."""

    def __init__(self):
        self.deleted = []
        self.collected = None

    def delete(self, net, rt, result):
        self.deleted.append((net.name, rt.container_id, rt.netns, rt.ifname, rt.args, result is not None))

    def gc(self, net, live):
        self.collected = sorted(live)
        return False


def podman_network(data_dir):
    return _cniloader.network_from_bytes(json.dumps({
        'cniVersion': '1.0.0', 'name': 'cntpd-net',
        'plugins': [{'type': 'bridge', 'ipam': {'type': 'host-local', 'dataDir': data_dir,
                                                'ranges': [[{'subnet': '10.199.7.0/24'}]]}}]}).encode())


@pytest.mark.parametrize('kwargs, live, source', [
    ({}, True, 'result.interfaces[2].sandbox'),                                # podman 4.3, namespace alive
    ({}, False, 'result.interfaces[2].sandbox'),                               # podman 4.3, namespace gone
    ({'netns': '/run/netns/cni-1234'}, True, 'netns'),                         # libcni 1.2+
    ({'netns': '/run/netns/cni-1234'}, False, 'netns'),
])
def test_podman_entries_are_judged_by_their_namespace(tmp_path, kwargs, live, source):
    data, cache_dir = str(tmp_path / 'data'), str(tmp_path / 'cache')
    net = podman_network(data)
    cid = 'c0ffee' * 10 + 'beef'
    entry_path = write_podman_entry(cache_dir, container_id=cid, data_dir=data, **kwargs)
    netns = kwargs.get('netns', PODMAN_SANDBOX)
    lease(os.path.join(data, 'cntpd-net'), '10.199.7.2', cid + '\r\neth0')
    seen = []

    def exists(path):
        seen.append(path)
        return live

    p = _cnigc.plan(net, cache_dir, netns_exists=exists)
    assert seen == [netns]
    runner = RecordingRunner()
    if live:
        assert p.kept() == [dict(container_id=cid, ifname='eth0', netns=netns, netns_source=source, why='live')]
        assert (p.released(), p.stale, p.changes.changed) == ([], [], False)
        _cnigc.apply(p, runner)
        assert runner.deleted == [] and runner.collected == [(cid, 'eth0')]
        assert os.path.exists(entry_path) and os.path.exists(os.path.join(data, 'cntpd-net', '10.199.7.2'))
        return
    assert p.kept() == []
    assert p.summary()['deleted_attachments'] == [dict(container_id=cid, ifname='eth0', netns=netns,
                                                       netns_source=source, cache_file=entry_path)]
    assert [(r['container_id'], r['address'], r['via']) for r in p.released()] == [(cid, '10.199.7.2', 'DEL')]
    assert ('attachment/%s' % os.path.basename(entry_path), 'stale (netns %s is gone)' % netns) in [
        (d['path'], d['before']) for d in p.changes.result()['drift']]
    _cnigc.apply(p, runner)
    # DEL of the cached configuration, with podman's own arguments and the namespace the entry was judged by
    assert runner.deleted == [('cntpd-net', cid, netns, 'eth0', [['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'cntpd-c1']],
                               True)]
    assert not os.path.exists(entry_path)
    assert not os.path.exists(os.path.join(data, 'cntpd-net', '10.199.7.2'))   # after DEL, as a file if still there
    assert runner.collected == []


@pytest.mark.parametrize('kwargs', [{'sandbox': None}, {'result_version': '0.2.0'}])
def test_a_podman_entry_naming_no_namespace_is_kept_unjudged(tmp_path, kwargs):
    data, cache_dir = str(tmp_path / 'data'), str(tmp_path / 'cache')
    cid = 'c0ffee' * 10 + 'beef'
    entry_path = write_podman_entry(cache_dir, container_id=cid, data_dir=data, **kwargs)
    lease(os.path.join(data, 'cntpd-net'), '10.199.7.2', cid + '\r\neth0')
    p = _cnigc.plan(podman_network(data), cache_dir, netns_exists=lambda path: pytest.fail('nothing to look up'))
    assert p.kept() == [dict(container_id=cid, ifname='eth0', netns=None, netns_source=None,
                             why='no netns in the cache')]
    assert (p.released(), p.changes.changed) == ([], False)
    runner = RecordingRunner()
    _cnigc.apply(p, runner)
    assert runner.deleted == [] and os.path.exists(entry_path)


def test_a_sandbox_path_that_is_gone_is_stale_and_a_live_one_kept_with_the_real_check(tmp_path):
    """No fake liveness: /proc/self/ns/net is a live namespace file for anyone, a path under tmp is none."""
    data, cache_dir = str(tmp_path / 'data'), str(tmp_path / 'cache')
    write_podman_entry(cache_dir, container_id='live', data_dir=data, sandbox='/proc/self/ns/net')
    write_podman_entry(cache_dir, container_id='gone', data_dir=data, sandbox=str(tmp_path / 'netns-gone'))
    p = _cnigc.plan(podman_network(data), cache_dir)
    assert [(k['container_id'], k['why']) for k in p.kept()] == [('live', 'live')]
    assert [(e.container_id, e.namespace()[0]) for e in p.stale] == [('gone', str(tmp_path / 'netns-gone'))]
