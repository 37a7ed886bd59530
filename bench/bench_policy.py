#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: cni_policy over 1,000 pod addresses, and the packet path cost of its table.

- **apply**: the module (run as Ansible runs it: a process reading its
  argument file) creating the table of a policy over N cached attachments
  (half ``app=web``, selected; half ``role=client``, the allowed peers);
  **no change**: the same task again (compile, list, compare; no
  transaction); **one new pod**: the run after one more attachment (one
  transaction replacing the table). Medians of ``--rounds`` runs.
- **TCP connect rate** between two real pods on one bridge (br_netfilter on)
  for ``--seconds`` seconds: without any table, then with the policy in force
  (the client allowed by set lookup among N addresses, the server selected).

Safety: everything runs in throwaway namespaces ``cnb-...`` (the node's, where
the bridge, br_netfilter's key and the nftables table live, and the two
pods'); the conf and cache dirs are temporary. The machine's own ruleset is
never touched.

Usage: .venv/bin/python bench/bench_policy.py [--pods N] [--rounds N] [--seconds S]   (as root)
"""

from __future__ import absolute_import, division, print_function

import argparse
import base64
import ipaddress
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 8080

SERVER = '''
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d)); s.listen(1024)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()
''' % PORT

CLIENT = '''
import socket, sys, time
addr, seconds = sys.argv[1], float(sys.argv[2])
n, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    s = socket.socket(); s.settimeout(2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00")
    s.connect((addr, %d)); s.close(); n += 1
print(n / seconds)
''' % PORT


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def entry(network, conf, cid, netns, ip, labels):
    return {'kind': 'cniCacheV1', 'containerId': cid, 'config': base64.b64encode(conf).decode(),
            'ifName': 'eth0', 'networkName': network, 'netns': netns,
            'result': {'cniVersion': '1.0.0', 'ips': [{'address': '%s/16' % ip}]}, 'cni.node/labels': labels}


def run_module(work, node, args):
    root = os.path.join(work, 'collections')
    path = os.path.join(work, 'args.json')
    with open(path, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=False, _ansible_diff=False)}, f)
    start = time.monotonic()
    proc = subprocess.run(['ip', 'netns', 'exec', node, sys.executable, '-m',
                           'ansible_collections.cni.node.plugins.modules.cni_policy', path],
                          stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=root), check=False)
    took = time.monotonic() - start
    res = json.loads(proc.stdout)
    if res.get('failed'):
        raise SystemExit('cni_policy failed: %s' % res.get('msg'))
    return took, res


def rate(client, server_ip, seconds):
    out = subprocess.run(['ip', 'netns', 'exec', client, sys.executable, '-c', CLIENT, server_ip, str(seconds)],
                         stdout=subprocess.PIPE, check=True, universal_newlines=True).stdout
    return float(out.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--pods', type=int, default=1000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--seconds', type=float, default=3.0)
    parser.add_argument('--rate-rounds', type=int, default=3, help='alternating rounds of the connect rates')
    opts = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit('run as root (namespaces, nftables inside them)')

    tag = uuid.uuid4().hex[:6]
    node, client, server = 'cnb-pn-' + tag, 'cnb-pc-' + tag, 'cnb-ps-' + tag
    network = 'cnbpol' + tag
    work = tempfile.mkdtemp(prefix='cnb-policy-')
    procs = []
    try:
        os.makedirs(os.path.join(work, 'collections', 'ansible_collections', 'cni'))
        os.symlink(REPO, os.path.join(work, 'collections', 'ansible_collections', 'cni', 'node'))
        for ns in (node, client, server):
            sh('ip', 'netns', 'add', ns)
        sh('ip', 'netns', 'exec', node, 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1')
        sh('ip', '-n', node, 'link', 'add', 'cnbbr0', 'type', 'bridge')
        sh('ip', '-n', node, 'link', 'set', 'cnbbr0', 'up')
        addrs = {client: '10.128.255.1', server: '10.128.255.2'}
        for ns, ip in addrs.items():
            sh('ip', '-n', node, 'link', 'add', 'cnbv' + ns[5], 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
            sh('ip', '-n', node, 'link', 'set', 'cnbv' + ns[5], 'master', 'cnbbr0', 'up')
            sh('ip', '-n', ns, 'addr', 'add', ip + '/16', 'dev', 'eth0')
            sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up')
            sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')

        conf_dir, cache_dir = os.path.join(work, 'net.d'), os.path.join(work, 'cache')
        os.makedirs(conf_dir)
        os.makedirs(os.path.join(cache_dir, 'results'))
        conf = json.dumps({'cniVersion': '1.0.0', 'name': network, 'plugins': [
            {'type': 'bridge', 'bridge': 'cnbbr0', 'ipam': {'type': 'host-local', 'subnet': '10.128.0.0/16'}}]})
        with open(os.path.join(conf_dir, '10-%s.conflist' % network), 'w') as f:
            f.write(conf)
        base = int(ipaddress.ip_address('10.128.0.10'))

        def add_pod(i, ip=None, netns=None, labels=None):
            cid = 'pod-%05d' % i
            ip = ip or str(ipaddress.ip_address(base + i))
            labels = labels or ({'app': 'web'} if i % 2 == 0 else {'role': 'client'})
            with open(os.path.join(cache_dir, 'results', '%s-%s-eth0' % (network, cid)), 'w') as f:
                json.dump(entry(network, conf.encode(), cid, netns or '/run/netns/' + client, ip, labels), f)

        for i in range(opts.pods - 2):
            add_pod(i)
        add_pod(opts.pods - 2, addrs[client], '/run/netns/' + client, {'role': 'client'})
        add_pod(opts.pods - 1, addrs[server], '/run/netns/' + server, {'app': 'web'})

        proc = subprocess.Popen(['ip', 'netns', 'exec', server, sys.executable, '-c', SERVER],
                                stdout=subprocess.PIPE)
        procs.append(proc)
        proc.stdout.readline()
        rate(client, addrs[server], 0.5)     # warm-up

        args = dict(name='web', network=network, conf_dir=conf_dir, cache_dir=cache_dir,
                    pod_selector={'match_labels': {'app': 'web'}},
                    ingress=[{'from': [{'pod_selector': {'match_labels': {'role': 'client'}}}],
                              'ports': [{'protocol': 'TCP', 'port': PORT}]}])
        applies, nochange, onenew = [], [], []
        for r in range(opts.rounds):
            took, res = run_module(work, node, args)
            assert res['changed'] and res['transactions'] == 1
            applies.append(took)
            counts = res['counts']
            took, res = run_module(work, node, args)
            assert not res['changed'], res['drift'][:3]
            nochange.append(took)
            add_pod(opts.pods + r, str(ipaddress.ip_address(base + 60000 + r)))
            took, res = run_module(work, node, args)
            assert res['changed'] and res['transactions'] == 1
            onenew.append(took)
            took, res = run_module(work, node, dict(args, state='absent'))
            assert res['changed']
        # The connect rates alternate, so both see the same machine load.
        rates_with, rates_without = [], []
        for r in range(opts.rate_rounds):
            rates_without.append(rate(client, addrs[server], opts.seconds))
            run_module(work, node, args)
            rates_with.append(rate(client, addrs[server], opts.seconds))
            run_module(work, node, dict(args, state='absent'))
        without, with_policy_rate = statistics.median(rates_without), statistics.median(rates_with)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        for ns in (client, server, node):
            subprocess.run(['ip', 'netns', 'del', ns], check=False)
        shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    print('`--pods %d --rounds %d --seconds %g --rate-rounds %d`\n'
          % (opts.pods, opts.rounds, opts.seconds, opts.rate_rounds))
    print('| %d pod addresses (half selected, half allowed peers) | median of %d |' % (opts.pods, opts.rounds))
    print('|---|---|')
    print('| apply (table created, one transaction) | %.0f ms |' % (med(applies) * 1000))
    print('| no change (compile, list, compare) | %.0f ms |' % (med(nochange) * 1000))
    print('| one new pod (table replaced, one transaction) | %.0f ms |' % (med(onenew) * 1000))
    print('| the table | %d sets, %d elements, %d rules |' % (counts['sets'], counts['elements'], counts['rules']))
    print('')
    print('| TCP connects/s between two pods on one bridge (%g s, one client; median of %d alternating rounds) '
          '| rate |' % (opts.seconds, opts.rate_rounds))
    print('|---|---|')
    print('| no table | %.0f |' % without)
    print('| the policy in force (client allowed by set lookup among %d addresses) | %.0f (%+.1f %%) |'
          % (opts.pods, with_policy_rate, (with_policy_rate / without - 1) * 100))


if __name__ == '__main__':
    main()
