#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: overhead of the cni_attachment runtime core over the plugins themselves.

N ADD+DEL cycles of a bridge + host-local network: through the core (network
loaded from a conf dir by name, binaries checked, stdin built, the libcni
cache written and read back, DEL of the cached attachment), against the same
two plugin invocations run directly with the same stdin and environment.
Cycles alternate, so both see the same machine. The figure is the median
overhead per attachment (ADD+DEL).

Safety: everything happens in two throwaway namespaces (cnt-...): the bench
re-runs itself inside the "host" one, so the bridge and veths never touch
the machine's own namespace; conf, cache and host-local dirs are temporary.

Usage: .venv/bin/python bench/bench_attachment.py [--cycles N]
"""

from __future__ import absolute_import, division, print_function

import argparse
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
CNI_BIN = '/usr/lib/cni'


def inner(cycles, pod, work):
    root = os.path.join(work, 'collections')
    os.makedirs(os.path.join(root, 'ansible_collections', 'cni'))
    os.symlink(REPO, os.path.join(root, 'ansible_collections', 'cni', 'node'))
    sys.path.insert(0, root)
    from ansible_collections.cni.node.plugins.module_utils import (  # pylint: disable=import-error
        _cnicache, _cniexec, _cniloader, _cniruntime)

    conf_dir = os.path.join(work, 'net.d')
    os.mkdir(conf_dir)
    plugin = {'type': 'bridge', 'bridge': 'cnt-bench0', 'isGateway': True,
              'ipam': {'type': 'host-local', 'dataDir': os.path.join(work, 'ipam'),
                       'ranges': [[{'subnet': '10.199.0.0/24'}]]}}
    conf = {'cniVersion': '1.0.0', 'name': 'benchnet', 'plugins': [plugin]}
    with open(os.path.join(conf_dir, '10-benchnet.conflist'), 'w') as f:
        json.dump(conf, f)
    cache_dir = os.path.join(work, 'cache')
    netns = '/run/netns/' + pod

    def direct(cid):
        env = {'CNI_CONTAINERID': cid, 'CNI_NETNS': netns, 'CNI_IFNAME': 'eth0', 'CNI_ARGS': '',
               'CNI_PATH': CNI_BIN}
        stdin = dict(plugin, name='benchnet', cniVersion='1.0.0')
        start = time.monotonic()
        add = _cniexec.execute(os.path.join(CNI_BIN, 'bridge'), 'ADD', json.dumps(stdin).encode(), env=env)
        stdin['prevResult'] = json.loads(add.stdout)
        dele = _cniexec.execute(os.path.join(CNI_BIN, 'bridge'), 'DEL', json.dumps(stdin).encode(), env=env)
        took = time.monotonic() - start
        assert add.returncode == 0 and dele.returncode == 0, (add.stdout, dele.stdout)
        return took, add.duration + dele.duration

    def core(cid):
        start = time.monotonic()
        plugin_time = 0.0
        for state in ('present', 'absent'):
            runner = _cniruntime.Runner([CNI_BIN])           # one module run each: nothing carried over
            rt = _cnicache.RuntimeConf(cid, netns, 'eth0')
            out = _cniruntime.reconcile(runner, lambda: _cniloader.load_network(conf_dir, 'benchnet'), rt,
                                        state, cache_dir, network_name='benchnet')
            assert out.actions == (['ADD'] if state == 'present' else ['DEL'])
            plugin_time += sum(i['duration_ms'] for i in runner.invocations) / 1000.0
        return time.monotonic() - start, plugin_time

    direct('warm-up-direct')
    core('warm-up-core')
    d_tot, c_tot, c_over = [], [], []
    for i in range(cycles):
        d_tot.append(direct('d%d' % i)[0])
        total, plugins = core('c%d' % i)
        c_tot.append(total)
        c_over.append(total - plugins)
    med = statistics.median
    print(json.dumps(dict(cycles=cycles, direct_ms=round(med(d_tot) * 1000, 2), core_ms=round(med(c_tot) * 1000, 2),
                          overhead_ms=round((med(c_tot) - med(d_tot)) * 1000, 2),
                          core_own_time_ms=round(med(c_over) * 1000, 2))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--cycles', type=int, default=100)
    parser.add_argument('--inner', nargs=2, metavar=('POD', 'WORKDIR'))
    opts = parser.parse_args()
    if opts.inner:
        inner(opts.cycles, *opts.inner)
        return
    host, pod = 'cnt-' + uuid.uuid4().hex[:8], 'cnt-' + uuid.uuid4().hex[:8]
    work = tempfile.mkdtemp(prefix='cnt-bench-')
    try:
        for ns in (host, pod):
            subprocess.run(['ip', 'netns', 'add', ns], check=True)
        proc = subprocess.run(['ip', 'netns', 'exec', host, sys.executable, os.path.abspath(__file__),
                               '--cycles', str(opts.cycles), '--inner', pod, work],
                              stdout=subprocess.PIPE, universal_newlines=True, check=False)
        if proc.returncode != 0:
            raise SystemExit('bench failed (exit code %d)' % proc.returncode)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        print('cni_attachment core vs plugins run directly, %d ADD+DEL cycles of a bridge network' % res['cycles'])
        print('  median per attachment: direct %.1f ms, through the core %.1f ms'
              % (res['direct_ms'], res['core_ms']))
        print('  median overhead of the core: %.1f ms (core time outside the plugins: %.1f ms)'
              % (res['overhead_ms'], res['core_own_time_ms']))
    finally:
        for ns in (pod, host):
            subprocess.run(['ip', 'netns', 'del', ns], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
