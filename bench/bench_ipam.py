#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: cni_ipam_pool allocation for 1,000 / 10,000 / 50,000 members.

Pool 10.0.0.0/8 with /24 per member (65,536 subnets), plus a dual-stack case
(10.0.0.0/8 + fd00::/48, /24 and /64). For each size: a first run (every
member is new, the state file is created) and a no-change run (the same
members, reordered).

Three figures per run:

- core: the module's own work, in-process - lock, read and parse the state
  file, allocate, render and atomically write it, build the per-member
  result (subnets and host-local ranges). Peak Python memory by tracemalloc
  (a separate, traced repetition, so tracing does not inflate the time).
- module: the whole module process as Ansible runs it (python -m ... with a
  JSON argument file): interpreter start, AnsibleModule argument
  validation, the core, and exit_json's no_log scan and serialisation of
  the result. Wall time and CPU time (user + system, from getrusage: less
  sensitive to other processes on a shared machine), peak RSS.
- playbook task: the allocation task's duration in a real ansible-playbook
  run on localhost (ansible.posix.json callback: from the task's start to
  its result reaching the controller's callback), members from a vars
  file: templating the arguments, building and running the module, and
  the controller's handling of the result.

The module and playbook figures are measured for each ``return_members``
value of --modes at the largest size, and for ``all`` (the default) at
every size. Each figure is the median of --rounds runs, with the spread
(min-max) of the wall times.

Prints Markdown tables (for docs/performance.md).

Usage: .venv/bin/python bench/bench_ipam.py [--rounds N] [--sizes 1000,10000,50000] [--cases ipv4,dual-stack]
       [--modes all,subnets,none] [--no-playbook]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import play, run_play  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PY = os.path.join(REPO, '.venv', 'bin', 'python')

CASES = {
    'ipv4': dict(cidr='10.0.0.0/8', node_prefix=24),
    'dual-stack': dict(cidr=['10.0.0.0/8', 'fd00::/48'], node_prefix={'ipv4': 24, 'ipv6': 64}),
}

TASK = '''
    - name: allocate
      cni.node.cni_ipam_pool:
        name: pods
        cidr: "{{ bench_cidr }}"
        node_prefix: "{{ bench_node_prefix }}"
        members: "{{ bench_members }}"
        return_members: "{{ bench_return_members }}"
        path: "{{ bench_path }}"
      register: pool
'''


def collections_root():
    root = tempfile.mkdtemp(prefix='cnb-collections-')
    os.makedirs(os.path.join(root, 'ansible_collections', 'cni'))
    os.symlink(REPO, os.path.join(root, 'ansible_collections', 'cni', 'node'))
    return root


def args_for(case, members, path, mode='all'):
    args = dict(name='pods', members=members, path=path, claims={}, reserved=[], purge=False, state='present',
                lock_timeout=60, return_members=mode)
    args.update(CASES[case])
    return args


def core_run(args):
    from ansible_collections.cni.node.plugins.modules import cni_ipam_pool   # pylint: disable=import-error
    plan = cni_ipam_pool.run(args, check_mode=False)
    return plan, plan.changes.result(diff_mode=False, members=plan.members, totals=plan.totals)


def fresh_start(args, fresh):
    if fresh and os.path.exists(args['path']):
        os.unlink(args['path'])


def time_core(args, fresh):
    fresh_start(args, fresh)
    t = time.perf_counter()
    plan, _res = core_run(args)
    return time.perf_counter() - t, plan


def mem_core(args, fresh):
    fresh_start(args, fresh)
    tracemalloc.start()
    core_run(args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def module_run(root, args, tmp, fresh):
    """(wall seconds, CPU seconds, changed) of one module process."""
    fresh_start(args, fresh)
    argfile = os.path.join(tmp, 'args.json')
    with open(argfile, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
    env = dict(os.environ, PYTHONPATH=root)
    cpu = _children_cpu()
    t = time.perf_counter()
    proc = subprocess.run([VENV_PY, '-m', 'ansible_collections.cni.node.plugins.modules.cni_ipam_pool', argfile],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t
    cpu = _children_cpu() - cpu
    res = json.loads(proc.stdout)
    if res.get('failed'):
        raise SystemExit('module failed: %s' % res.get('msg'))
    return elapsed, cpu, res['changed']


def playbook_run(args, tmp, fresh):
    """(task seconds, changed) of the allocation task in a real ansible-playbook run."""
    fresh_start(args, fresh)
    varsfile = os.path.join(tmp, 'bench_vars.json')
    with open(varsfile, 'w') as f:   # 50,000 names do not fit on a command line
        json.dump(dict(bench_members=args['members'], bench_cidr=args['cidr'],
                       bench_node_prefix=args['node_prefix'], bench_return_members=args['return_members'],
                       bench_path=args['path']), f)
    text = play(TASK).replace('  gather_facts: false\n', '  gather_facts: false\n  vars_files: [%s]\n'
                              % json.dumps(varsfile), 1)
    took, _wall, changed = run_play(text, tmp, {})
    return took, changed


def _rss_of(root, args, tmp, fresh):
    """Peak RSS (KiB) of one module process, measured alone through a wrapper's getrusage."""
    fresh_start(args, fresh)
    argfile = os.path.join(tmp, 'args.json')
    with open(argfile, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
    code = ('import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); '
            'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)')
    out = subprocess.run([VENV_PY, '-c', code, VENV_PY, '-m',
                          'ansible_collections.cni.node.plugins.modules.cni_ipam_pool', argfile],
                         env=dict(os.environ, PYTHONPATH=root), stdout=subprocess.PIPE, check=True)
    return int(out.stdout.decode().strip())


def spread(values):
    return '%.2f s (%.2f-%.2f)' % (statistics.median(values), min(values), max(values))


def measure(root, tmp, case, size, modes, rounds, playbook):
    members = ['node%05d' % i for i in range(size)]
    shuffled = list(members)
    random.Random(size).shuffle(shuffled)
    path = os.path.join(tmp, 'ipam.json')
    runs = (('first run', members, True), ('no change', shuffled, False))
    data = dict(((label, mode), dict(core=[], wall=[], cpu=[], task=[])) for label, _m, _f in runs for mode in modes)
    for _n in range(rounds):
        for label, names, fresh in runs:
            t, plan = time_core(args_for(case, names, path), fresh)
            assert plan.write is fresh and len(plan.allocated) == (size if fresh else 0)
            data[(label, 'all')]['core'].append(t)
        for mode in modes:
            for label, names, fresh in runs:
                wall, cpu, changed = module_run(root, args_for(case, names, path, mode), tmp, fresh)
                assert changed is fresh
                data[(label, mode)]['wall'].append(wall)
                data[(label, mode)]['cpu'].append(cpu)
            if playbook:
                for label, names, fresh in runs:
                    took, changed = playbook_run(args_for(case, names, path, mode), tmp, fresh)
                    assert changed is fresh
                    data[(label, mode)]['task'].append(took)
    extra = {}
    for label, names, fresh in runs:
        extra[label] = dict(mem=mem_core(args_for(case, names, path), fresh),
                            rss=_rss_of(root, args_for(case, names, path), tmp, fresh))
    extra['kib'] = os.path.getsize(path) // 1024
    return data, extra


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--sizes', default='1000,10000,50000')
    ap.add_argument('--cases', default='ipv4,dual-stack')
    ap.add_argument('--modes', default='all,subnets,none', help='return_members values measured at the largest size')
    ap.add_argument('--no-playbook', dest='playbook', action='store_false')
    opts = ap.parse_args()
    root = collections_root()
    sys.path.insert(0, root)
    tmp = tempfile.mkdtemp(prefix='cnb-ipam-')
    sizes = [int(s) for s in opts.sizes.split(',')]
    rows, mode_rows = [], []
    try:
        for case in opts.cases.split(','):
            for size in sizes:
                modes = ['all'] + [m for m in opts.modes.split(',') if m != 'all'] if size == max(sizes) else ['all']
                data, extra = measure(root, tmp, case, size, modes, opts.rounds, opts.playbook)
                for label in ('first run', 'no change'):
                    d = data[(label, 'all')]
                    rows.append((case, size, label, statistics.median(d['core']), extra[label]['mem'],
                                 spread(d['wall']), statistics.median(d['cpu']), extra[label]['rss'],
                                 spread(d['task']) if d['task'] else '-', extra['kib']))
                    print('%s %d %s: core %.3f s, module %s, cpu %.2f s, task %s' % (
                        case, size, label, rows[-1][3], rows[-1][5], rows[-1][6], rows[-1][8]), file=sys.stderr)
                    for mode in modes:
                        d = data[(label, mode)]
                        mode_rows.append((case, size, label, mode, spread(d['wall']), statistics.median(d['cpu']),
                                          spread(d['task']) if d['task'] else '-'))
    finally:
        shutil.rmtree(tmp, True)
        shutil.rmtree(root, True)
    print('| pool | members | run | core time | core peak (tracemalloc) | module process (wall) | module CPU |'
          ' module peak RSS | playbook task | state file |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for case, size, label, core, mem, wall, cpu, rss, task, kib in rows:
        print('| %s | %s | %s | %.3f s | %.1f MiB | %s | %.2f s | %.0f MiB | %s | %d KiB |'
              % (case, '{:,}'.format(size), label, core, mem / 1048576.0, wall, cpu, rss / 1024.0, task, kib))
    print()
    print('| pool | members | run | return_members | module process (wall) | module CPU | playbook task |')
    print('|---|---|---|---|---|---|---|')
    for case, size, label, mode, wall, cpu, task in mode_rows:
        if size == max(sizes):
            print('| %s | %s | %s | %s | %s | %.2f s | %s |' % (case, '{:,}'.format(size), label, mode, wall, cpu, task))


if __name__ == '__main__':
    main()
