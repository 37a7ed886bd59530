# -*- coding: utf-8 -*-
"""A throwaway lab per test: a "host" namespace, a "pod" namespace, temporary directories.

Nothing touches the machine's own network namespace: the module process runs
inside the lab's host namespace (``ip netns exec``), so the bridge, the host
ends of the veths and portmap's iptables rules live and die there. Every
namespace and bridge name starts with ``cnt-``; the configuration, cache and
host-local data directories are temporary. All of it is removed after the
test, also when it fails.
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

from conftest import run_module, sh, unique

CNI_BIN = '/usr/lib/cni'
REFERENCE = ('bridge', 'host-local', 'portmap', 'tuning', 'loopback')


def _missing_plugins():
    return [p for p in REFERENCE if not os.path.isfile(os.path.join(CNI_BIN, p))]


class Lab(object):
    """One host namespace, pod namespaces on demand, and the directories of a CNI node."""

    def __init__(self):
        self.host = unique()
        self.pods = []
        self.tmp = tempfile.mkdtemp(prefix='cnt-runtime-')
        self.conf_dir = os.path.join(self.tmp, 'net.d')
        self.cache_dir = os.path.join(self.tmp, 'cache')
        self.data_dir = os.path.join(self.tmp, 'ipam')
        self.log_file = os.path.join(self.tmp, 'invocations.jsonl')
        os.mkdir(self.conf_dir)
        self.bridge = unique()
        self.net = '10.%d.%d' % (random.randint(100, 250), random.randint(0, 255))
        self.gateway = self.net + '.1'
        sh('ip', 'netns', 'add', self.host)
        self.in_host('ip', 'link', 'set', 'lo', 'up')

    def pod(self):
        name = unique()
        sh('ip', 'netns', 'add', name)
        self.pods.append(name)
        return name

    def destroy(self):
        for name in self.pods + [self.host]:
            sh('ip', 'netns', 'del', name, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
        left = [n for n in self.pods + [self.host] if os.path.exists('/run/netns/' + n)]
        assert not left, 'namespaces left behind: %s' % left

    def in_host(self, *argv, **kwargs):
        return sh('ip', 'netns', 'exec', self.host, *argv, **kwargs)

    # -- the network under test

    def chain(self, name, portmap=True, tuning=True, ipam_type='host-local', ip_masq=True):
        plugins = [{'type': 'bridge', 'bridge': self.bridge, 'isGateway': True, 'ipMasq': ip_masq,
                    'ipam': {'type': ipam_type, 'dataDir': self.data_dir,
                             'ranges': [[{'subnet': self.net + '.0/24', 'rangeStart': self.net + '.10',
                                          'rangeEnd': self.net + '.50', 'gateway': self.gateway}]],
                             'routes': [{'dst': '0.0.0.0/0'}]}}]
        if portmap:
            plugins.append({'type': 'portmap', 'capabilities': {'portMappings': True}, 'snat': True})
        if tuning:
            plugins.append({'type': 'tuning', 'sysctl': {'net.ipv4.conf.eth0.accept_redirects': '0'}})
        return {'cniVersion': '1.0.0', 'name': name, 'plugins': plugins}

    def write_network(self, conf, priority=10, text=None):
        path = os.path.join(self.conf_dir, '%02d-%s.conflist' % (priority, conf['name']))
        with open(path, 'w') as f:
            f.write(text if text is not None else json.dumps(conf, indent=2))
        return path

    # -- running things inside the host namespace

    def module(self, name, args, check=False, diff=True, python=None):
        """Run a cni.node module as Ansible would, but inside the lab's host namespace."""
        return run_module(name, args, check=check, diff=diff, python=python,
                          prefix=('ip', 'netns', 'exec', self.host), tmp_dir=self.tmp, timeout=300)

    def plugin(self, command, conf, container_id, netns, ifname='eth0', args=''):
        """One plugin run directly, as cnitool would (no cni.node code): (exit code, parsed stdout)."""
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'CNI_COMMAND': command, 'CNI_CONTAINERID': container_id,
               'CNI_NETNS': '/run/netns/' + netns, 'CNI_IFNAME': ifname, 'CNI_ARGS': args, 'CNI_PATH': CNI_BIN}
        proc = subprocess.run(['ip', 'netns', 'exec', self.host, os.path.join(CNI_BIN, conf['type'])],
                              input=json.dumps(conf).encode(), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60, check=False)
        out = proc.stdout.decode()
        return proc.returncode, (json.loads(out) if out.strip() else None)

    # -- what there is to see

    def host_veths(self):
        out = self.in_host('ip', '-o', 'link', 'show', 'type', 'veth')
        return [line.split(':')[1].strip().split('@')[0] for line in out.splitlines() if line.strip()]

    def pod_addresses(self, pod, ifname='eth0'):
        out = sh('ip', '-n', pod, '-4', '-o', 'addr', 'show', 'dev', ifname, check=False)
        return [line.split()[3] for line in out.splitlines() if line.strip()]

    def leases(self, network):
        d = os.path.join(self.data_dir, network)
        if not os.path.isdir(d):
            return {}
        out = {}
        for fname in os.listdir(d):
            if fname == 'lock' or fname.startswith('last_reserved_ip'):
                continue
            with open(os.path.join(d, fname), newline='') as f:
                out[fname] = f.read()
        return out

    def iptables(self):
        return self.in_host('iptables-save')

    def pings(self, pod, address):
        proc = subprocess.run(['ip', 'netns', 'exec', pod, 'ping', '-c', '1', '-W', '2', address],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        return proc.returncode == 0


@pytest.fixture
def lab():
    missing = _missing_plugins()
    if missing:
        pytest.fail('reference CNI plugins missing in %s: %s (install containernetworking-plugins)'
                    % (CNI_BIN, ', '.join(missing)))
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        the_lab.destroy()
