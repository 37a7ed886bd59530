# -*- coding: utf-8 -*-
"""The dhcp IPAM against a real DHCP server: dnsmasq and the CNI dhcp daemon in the lab's host namespace.

The lab (see conftest.py) gets a bridge with the gateway address, dnsmasq
serving a range on it (leases of 2 minutes, dnsmasq's shortest, with a
renewal time T1 of 3 s so that a renewal happens during the test) and the
real ``dhcp daemon`` of /usr/lib/cni listening on a socket in the lab's
temporary directory (the networks' ``daemonSocketPath``). Both run inside the
host namespace, started by the fixture and stopped by their PIDs afterwards.
The server's view is its lease file: one line per lease, ``<expiry> <mac>
<address> <hostname> <client-id>``; the dhcp daemon's client ID is the hex of
``<containerID>/<network>/<ifname>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import sh, unique

DNSMASQ = '/usr/sbin/dnsmasq'
DHCP = '/usr/lib/cni/dhcp'
T1 = 3          # seconds: the renewal time dnsmasq hands out


def client_id(cid, network, ifname='eth0'):
    return ':'.join('%02x' % b for b in b'\0' + ('%s/%s/%s' % (cid, network, ifname)).encode())


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError('%s: not within %s s' % (what, timeout))


class Server(object):
    """dnsmasq on one interface of a namespace, its lease file and log in the lab's directory."""

    def __init__(self, lab, netns, ifname, net, tag):
        self.lease_file = os.path.join(lab.tmp, '%s.leases' % tag)
        self.log = os.path.join(lab.tmp, '%s.log' % tag)
        open(self.lease_file, 'w').close()
        argv = ['ip', 'netns', 'exec', netns, DNSMASQ, '--no-daemon', '--conf-file=/dev/null', '--port=0',
                '--interface=%s' % ifname, '--bind-interfaces', '--except-interface=lo', '--dhcp-authoritative',
                '--dhcp-range=%s.100,%s.120,255.255.255.0,2m' % (net, net), '--dhcp-option=option:T1,%d' % T1,
                '--dhcp-leasefile=%s' % self.lease_file, '--pid-file=%s' % os.path.join(lab.tmp, tag + '.pid'),
                '--log-dhcp']
        with open(self.log, 'w') as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _wait(lambda: 'DHCP, sockets bound' in open(self.log).read() or self.proc.poll() is not None, 10,
              'dnsmasq started')
        assert self.proc.poll() is None, open(self.log).read()

    def leases(self):
        """{address: (expiry, client id)} of the server's lease file."""
        out = {}
        with open(self.lease_file) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5:
                    out[parts[2]] = (int(parts[0]), parts[4])
        return out

    def stop(self):
        stop_process(self.proc)


def stop_process(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Daemon(object):
    """The CNI dhcp daemon in a namespace, on a socket of the lab's directory."""

    def __init__(self, lab, netns):
        self.socket = os.path.join(lab.tmp, 'dhcp.sock')
        self.log = os.path.join(lab.tmp, 'dhcp-daemon.log')
        with open(self.log, 'w') as log:
            self.proc = subprocess.Popen(['ip', 'netns', 'exec', netns, DHCP, 'daemon', '-socketpath', self.socket,
                                          '-pidfile', os.path.join(lab.tmp, 'dhcp.pid')],
                                         stdout=log, stderr=subprocess.STDOUT)
        _wait(lambda: os.path.exists(self.socket) or self.proc.poll() is not None, 10, 'dhcp daemon socket')
        assert self.proc.poll() is None, open(self.log).read()

    def stop(self):
        stop_process(self.proc)


@pytest.fixture
def dhcp_lab(lab):
    """The lab with a bridge holding the gateway address, dnsmasq on it and the dhcp daemon."""
    for binary in (DNSMASQ, DHCP):
        if not os.path.exists(binary):
            pytest.fail('%s is missing: make deps installs dnsmasq-base and containernetworking-plugins' % binary)
    lab.in_host('ip', 'link', 'add', lab.bridge, 'type', 'bridge')
    lab.in_host('ip', 'addr', 'add', lab.gateway + '/24', 'dev', lab.bridge)
    lab.in_host('ip', 'link', 'set', lab.bridge, 'up')
    started = []
    try:
        lab.server = Server(lab, lab.host, lab.bridge, lab.net, 'dnsmasq')
        started.append(lab.server)
        lab.daemon = Daemon(lab, lab.host)
        started.append(lab.daemon)
        yield lab
    finally:
        for thing in reversed(started):
            thing.stop()


def dhcp_network(lab, name, socket_path=None, plugin=None):
    plugin = dict(plugin or {'type': 'bridge', 'bridge': lab.bridge})
    plugin['ipam'] = {'type': 'dhcp', 'daemonSocketPath': socket_path or lab.daemon.socket}
    conf = {'cniVersion': '1.0.0', 'name': name, 'plugins': [plugin]}
    lab.write_network(conf)
    return conf


def common(lab, network, pod, cid=None):
    return dict(network=network, container_id=cid or 'ctr-' + pod[4:], netns=pod, conf_dir=lab.conf_dir,
                bin_dirs=['/usr/lib/cni'], cache_dir=lab.cache_dir, log_file=lab.log_file)


def warnings_of(res):
    """The warning texts of a module result (ansible-core 2.19 returns each as a structured summary)."""
    return [w['event']['msg'] if isinstance(w, dict) else w for w in res.get('warnings', [])]


def logged(lab):
    with open(lab.log_file) as f:
        return [(line['plugin'], line['command']) for line in map(json.loads, f)]


def test_add_leases_from_the_server_rerun_keeps_it_renewal_happens_del_releases_it(dhcp_lab):
    lab = dhcp_lab
    dhcp_network(lab, 'cntdh')
    pod = lab.pod()
    args = common(lab, 'cntdh', pod)
    cid = args['container_id']

    started = time.monotonic()
    first = lab.module('cni_attachment', args)
    add_seconds = time.monotonic() - started
    assert first['changed'] is True and first['actions'] == ['ADD'], first
    address = first['result']['ips'][0]['address']
    plain = address.split('/')[0]
    assert address.startswith(lab.net + '.1') and 100 <= int(plain.rsplit('.', 1)[1]) <= 120, address
    assert first['result']['ips'][0]['gateway'] == lab.gateway
    assert lab.pod_addresses(pod) == [address]
    leases = lab.server.leases()
    assert list(leases) == [plain] and leases[plain][1] == client_id(cid, 'cntdh'), leases
    assert lab.pings(pod, lab.gateway)
    print('ADD through bridge + dhcp: %.1f s' % add_seconds)

    again = lab.module('cni_attachment', args)
    assert again['changed'] is False and again['actions'] == [] and again['check'] == 'skipped', again
    assert again['result']['ips'] == first['result']['ips']

    expiry = leases[plain][0]
    _wait(lambda: lab.server.leases().get(plain, (0,))[0] > expiry, T1 + 6, 'a renewal moving the expiry on')
    assert 'DHCPACK(%s) %s' % (lab.bridge, plain) in open(lab.server.log).read()

    gone = lab.module('cni_attachment', dict(args, state='absent'))
    assert gone['changed'] is True and gone['actions'] == ['DEL'], gone
    assert logged(lab)[-2:] == [('dhcp', 'DEL'), ('bridge', 'DEL')]     # the lease first, then the chain
    assert lab.server.leases() == {}, 'the lease stayed at the server'
    assert 'DHCPRELEASE(%s) %s' % (lab.bridge, plain) in open(lab.server.log).read()
    assert lab.host_veths() == [] and not os.path.exists(first['cache_path'])
    time.sleep(T1 + 1)          # nothing renews the released lease behind our back
    assert lab.server.leases() == {}


@pytest.mark.parametrize('how', ['missing', 'dead'])
def test_add_without_a_daemon_fails_at_once_and_leaves_nothing(dhcp_lab, how):
    lab = dhcp_lab
    path = os.path.join(lab.tmp, 'nobody.sock')
    if how == 'dead':       # a socket file whose daemon is gone
        sh('python3', '-c', 'import socket; s = socket.socket(socket.AF_UNIX); s.bind(%r); s.close()' % path)
    dhcp_network(lab, 'cntnod', socket_path=path)
    pod = lab.pod()
    args = common(lab, 'cntnod', pod)

    predicted = lab.module('cni_attachment', args, check=True)
    assert predicted['changed'] is True and any('no dhcp daemon answers on %s' % path in w
                                                for w in warnings_of(predicted)), predicted
    started = time.monotonic()
    res = lab.module('cni_attachment', args)
    took = time.monotonic() - started
    assert res.get('failed') is True, res
    assert took < 5, took
    problem = 'does not exist' if how == 'missing' else 'refuses connections'
    assert 'no dhcp daemon answers on %s: it %s' % (path, problem) in res['msg'], res['msg']
    assert 'cni.node.dhcp' in res['msg'] and res.get('param') == 'network'
    assert lab.host_veths() == [] and sh('ip', '-n', pod, '-o', 'link', 'show').count(':') == sh(
        'ip', '-n', pod, '-o', 'link', 'show', 'dev', 'lo').count(':')       # only lo in the pod
    assert not os.path.isdir(os.path.join(lab.cache_dir, 'results')) or os.listdir(
        os.path.join(lab.cache_dir, 'results')) == []
    assert not os.path.exists(lab.log_file) or logged(lab) == []          # no plugin ran at all


def test_network_warns_without_a_daemon_socket(dhcp_lab):
    lab = dhcp_lab
    args = dict(name='cntwarn', conf_dir=lab.conf_dir, bin_dirs=['/usr/lib/cni'],
                plugins=[{'type': 'bridge', 'bridge': lab.bridge,
                          'ipam': {'type': 'dhcp', 'daemonSocketPath': os.path.join(lab.tmp, 'none.sock')}}])
    res = lab.module('cni_network', args)
    assert res['changed'] is True and any('none.sock: it does not exist' in w for w in warnings_of(res)), res
    args['plugins'][0]['ipam']['daemonSocketPath'] = lab.daemon.socket
    res = lab.module('cni_network', args)
    assert res['changed'] is True and not any('dhcp' in w for w in warnings_of(res)), res


def test_gc_releases_the_lease_of_a_gone_namespace_through_the_daemon_and_info_reports_it(dhcp_lab):
    lab = dhcp_lab
    dhcp_network(lab, 'cntdgc')
    live, dead = lab.pod(), lab.pod()
    results = {}
    for pod in (live, dead):
        res = lab.module('cni_attachment', common(lab, 'cntdgc', pod))
        assert res['changed'] is True, res
        results[pod] = res['result']['ips'][0]['address']
    assert len(lab.server.leases()) == 2

    info = lab.module('cni_info', dict(gather=['dhcp'], conf_dir=lab.conf_dir, cache_dir=lab.cache_dir,
                                       bin_dirs=['/usr/lib/cni']))
    daemons = dict((d['socket'], d) for d in info['cni']['dhcp']['daemons'])
    mine = daemons[lab.daemon.socket]
    assert mine['answers'] is True and mine['pid'] == lab.daemon.proc.pid and mine['networks'] == ['cntdgc']
    assert mine['binary'] == DHCP and '1.0.0' in mine['spec_versions']
    assert sorted(item['address'] for item in info['cni']['dhcp']['networks']['cntdgc']['leases']) \
        == sorted(results.values())

    sh('ip', 'netns', 'del', dead)            # the pod is gone without DEL
    dead_ip = results[dead].split('/')[0]
    args = dict(network='cntdgc', conf_dir=lab.conf_dir, bin_dirs=['/usr/lib/cni'], cache_dir=lab.cache_dir)
    predicted = lab.module('cni_gc', args, check=True)
    assert predicted['changed'] is True and [(r['address'], r['via']) for r in predicted['released']] == [
        (dead_ip, 'dhcp_daemon')], predicted
    assert dead_ip in lab.server.leases()

    done = lab.module('cni_gc', args)
    assert done['changed'] is True and done['released'] == predicted['released'] and not done.get('errors'), done
    assert list(lab.server.leases()) == [results[live].split('/')[0]]
    assert 'DHCPRELEASE(%s) %s' % (lab.bridge, dead_ip) in open(lab.server.log).read()
    # The daemon held the dead namespace open to renew from inside it; released, the namespace and its veth go.
    _wait(lambda: len(lab.host_veths()) == 1, 5, 'the dead pod\'s veth gone')
    assert lab.module('cni_gc', args)['changed'] is False


def _macvlan_problem(lab):
    """None when the kernel makes a macvlan link (on a veth, in the lab's host namespace); else why not."""
    probe = unique('cnp')
    lab.in_host('ip', 'link', 'add', probe, 'type', 'veth', 'peer', 'name', probe + 'p')
    proc = subprocess.run(['ip', 'netns', 'exec', lab.host, 'ip', 'link', 'add', probe + 'm', 'link', probe,
                           'type', 'macvlan'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    lab.in_host('ip', 'link', 'del', probe, check=False)
    if proc.returncode != 0:
        return 'the kernel makes no macvlan link (ip link add type macvlan: %s)' % proc.stderr.decode().strip()
    return None


def test_macvlan_on_an_uplink_gets_its_lease_and_releases_it(lab):
    """macvlan on the host namespace's uplink; the DHCP server sits in another namespace at the uplink's far end."""
    problem = _macvlan_problem(lab)
    if problem:
        pytest.skip(problem)
    server_ns = lab.pod()                        # removed with the lab
    uplink, far = unique('cnv'), unique('cnv')
    lab.in_host('ip', 'link', 'add', uplink, 'type', 'veth', 'peer', 'name', far)
    lab.in_host('ip', 'link', 'set', far, 'netns', server_ns)
    lab.in_host('ip', 'link', 'set', uplink, 'up')
    sh('ip', '-n', server_ns, 'addr', 'add', lab.gateway + '/24', 'dev', far)
    sh('ip', '-n', server_ns, 'link', 'set', far, 'up')
    started = []
    try:
        lab.server = Server(lab, server_ns, far, lab.net, 'dnsmasq-mv')
        started.append(lab.server)
        lab.daemon = Daemon(lab, lab.host)
        started.append(lab.daemon)
        dhcp_network(lab, 'cntmv', plugin={'type': 'macvlan', 'master': uplink, 'mode': 'bridge'})
        pod = lab.pod()
        args = common(lab, 'cntmv', pod)
        res = lab.module('cni_attachment', args)
        assert res['changed'] is True, res
        plain = res['result']['ips'][0]['address'].split('/')[0]
        assert lab.server.leases()[plain][1] == client_id(args['container_id'], 'cntmv')
        assert lab.pings(pod, lab.gateway)
        assert lab.module('cni_attachment', args)['changed'] is False
        gone = lab.module('cni_attachment', dict(args, state='absent'))
        assert gone['changed'] is True and lab.server.leases() == {}, gone
    finally:
        for thing in reversed(started):
            thing.stop()
