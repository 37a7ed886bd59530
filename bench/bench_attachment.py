#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: overhead of the cni_attachment runtime core over the plugins themselves.

N ADD+DEL cycles of a bridge + host-local network: through the core (network
loaded from a conf dir by name, binaries checked, stdin built, the libcni
cache written and read back, DEL of the cached attachment), against the same
two plugin invocations run directly with the same stdin and environment.
Cycles alternate, so both see the same machine. Two figures per
attachment (ADD+DEL): the overhead, the median of each cycle's core time
minus the direct time of the same cycle (paired, so a slow moment of the
machine hits both), and the core's own time, its time outside the plugin
processes (what the core itself costs; the plugins' run time varies by
milliseconds from one invocation to the next, more than the core costs).
With ``--before REF`` the core of git REF runs too, in the same cycles
(direct, then after and before, their order swapped every cycle), and both are reported side by side.

Safety: everything happens in two throwaway namespaces (cnt-...): the bench
re-runs itself inside the "host" one, so the bridge and veths never touch
the machine's own namespace; conf, cache and host-local dirs are temporary.

Usage: .venv/bin/python bench/bench_attachment.py [--cycles N] [--before REF]
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

from _common import before_tree

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNI_BIN = '/usr/lib/cni'


def load_core(root):
    """The runtime rooms of the collection under ``root``, imported apart from any other tree's."""
    for name in [n for n in sys.modules if n == 'ansible_collections' or n.startswith('ansible_collections.')]:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        from ansible_collections.cni.node.plugins.module_utils import (  # pylint: disable=import-error
            _cnicache, _cniexec, _cniloader, _cniruntime)
    finally:
        sys.path.remove(root)
    return _cnicache, _cniexec, _cniloader, _cniruntime


def inner(cycles, pod, work, before_root=None):
    root = os.path.join(work, 'collections')
    os.makedirs(os.path.join(root, 'ansible_collections', 'cni'))
    os.symlink(REPO, os.path.join(root, 'ansible_collections', 'cni', 'node'))
    trees = [('after', load_core(root))]
    if before_root:
        trees.append(('before', load_core(before_root)))
    _cnicache, _cniexec, _cniloader, _cniruntime = trees[0][1]  # pylint: disable=unbalanced-tuple-unpacking

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

    def core(rooms, cid):
        cache, _exec, loader, runtime = rooms
        start = time.monotonic()
        plugin_time = 0.0
        for state in ('present', 'absent'):
            runner = runtime.Runner([CNI_BIN])           # one module run each: nothing carried over
            rt = cache.RuntimeConf(cid, netns, 'eth0')
            out = runtime.reconcile(runner, lambda: loader.load_network(conf_dir, 'benchnet'), rt,
                                    state, cache_dir, network_name='benchnet')
            assert out.actions == (['ADD'] if state == 'present' else ['DEL'])
            plugin_time += sum(i['duration_ms'] for i in runner.invocations) / 1000.0
        return time.monotonic() - start, plugin_time

    direct('warm-up-direct')
    for name, rooms in trees:
        core(rooms, 'warm-up-' + name)
    d_tot, c_tot, c_over, paired = [], {}, {}, {}
    for i in range(cycles):
        d = direct('d%d' % i)[0]
        d_tot.append(d)
        for name, rooms in (trees if i % 2 == 0 else trees[::-1]):   # neither tree always right after direct
            total, plugins = core(rooms, '%s%d' % (name[0], i))
            c_tot.setdefault(name, []).append(total)
            c_over.setdefault(name, []).append(total - plugins)
            paired.setdefault(name, []).append(total - d)
    med = statistics.median
    out = dict(cycles=cycles, direct_ms=round(med(d_tot) * 1000, 2))
    for name, _rooms in trees:
        out[name] = dict(core_ms=round(med(c_tot[name]) * 1000, 2),
                         overhead_ms=round(med(paired[name]) * 1000, 2),
                         core_own_time_ms=round(med(c_over[name]) * 1000, 2),
                         core_own_p90_ms=round(sorted(c_over[name])[int(len(c_over[name]) * 0.9)] * 1000, 2))
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--cycles', type=int, default=100)
    parser.add_argument('--before', metavar='REF', help='also run the core of this git commit, interleaved')
    parser.add_argument('--inner', nargs=3, metavar=('POD', 'WORKDIR', 'BEFORE_ROOT'), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.inner:
        inner(opts.cycles, opts.inner[0], opts.inner[1], opts.inner[2] if opts.inner[2] != '-' else None)
        return
    host, pod = 'cnt-' + uuid.uuid4().hex[:8], 'cnt-' + uuid.uuid4().hex[:8]
    work = tempfile.mkdtemp(prefix='cnt-bench-')
    try:
        before_root = before_tree(opts.before, os.path.join(work, 'before')) if opts.before else '-'
        for ns in (host, pod):
            subprocess.run(['ip', 'netns', 'add', ns], check=True)
        proc = subprocess.run(['ip', 'netns', 'exec', host, sys.executable, os.path.abspath(__file__),
                               '--cycles', str(opts.cycles), '--inner', pod, work, before_root],
                              stdout=subprocess.PIPE, universal_newlines=True, check=False)
        if proc.returncode != 0:
            raise SystemExit('bench failed (exit code %d)' % proc.returncode)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        print('cni_attachment core vs plugins run directly, %d ADD+DEL cycles of a bridge network%s'
              % (res['cycles'], ', before (%s) and after interleaved' % opts.before if opts.before else ''))
        print('  median per attachment, plugins run directly: %.1f ms' % res['direct_ms'])
        for name in ('before', 'after'):
            if name not in res:
                continue
            r = res[name]
            print('  %-6s through the core %.1f ms; overhead (paired median) %.1f ms; '
                  'core time outside the plugins %.1f ms (90th percentile %.1f ms)'
                  % (name, r['core_ms'], r['overhead_ms'], r['core_own_time_ms'], r['core_own_p90_ms']))
    finally:
        for ns in (pod, host):
            subprocess.run(['ip', 'netns', 'del', ns], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
