#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: cni_vxlan reconciling N static peers against the per-peer command loop and ip -batch.

Everything happens inside a throwaway network namespace (``cnt-bench-…``)
with a veth pair as the stand-in underlay; the VXLAN device is made first by
cni_vxlan without peers (not measured), so every tool starts from the same
device and only the peers' entries are measured (L3 mode: per peer one
route, one permanent neighbour, one FDB entry).

- cni_vxlan: one task with all N peers. First run, no-change run, and a run
  with 10% of the peers changed (a new underlay address: new MAC, so a new
  FDB entry and a new neighbour). Task time from the ansible.posix.json
  callback, after a warm-up task.
- loop: the conventional way, three ``ansible.builtin.command`` tasks looping
  over the peers (``ip route replace … onlink``, ``ip neigh replace … nud
  permanent``, ``bridge fdb append …``). It has no way to tell that nothing
  changed, so a rerun costs the same.
- ip -batch: the same entries with ``ip -batch`` and ``bridge -batch`` (the
  fastest way with the iproute2 tools; no comparison, no report).
- module start: the cni_vxlan task with the device only (no peers), no
  change: what one call of the module costs before any peer.

With ``--before REF`` the cni_vxlan runs of git REF's collection come in the
same rounds (after and before, their order swapped every round) and the
table shows both.

Usage: .venv/bin/python bench/bench_vxlan.py [--rounds N] [--sizes 10,100,1000] [--loop-sizes 10,100,500] [--before REF]
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from _common import REPO, before_tree, play, run_play

sys.path.insert(0, os.path.join(REPO, 'build', 'collections'))
from ansible_collections.cni.node.plugins.module_utils._overlay import vtep_mac  # noqa: E402 pylint: disable=wrong-import-position

LOCAL = '192.0.2.1'

PLAY_DEVICE = play('''
    - name: bench
      cni.node.cni_vxlan:
        name: vx0
        vni: 42
        dev: u0
        netns: "{{ ns }}"
        addresses: [10.0.0.0/32]
''')
PLAY_CNI = play('''
    - name: bench
      cni.node.cni_vxlan:
        name: vx0
        vni: 42
        dev: u0
        netns: "{{ ns }}"
        addresses: [10.0.0.0/32]
        peers: "{{ peers }}"
        purge_peers: true
''')
PLAY_LOOP = play('''
    - name: bench route
      ansible.builtin.command: ip -n {{ ns }} route replace {{ item.subnet }} via {{ item.vtep }} dev vx0 onlink
      loop: "{{ loop_peers }}"
      changed_when: true
    - name: bench neighbour
      ansible.builtin.command: ip -n {{ ns }} neigh replace {{ item.vtep }} lladdr {{ item.mac }} dev vx0 nud permanent
      loop: "{{ loop_peers }}"
      changed_when: true
    - name: bench fdb
      ansible.builtin.command: bridge -n {{ ns }} fdb append {{ item.mac }} dst {{ item.remote }} dev vx0
      loop: "{{ loop_peers }}"
      changed_when: true
''')


def peers(n, changed_every=0):
    out = []
    for i in range(n):
        remote = '198.18.%d.%d' % (i // 250, i % 250 + 1)
        if changed_every and i % changed_every == 0:
            remote = '198.19.%d.%d' % (i // 250, i % 250 + 1)
        out.append(dict(remote=remote, subnet='10.%d.%d.0/24' % (i // 250 + 1, i % 250)))
    return out


def loop_items(items):
    return [dict(p, vtep=p['subnet'].split('/')[0], mac=vtep_mac(p['remote'])) for p in items]


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


class Namespace(object):
    def __init__(self):
        self.name = 'cnt-bench-' + uuid.uuid4().hex[:6]

    def __enter__(self):
        sh('ip', 'netns', 'add', self.name)
        sh('ip', '-n', self.name, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1')
        sh('ip', '-n', self.name, 'addr', 'add', LOCAL + '/24', 'dev', 'u0')
        sh('ip', '-n', self.name, 'link', 'set', 'u0', 'up')
        return self

    def __exit__(self, *exc):
        subprocess.run(['ip', 'netns', 'del', self.name], check=False)
        return False

    def reset(self, workdir, root=None):
        subprocess.run(['ip', '-n', self.name, 'link', 'del', 'vx0'], check=False, stderr=subprocess.DEVNULL)
        run_play(PLAY_DEVICE, workdir, dict(ns=self.name), collections=root)


def bench_cni(ns, n, workdir, root=None):
    ns.reset(workdir, root)
    extra = dict(ns=ns.name, peers=peers(n))
    first = run_play(PLAY_CNI, workdir, extra, collections=root)
    same = run_play(PLAY_CNI, workdir, extra, collections=root)
    tenth = run_play(PLAY_CNI, workdir, dict(extra, peers=peers(n, changed_every=10)), collections=root)
    assert first[2] and not same[2] and tenth[2], (first, same, tenth)
    return first[0], same[0], tenth[0]


def bench_loop(ns, n, workdir, rerun=True):
    ns.reset(workdir)
    extra = dict(ns=ns.name, loop_peers=loop_items(peers(n)))
    first = run_play(PLAY_LOOP, workdir, extra)[0]
    again = run_play(PLAY_LOOP, workdir, extra)[0] if rerun else None
    return first, again


def bench_batch(ns, n, workdir):
    ns.reset(workdir)
    items = loop_items(peers(n))
    ip_file, br_file = os.path.join(workdir, 'ip.batch'), os.path.join(workdir, 'bridge.batch')
    with open(ip_file, 'w') as f:
        for p in items:
            f.write('route replace %(subnet)s via %(vtep)s dev vx0 onlink\n' % p)
            f.write('neigh replace %(vtep)s lladdr %(mac)s dev vx0 nud permanent\n' % p)
    with open(br_file, 'w') as f:
        for p in items:
            f.write('fdb append %(mac)s dst %(remote)s dev vx0\n' % p)
    start = time.monotonic()
    sh('ip', '-n', ns.name, '-batch', ip_file)
    sh('bridge', '-n', ns.name, '-batch', br_file)
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--sizes', default='10,100,1000')
    parser.add_argument('--loop-sizes', default='10,100,500')
    parser.add_argument('--loop-rerun-max', type=int, default=100,
                        help='rerun the loop only up to this size (a rerun costs what the first run did)')
    parser.add_argument('--before', metavar='REF', help="also run git REF's cni_vxlan, interleaved")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(',')]
    loop_sizes = [int(x) for x in args.loop_sizes.split(',')] if args.loop_sizes else []
    workdir = tempfile.mkdtemp(prefix='cni-node-bench-')
    cni, loop, batch, start = {}, {}, {}, []
    trees = [('after', None)]
    if args.before:
        trees.append(('before', before_tree(args.before, os.path.join(workdir, 'before'))))
    old = dict(cni={}, start=[])
    try:
        with Namespace() as ns:
            for r in range(args.rounds):
                for name, root in (trees if r % 2 == 0 else trees[::-1]):
                    into = old if name == 'before' else dict(cni=cni, start=start)
                    ns.reset(workdir, root)
                    into['start'].append(run_play(PLAY_DEVICE, workdir, dict(ns=ns.name), collections=root)[0])
                    for n in sizes:
                        into['cni'].setdefault(n, []).append(bench_cni(ns, n, workdir, root))
                for n in sizes:
                    batch.setdefault(n, []).append(bench_batch(ns, n, workdir))
            for n in loop_sizes:
                loop[n] = bench_loop(ns, n, workdir, rerun=n <= args.loop_rerun_max)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    med = statistics.median
    print('%s, %d cores; cni_vxlan and ip -batch: median of %d rounds; loop: one run per size.\n'
          % (time.strftime('%Y-%m-%d'), os.cpu_count(), args.rounds))
    print('Module start (cni_vxlan task, device only, no change): %.3f s%s\n'
          % (med(start), ' (before %s: %.3f s)' % (args.before, med(old['start'])) if args.before else ''))
    if args.before:
        print('Before (%s) and after, interleaved in the same rounds:\n' % args.before)
        print('| peers | run | before | after | ip -batch + bridge -batch | peer work before / after '
              '(task - module start) | peer work after / ip -batch |')
        print('|---|---|---|---|---|---|---|')
        for n in sizes:
            for i, label in ((0, 'first'), (1, 'no change'), (2, '10% changed')):
                b4, af = med(x[i] for x in old['cni'][n]), med(x[i] for x in cni[n])
                wb, wa = b4 - med(old['start']), af - med(start)
                print('| {:,} | {} | {:.3f} s | {:.3f} s | {:.4f} s | {:.3f} s / {:.3f} s | {:.1f}x |'.format(
                    n, label, b4, af, med(batch[n]), wb, wa, wa / med(batch[n])))
        print('')
    print('| peers | cni_vxlan first | no change | 10% changed | ip -batch + bridge -batch | '
          'loop first | loop rerun | loop / cni_vxlan (first) |')
    print('|---|---|---|---|---|---|---|---|')
    for n in sorted(set(sizes) | set(loop_sizes)):
        c = [med(r[i] for r in cni[n]) for i in range(3)] if n in cni else None
        b = med(batch[n]) if n in batch else None
        lf, lr = loop.get(n, (None, None))
        cells = ['{:,}'.format(n)]
        cells += ['%.3f s' % x for x in c] if c else ['-'] * 3
        cells.append('%.4f s' % b if b is not None else '-')
        cells.append('%.1f s' % lf if lf is not None else '-')
        cells.append('%.1f s' % lr if lr is not None else '-')
        cells.append('%.0fx' % (lf / c[0]) if (lf is not None and c) else '-')
        print('| ' + ' | '.join(cells) + ' |')
    if 1000 in cni and batch.get(1000):
        first = med(r[0] for r in cni[1000])
        bound = 2 * (med(batch[1000]) + med(start))
        print('\n1,000 peers: cni_vxlan first run %.3f s; 2 x (ip -batch %.4f s + module start %.3f s) = %.3f s'
              % (first, med(batch[1000]), med(start), bound))
    if loop_sizes and 1000 in cni:
        largest = max(loop_sizes)
        per_peer = loop[largest][0] / largest
        print('Loop extrapolated linearly to 1,000 peers from its rate at %d peers: %.0f s (%.0fx cni_vxlan)'
              % (largest, per_peer * 1000, per_peer * 1000 / med(r[0] for r in cni[1000])))


if __name__ == '__main__':
    main()
