#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: cni_ipam_pool allocation for 1,000 / 10,000 / 50,000 members.

Pool 10.0.0.0/8 with /24 per member (65,536 subnets), plus a dual-stack case
(10.0.0.0/8 + fd00::/48, /24 and /64). For each size: a first run (every
member is new, the state file is created) and a no-change run (the same
members, reordered).

Two figures per run:

- core: the module's own work, in-process - lock, read and parse the state
  file, allocate, render and atomically write it, build the per-member
  result (subnets and host-local ranges). Peak Python memory by tracemalloc
  (a separate, traced repetition, so tracing does not inflate the time).
- module: the whole module process as Ansible runs it (python -m ... with a
  JSON argument file): interpreter start, AnsibleModule argument
  validation, the core, and exit_json's serialisation of the result. Peak
  RSS of the process (getrusage).

Prints a Markdown table (for docs/performance.md).

Usage: .venv/bin/python bench/bench_ipam.py [--rounds N] [--sizes 1000,10000,50000]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PY = os.path.join(REPO, '.venv', 'bin', 'python')

CASES = {
    'ipv4': dict(cidr='10.0.0.0/8', node_prefix=24),
    'dual-stack': dict(cidr=['10.0.0.0/8', 'fd00::/48'], node_prefix={'ipv4': 24, 'ipv6': 64}),
}


def collections_root():
    root = tempfile.mkdtemp(prefix='cnb-collections-')
    os.makedirs(os.path.join(root, 'ansible_collections', 'cni'))
    os.symlink(REPO, os.path.join(root, 'ansible_collections', 'cni', 'node'))
    return root


def args_for(case, members, path):
    args = dict(name='pods', members=members, path=path, claims={}, reserved=[], purge=False, state='present',
                lock_timeout=60)
    args.update(CASES[case])
    return args


def core_run(args):
    from ansible_collections.cni.node.plugins.modules import cni_ipam_pool   # pylint: disable=import-error
    plan = cni_ipam_pool.run(args, check_mode=False)
    return plan, plan.changes.result(diff_mode=False, members=plan.members, totals=plan.totals)


def time_core(args, fresh):
    if fresh and os.path.exists(args['path']):
        os.unlink(args['path'])
    t = time.perf_counter()
    plan, _res = core_run(args)
    return time.perf_counter() - t, plan


def mem_core(args, fresh):
    if fresh and os.path.exists(args['path']):
        os.unlink(args['path'])
    tracemalloc.start()
    core_run(args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def module_run(root, args, tmp):
    argfile = os.path.join(tmp, 'args.json')
    with open(argfile, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
    env = dict(os.environ, PYTHONPATH=root)
    t = time.perf_counter()
    proc = subprocess.run([VENV_PY, '-m', 'ansible_collections.cni.node.plugins.modules.cni_ipam_pool', argfile],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t
    res = json.loads(proc.stdout)
    if res.get('failed'):
        raise SystemExit('module failed: %s' % res.get('msg'))
    return elapsed, res['changed']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--sizes', default='1000,10000,50000')
    ap.add_argument('--cases', default='ipv4,dual-stack')
    opts = ap.parse_args()
    root = collections_root()
    sys.path.insert(0, root)
    tmp = tempfile.mkdtemp(prefix='cnb-ipam-')
    rows = []
    try:
        for case in opts.cases.split(','):
            for size in [int(s) for s in opts.sizes.split(',')]:
                members = ['node%05d' % i for i in range(size)]
                shuffled = list(members)
                random.Random(size).shuffle(shuffled)
                path = os.path.join(tmp, 'ipam.json')
                first = dict(core=[], module=[])
                again = dict(core=[], module=[])
                for _n in range(opts.rounds):
                    t, plan = time_core(args_for(case, members, path), fresh=True)
                    assert plan.write and len(plan.allocated) == size
                    first['core'].append(t)
                    t, plan = time_core(args_for(case, shuffled, path), fresh=False)
                    assert not plan.write and not plan.changes.drift
                    again['core'].append(t)
                    os.unlink(path)
                    t, changed = module_run(root, args_for(case, members, path), tmp)
                    assert changed
                    first['module'].append(t)
                    t, changed = module_run(root, args_for(case, shuffled, path), tmp)
                    assert not changed
                    again['module'].append(t)
                mem_first = mem_core(args_for(case, members, path), fresh=True)
                mem_again = mem_core(args_for(case, shuffled, path), fresh=False)
                size_kib = os.path.getsize(path) // 1024
                # Peak RSS of one module process (fresh measurement for each run kind).
                rss_first = _rss_of(root, args_for(case, members, path), tmp, fresh=True)
                rss_again = _rss_of(root, args_for(case, shuffled, path), tmp, fresh=False)
                for label, d, mem, rss in (('first run', first, mem_first, rss_first),
                                           ('no change', again, mem_again, rss_again)):
                    rows.append((case, size, label, statistics.median(d['core']), mem,
                                 statistics.median(d['module']), rss, size_kib))
                    print('%s %d %s core %.3f s module %.3f s' % (case, size, label, rows[-1][3], rows[-1][5]),
                          file=sys.stderr)
    finally:
        shutil.rmtree(tmp, True)
        shutil.rmtree(root, True)
    print('| pool | members | run | core time | core peak (tracemalloc) | module process | module peak RSS |'
          ' state file |')
    print('|---|---|---|---|---|---|---|---|')
    for case, size, label, core, mem, mod, rss, kib in rows:
        print('| %s | %s | %s | %.3f s | %.1f MiB | %.2f s | %.0f MiB | %d KiB |'
              % (case, '{:,}'.format(size), label, core, mem / 1048576.0, mod, rss / 1024.0, kib))


def _rss_of(root, args, tmp, fresh):
    """Peak RSS (KiB) of one module process, measured alone through a wrapper's getrusage."""
    if fresh and os.path.exists(args['path']):
        os.unlink(args['path'])
    argfile = os.path.join(tmp, 'args.json')
    with open(argfile, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
    code = ('import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); '
            'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)')
    out = subprocess.run([VENV_PY, '-c', code, VENV_PY, '-m',
                          'ansible_collections.cni.node.plugins.modules.cni_ipam_pool', argfile],
                         env=dict(os.environ, PYTHONPATH=root), stdout=subprocess.PIPE, check=True)
    return int(out.stdout.decode().strip())


if __name__ == '__main__':
    main()
