# -*- coding: utf-8 -*-
"""cni_network with the real reference plugins (Debian's containernetworking-plugins in /usr/lib/cni).

The module writes a bridge + host-local + portmap list with cni_version=auto
into a temporary conf_dir; the test then runs the real bridge plugin (which
delegates to host-local) with exactly the written file's first plugin, the way
a runtime does, against a throwaway namespace: the namespace gets its address
and reaches the gateway; DEL leaves no veth and no lease. portmap is asked for
its versions and validated, but not run (it would touch the host's iptables).

Everything carries a unique prefix (bridge ``cnb<hex>``, namespace
``cnt-<hex>``, a random 10.254.X.0/24) and is removed in fixtures.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import random
import shutil
import subprocess
import tempfile

import pytest

from conftest import sh, unique

CNI_BIN = '/usr/lib/cni'


@pytest.fixture
def tmpdir_():
    d = tempfile.mkdtemp(prefix='cni-node-test-')
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def bridge_name():
    name = unique('cnb')   # 11 characters
    try:
        yield name
    finally:
        sh('ip', 'link', 'del', name, check=False)
        assert not os.path.exists('/sys/class/net/' + name)


@pytest.fixture
def ip_forward_kept():
    """The bridge plugin (isGateway) turns on IPv4 forwarding: put back what the host had."""
    with open('/proc/sys/net/ipv4/ip_forward') as f:
        before = f.read().strip()
    try:
        yield
    finally:
        with open('/proc/sys/net/ipv4/ip_forward') as f:
            now = f.read().strip()
        if now != before:
            with open('/proc/sys/net/ipv4/ip_forward', 'w') as f:
                f.write(before)


def free_subnet():
    used = sh('ip', '-4', '-o', 'addr', 'show')
    free = [n for n in range(1, 255) if ' 10.254.%d.' % n not in used]
    if free:
        return '10.254.%d' % random.choice(free)
    raise AssertionError('no free 10.254.X.0/24 on this host')


def chain(bridge, net, data_dir):
    return [
        {'type': 'bridge', 'bridge': bridge, 'isGateway': True, 'ipMasq': False, 'hairpinMode': False,
         'ipam': {'type': 'host-local', 'dataDir': data_dir,
                  'ranges': [[{'subnet': net + '.0/24', 'rangeStart': net + '.10', 'rangeEnd': net + '.20',
                               'gateway': net + '.1'}]],
                  'routes': [{'dst': '0.0.0.0/0'}]}},
        {'type': 'portmap', 'capabilities': {'portMappings': True}, 'snat': True},
    ]


def run_plugin(command, conf, netns, container_id):
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'CNI_COMMAND': command, 'CNI_CONTAINERID': container_id,
           'CNI_NETNS': '/run/netns/' + netns, 'CNI_IFNAME': 'eth0', 'CNI_PATH': CNI_BIN}
    proc = subprocess.run([os.path.join(CNI_BIN, conf['type'])], input=json.dumps(conf).encode(), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=False)
    out = proc.stdout.decode()
    err = proc.stderr.decode()
    assert proc.returncode == 0, '%s %s failed (rc=%d): %s %s' % (conf['type'], command, proc.returncode, out, err)
    return json.loads(out) if out.strip() else None


def host_links_on(bridge):
    out = sh('ip', '-o', 'link', 'show', 'master', bridge, check=False)
    return [line.split(':')[1].strip().split('@')[0] for line in out.splitlines() if line.strip()]


def leases(data_dir, network):
    d = os.path.join(data_dir, network)
    if not os.path.isdir(d):
        return []
    return sorted(n for n in os.listdir(d) if n[0].isdigit() and not n.startswith('last_reserved_ip'))


def test_written_network_works_with_the_real_bridge_plugin(module, netns, tmpdir_, bridge_name, ip_forward_kept):
    conf_dir = os.path.join(tmpdir_, 'net.d')
    data_dir = os.path.join(tmpdir_, 'ipam')
    os.mkdir(conf_dir)
    net = free_subnet()
    name = 'cnt' + bridge_name[3:]
    args = dict(name=name, conf_dir=conf_dir, bin_dirs=[CNI_BIN], cni_version='auto',
                plugins=chain(bridge_name, net, data_dir))

    predicted = module('cni_network', args, check=True)
    assert predicted['changed'] is True and os.listdir(conf_dir) == []
    first = module('cni_network', args)
    assert first['changed'] is True, first
    assert first['drift'] == predicted['drift']
    path = os.path.join(conf_dir, '10-%s.conflist' % name)
    assert first['path'] == path and os.listdir(conf_dir) == [os.path.basename(path)]
    # auto: every binary of the chain was asked (host-local too), and the version is the highest they share.
    versions = first['plugin_versions']
    assert sorted(versions) == ['bridge', 'host-local', 'portmap']
    shared = set.intersection(*(set(v) for v in versions.values()))
    assert first['cni_version'] in shared
    assert first['cni_version'] == max(shared, key=lambda v: tuple(int(x) for x in v.split('.')))
    assert first['default_network'] == {'path': path, 'name': name}
    assert module('cni_network', args)['changed'] is False

    # Run the bridge plugin as a runtime does, with exactly the written file.
    with open(path) as f:
        written = json.load(f)
    assert written == first['config']
    conf = dict(written['plugins'][0], name=written['name'], cniVersion=written['cniVersion'])
    container_id = unique('cni-node-test-')
    added = False
    try:
        result = run_plugin('ADD', conf, netns, container_id)
        added = True
        ips = [ip['address'] for ip in result['ips']]
        assert len(ips) == 1 and ips[0].startswith(net + '.') and ips[0].endswith('/24')
        addr = ips[0].split('/')[0]
        assert 10 <= int(addr.rsplit('.', 1)[1]) <= 20, 'outside rangeStart..rangeEnd'
        assert ('inet %s/24' % addr) in sh('ip', 'netns', 'exec', netns, 'ip', '-4', 'addr', 'show', 'eth0')
        assert leases(data_dir, name) == [addr]
        assert len(host_links_on(bridge_name)) == 1
        sh('ip', 'netns', 'exec', netns, 'ping', '-c', '1', '-W', '3', net + '.1')
    finally:
        if added:
            run_plugin('DEL', conf, netns, container_id)
    assert host_links_on(bridge_name) == [], 'DEL left a veth on the bridge'
    assert 'eth0' not in sh('ip', 'netns', 'exec', netns, 'ip', '-o', 'link', 'show')
    assert leases(data_dir, name) == [], 'DEL left a host-local lease'


def test_check_mode_is_exact_after_drift(module, tmpdir_):
    net = free_subnet()
    args = dict(name=unique('cnt'), conf_dir=tmpdir_, bin_dirs=[CNI_BIN],
                plugins=chain('cnbx', net, '/run/cni-node-test-unused'))
    path = module('cni_network', args)['path']
    with open(path) as f:
        data = json.load(f)
    # Behind the module's back: another subnet, a plugin option removed, an unknown key, another mode.
    data['plugins'][0]['ipam']['ranges'][0][0].update(subnet='10.254.0.0/24', rangeStart='10.254.0.10',
                                                      rangeEnd='10.254.0.20', gateway='10.254.0.1')
    del data['plugins'][1]['snat']
    data['plugins'][1]['extra'] = 1
    with open(path, 'w') as f:
        json.dump(data, f)
    os.chmod(path, 0o666)
    drifted = open(path).read()
    check = module('cni_network', args, check=True)
    assert check['changed'] is True
    assert check['drift'] == [
        {'path': 'config/plugins[0].ipam.ranges[0][0].subnet', 'before': '10.254.0.0/24', 'after': net + '.0/24'},
        {'path': 'config/plugins[0].ipam.ranges[0][0].rangeStart', 'before': '10.254.0.10', 'after': net + '.10'},
        {'path': 'config/plugins[0].ipam.ranges[0][0].rangeEnd', 'before': '10.254.0.20', 'after': net + '.20'},
        {'path': 'config/plugins[0].ipam.ranges[0][0].gateway', 'before': '10.254.0.1', 'after': net + '.1'},
        {'path': 'config/plugins[1].extra', 'before': 1, 'after': None},
        {'path': 'config/plugins[1].snat', 'before': None, 'after': True},
        {'path': 'mode' + path, 'before': '0666', 'after': '0644'},
    ]
    assert open(path).read() == drifted and oct(os.stat(path).st_mode & 0o777) == '0o666', 'check mode changed it'
    fix = module('cni_network', args)
    assert fix['changed'] is True and fix['drift'] == check['drift']
    assert oct(os.stat(path).st_mode & 0o777) == '0o644'
    again = module('cni_network', args, check=True)
    assert again['changed'] is False and again['drift'] == []


def test_exclusive_removes_a_stale_list_that_loads_first(module, tmpdir_):
    stale = os.path.join(tmpdir_, '05-old.conflist')
    with open(stale, 'w') as f:
        json.dump({'cniVersion': '0.3.1', 'name': 'old', 'plugins': [{'type': 'bridge', 'bridge': 'cni0',
                                                                      'ipam': {'type': 'host-local',
                                                                               'subnet': '10.88.0.0/16'}}]}, f)
    args = dict(name=unique('cnt'), conf_dir=tmpdir_, bin_dirs=[CNI_BIN], plugins=[{'type': 'loopback'}])
    plain = module('cni_network', args)
    assert plain['default_network'] == {'path': stale, 'name': 'old'}, 'precondition: the stale list loads first'
    args['exclusive'] = True
    check = module('cni_network', args, check=True)
    assert check['changed'] is True and check['removed'] == [stale] and os.path.exists(stale)
    assert check['drift'] == [{'path': 'file' + stale, 'before': 'present', 'after': 'absent'}]
    assert any(d.get('before_header') == stale + ' (before)' and '"old"' in d['before'] for d in check['diff'])
    assert check['default_network'] == {'path': plain['path'], 'name': args['name']}
    real = module('cni_network', args)
    assert real['removed'] == [stale] and not os.path.exists(stale)
    assert real['default_network'] == {'path': plain['path'], 'name': args['name']}
    assert os.listdir(tmpdir_) == [os.path.basename(plain['path'])]
    assert module('cni_network', args)['changed'] is False


def test_shadowing_is_refused_and_nothing_written(module, tmpdir_):
    name = unique('cnt')
    other = os.path.join(tmpdir_, '50-%s-legacy.conf' % name)
    with open(other, 'w') as f:
        json.dump({'cniVersion': '0.4.0', 'name': name, 'type': 'loopback'}, f)
    res = module('cni_network', dict(name=name, conf_dir=tmpdir_, bin_dirs=[CNI_BIN], plugins=[{'type': 'loopback'}]))
    assert res['failed'] is True and res['param'] == 'name' and other in res['msg']
    assert os.listdir(tmpdir_) == [os.path.basename(other)]


def test_validate_refuses_an_unsafe_or_foreign_binary(module, tmpdir_):
    bin_dir = os.path.join(tmpdir_, 'bin')
    conf_dir = os.path.join(tmpdir_, 'net.d')
    os.mkdir(bin_dir)
    os.mkdir(conf_dir)
    shutil.copy(os.path.join(CNI_BIN, 'loopback'), bin_dir)
    unsafe = os.path.join(bin_dir, 'loopback')
    os.chmod(unsafe, 0o777)
    args = dict(name=unique('cnt'), conf_dir=conf_dir, bin_dirs=[bin_dir, CNI_BIN], plugins=[{'type': 'loopback'}])
    res = module('cni_network', args)
    assert res['failed'] is True and res['param'] == 'validate' and unsafe in res['msg'] and 'writable' in res['msg']
    os.chmod(unsafe, 0o755)
    os.chown(unsafe, 65534, 0)
    res = module('cni_network', args)
    assert res['failed'] is True and 'not root' in res['msg']
    # Not a CNI plugin at all: it does not answer VERSION.
    os.unlink(unsafe)
    with open(unsafe, 'w') as f:
        f.write('#!/bin/sh\necho hello\n')
    os.chmod(unsafe, 0o755)
    res = module('cni_network', args)
    assert res['failed'] is True and res['param'] == 'plugins' and 'not a CNI plugin answering VERSION' in res['msg']
    # A version the binary does not support (Debian 12's plugins stop at 1.0.0).
    os.unlink(unsafe)
    answer = json.loads(subprocess.run([os.path.join(CNI_BIN, 'loopback')], input=b'{"cniVersion": "1.0.0"}',
                                       env={'CNI_COMMAND': 'VERSION'}, stdout=subprocess.PIPE, check=True).stdout)
    unsupported = [v for v in ('1.1.0', '0.1.0') if v not in answer['supportedVersions']]
    if unsupported:
        res = module('cni_network', dict(args, cni_version=unsupported[0]))
        assert res['failed'] is True and res['param'] == 'cni_version'
        assert 'not supported by plugin loopback' in res['msg']
    assert os.listdir(conf_dir) == []


def test_binaries_in_writable_directories_or_behind_links_are_refused(module, tmpdir_):
    conf_dir = os.path.join(tmpdir_, 'net.d')
    os.mkdir(conf_dir)
    # The binary itself is fine, but its directory belongs to another user.
    foreign = os.path.join(tmpdir_, 'foreign')
    os.mkdir(foreign)
    shutil.copy(os.path.join(CNI_BIN, 'loopback'), foreign)
    os.chown(foreign, 65534, 0)
    args = dict(name=unique('cnt'), conf_dir=conf_dir, bin_dirs=[foreign], plugins=[{'type': 'loopback'}],
                validate=False)   # cni_version auto runs the binary: it is checked all the same
    res = module('cni_network', args)
    assert res['failed'] is True and 'lies in %s' % foreign in res['msg'] and 'not root' in res['msg']
    # A link from a clean directory to a binary in a group-writable one.
    linked = os.path.join(tmpdir_, 'linked')
    os.mkdir(linked)
    os.chown(foreign, 0, 0)
    os.chmod(foreign, 0o775)
    os.symlink(os.path.join(foreign, 'loopback'), os.path.join(linked, 'loopback'))
    res = module('cni_network', dict(args, bin_dirs=[linked]))
    assert res['failed'] is True and 'lies in %s' % foreign in res['msg'] and 'writable by group' in res['msg']
    assert os.listdir(conf_dir) == []


def test_a_file_named_like_ours_that_defines_another_network_is_kept(module, tmpdir_):
    name = unique('cnt')
    other = os.path.join(tmpdir_, '50-%s.conflist' % name)
    with open(other, 'w') as f:
        json.dump({'cniVersion': '1.0.0', 'name': 'other', 'plugins': [{'type': 'loopback'}]}, f)
    res = module('cni_network', dict(name=name, conf_dir=tmpdir_, bin_dirs=[CNI_BIN], plugins=[{'type': 'loopback'}]))
    assert res['changed'] is True and res['removed'] == [] and os.path.exists(other)
