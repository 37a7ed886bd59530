#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: what a cni.node module costs before its first line of work, next to ansible.builtin.ping.

Every module of the collection runs one small no-change task (the inputs of
the smoke matrix, or a small object it keeps: a bridge, a VXLAN device
without peers, a pool of one member, one kernel parameter), inside a
throwaway network namespace (``ip netns exec``) with its files in a
temporary directory. A converge run first brings everything into place (not
measured); the measured run is a second ``ansible-playbook`` in which, after
a warm-up task (``ansible.builtin.command``: connection and worker set-up,
ansible-core's own imports), come:

- ping, then every module once: each task is the first use of its module in
  the run, so it carries the controller building the module's AnsiballZ
  payload (the module_utils finder walking ``ansible.module_utils.basic``
  and the module's rooms), which ansible-core caches per run only;
- ping again, then every module again: the payload is cached, so what is
  left is shipping, running and reporting.

Figures per module: both task times with their ratio to the ping task of the
same kind (medians of the rounds), the payload size (the AnsiballZ file),
the module process (the first round's AnsiballZ file of the cached task run
again, no change: CPU time, user + system, median of ``--samples`` runs,
the trees alternating run by run; steadier than wall time on a shared
machine) and the time the module spends importing its own
``plugins.module_utils`` rooms in that process (``-X importtime``).

With ``--before REF`` the collection of git REF runs the same plays in the
same rounds (after, before, their order swapped every round), side by side.

Usage: .venv/bin/python bench/bench_start.py [--rounds N] [--before REF] [--modules a,b]
"""

from __future__ import absolute_import, division, print_function

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

from _common import VENV_BIN, before_tree, collections_env, run_play

CONFLIST = {'cniVersion': '1.0.0', 'name': 'cnt-bench', 'plugins': [{'type': 'loopback'}]}
BRIDGE = [{'type': 'bridge', 'bridge': 'cnt-bench0', 'ipam': {'type': 'host-local', 'subnet': '10.254.9.0/24'}}]

# module -> its arguments (``W`` is the work directory, ``NS`` the namespace); a no-change task once converged.
MODULES = [
    ('cni_sysctl', dict(params={'net.ipv4.ip_default_ttl': 64}, sysctl_dir='W/sysctl.d')),
    ('cni_bridge', dict(name='cnb0')),
    ('cni_vxlan', dict(name='vx0', vni=42, dev='u0', addresses=['10.0.0.0/32'])),
    ('cni_netns', dict(name='NS-unused', state='absent')),
    ('cni_network', dict(name='cnt-bench2', plugins=BRIDGE, cni_version='1.0.0', validate=False,
                         conf_dir='W/net.d')),
    ('cni_ipam_pool', dict(name='pods', cidr='10.244.0.0/16', node_prefix=24, members=['n1'],
                           path='W/pool.json')),
    ('cni_plugin', dict(names=['bridge'], bin_dir='W/bin', state='absent')),
    ('cni_attachment', dict(network='cnt-bench', container_id='cnt-bench', conf_dir='W/net.d',
                            cache_dir='W/cache', state='absent')),
    ('cni_gc', dict(config=CONFLIST, cache_dir='W/cache')),
    ('cni_info', dict(gather=['networks', 'plugins'], conf_dir='W/net.d', bin_dirs=['W/bin'], cache_dir='W/cache',
                      plugin_versions=False)),
    ('cni_xdp', dict(dev='lo', state='absent', state_file='W/xdp.json')),
]

WARM_UP_COMMAND = '''
    - name: warm-up (connection, worker and ansible-core start-up; not measured)
      ansible.builtin.command: "true"
      changed_when: false
'''


def _subst(value, work, ns):
    if isinstance(value, dict):
        return dict((k, _subst(v, work, ns)) for k, v in value.items())
    if isinstance(value, list):
        return [_subst(v, work, ns) for v in value]
    if isinstance(value, str):
        return re.sub(r'^W/', work + '/', value.replace('NS-', ns + '-'))
    return value


def tasks(modules, work, ns):
    out = ['    - name: ping first\n      ansible.builtin.ping:\n']
    for name, args in modules:
        out.append('    - name: %s first\n      cni.node.%s: %s\n' % (name, name, json.dumps(_subst(args, work, ns))))
    out.append('    - name: ping cached\n      ansible.builtin.ping:\n')
    for name, args in modules:
        out.append('    - name: %s cached\n      cni.node.%s: %s\n' % (name, name, json.dumps(_subst(args, work, ns))))
    return ''.join(out)


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def prepare(ns, work):
    sh('ip', 'netns', 'add', ns)
    sh('ip', '-n', ns, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1')
    sh('ip', '-n', ns, 'addr', 'add', '192.0.2.1/24', 'dev', 'u0')
    sh('ip', '-n', ns, 'link', 'set', 'u0', 'up')
    for d in ('sysctl.d', 'net.d', 'bin', 'cache'):
        os.makedirs(os.path.join(work, d))
    with open(os.path.join(work, 'net.d', '10-cnt-bench.conflist'), 'w') as f:
        json.dump(CONFLIST, f)


def _cpu_run(argv, env):
    """CPU seconds (user + system) of one process run to its end."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_utime + usage.ru_stime


def kept_payloads(remote_tmp, names):
    """Per module, its AnsiballZ file of the measured run's cached task (no change)."""
    out = {}
    for name in names:
        files = sorted(glob.glob(os.path.join(remote_tmp, '*', 'AnsiballZ_%s.py' % name)), key=os.path.getmtime)
        if files:
            out[name] = files[-1]
    return out


def own_import_seconds(argv, env):
    """Seconds the process spends importing the collection's own rooms (-X importtime, self times)."""
    proc = subprocess.run(argv[:-1] + ['-X', 'importtime', argv[-1]], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env, check=False)
    own = 0
    for line in proc.stderr.splitlines():
        m = re.match(r'import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)', line)
        if m and m.group(2).startswith('ansible_collections.cni.') and '.plugins.module_utils.' in m.group(2):
            own += int(m.group(1))
    return own / 1e6


def process_figures(kept, samples):
    """Per tree and module: (payload bytes, median CPU seconds, own import seconds); trees alternate per sample."""
    out = dict((tree, {}) for tree in kept)
    trees = sorted(kept)
    cpu = dict((tree, {}) for tree in trees)
    for i in range(samples):
        for tree in (trees if i % 2 == 0 else trees[::-1]):
            root, ns, files = kept[tree]
            env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_env(root))
            for name, path in files.items():
                argv = ['ip', 'netns', 'exec', ns, os.path.join(VENV_BIN, 'python'), path]
                cpu[tree].setdefault(name, []).append(_cpu_run(argv, env))
    for tree in trees:
        root, ns, files = kept[tree]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_env(root))
        for name, path in files.items():
            argv = ['ip', 'netns', 'exec', ns, os.path.join(VENV_BIN, 'python'), path]
            out[tree][name] = (os.path.getsize(path), statistics.median(cpu[tree][name]),
                               own_import_seconds(argv, env))
    return out


def one_round(root, modules, keep):
    """(first-use task times, cached task times, kept) of one round; ``kept`` (namespace, work directory, AnsiballZ
    files) stays for the process figures when ``keep``, else everything is removed."""
    ns = 'cnt-bench-' + uuid.uuid4().hex[:6]
    work = tempfile.mkdtemp(prefix='cni-node-bench-')
    try:
        prepare(ns, work)
        text = '\n- hosts: localhost\n  gather_facts: false\n  tasks:' + WARM_UP_COMMAND + tasks(modules, work, ns)
        prefix = ('ip', 'netns', 'exec', ns)
        run_play(text, work, {}, prefix, collections=root)                      # converge
        remote = os.path.join(work, 'remote-tmp')
        os.environ.update(ANSIBLE_REMOTE_TMP=remote, ANSIBLE_KEEP_REMOTE_FILES='1' if keep else '0')
        try:
            each, _wall, changed = run_play(text, work, {}, prefix, collections=root, per_task=True)
        finally:
            os.environ.pop('ANSIBLE_REMOTE_TMP')
            os.environ.pop('ANSIBLE_KEEP_REMOTE_FILES')
        if changed:
            raise SystemExit('the measured run changed something: not a no-change run')
        names = ['ping'] + [m[0] for m in modules]
        n = len(modules)
        kept = (ns, work, kept_payloads(remote, names)) if keep else None
        return dict(zip(names, each[:n + 1])), dict(zip(names, each[n + 1:])), kept
    finally:
        if not keep:
            cleanup(ns, work)


def cleanup(ns, work):
    subprocess.run(['ip', 'netns', 'del', ns], check=False)
    shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--before', metavar='REF', help='also run the collection of this git commit, interleaved')
    parser.add_argument('--modules', default='', help='only these modules (comma-separated)')
    parser.add_argument('--samples', type=int, default=5, help='runs of each kept module process (CPU time)')
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit('run as root: the benchmark creates network namespaces')
    modules = [m for m in MODULES if not args.modules or m[0] in args.modules.split(',')]
    tmp = tempfile.mkdtemp(prefix='cni-node-bench-trees-')
    trees = [('after', None)]
    try:
        if args.before:
            trees.append(('before', before_tree(args.before, tmp)))
        results = dict((name, []) for name, _root in trees)
        kept = {}
        try:
            for r in range(args.rounds):
                for name, root in (trees if r % 2 == 0 else trees[::-1]):
                    first, cached, keep = one_round(root, modules, keep=(r == 0))
                    results[name].append((first, cached))
                    if keep:
                        kept[name] = (root, keep[0], keep[2])
                        kept[name + ' work'] = keep[1]
            procs = process_figures(dict((k, v) for k, v in kept.items() if not k.endswith(' work')),
                                    args.samples)
        finally:
            for name, root in trees:
                if name in kept:
                    cleanup(kept[name][1], kept[name + ' work'])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = statistics.median
    names = [name for name, _root in trees]

    def fig(tree, kind, mod):
        return med(r[kind][mod] for r in results[tree])

    print('%s, %d cores; median of %d rounds%s; every task a no-change run of a small input.\n'
          % (time.strftime('%Y-%m-%d'), os.cpu_count(), args.rounds,
             ', before (%s) and after interleaved' % args.before if args.before else ''))
    head = ['module']
    for tree in names:
        label = '' if len(names) == 1 else ' (%s)' % tree
        head += ['first task%s' % label, 'x ping%s' % label, 'cached task%s' % label, 'x ping%s' % label]
    head += ['payload', 'module process CPU', 'own rooms import']
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for mod in ['ping'] + [m[0] for m in modules]:
        cells = ['`%s`' % mod]
        for tree in names:
            f, c = fig(tree, 0, mod), fig(tree, 1, mod)
            cells += ['%.3f s' % f, '%.2fx' % (f / fig(tree, 0, 'ping')), '%.3f s' % c,
                      '%.2fx' % (c / fig(tree, 1, 'ping'))]
        size, wall, own = procs['after'].get(mod, (0, 0, 0))
        if len(names) > 1 and mod in procs['before']:
            bsize, bwall, bown = procs['before'][mod]
            cells += ['%.0f KB (before %.0f KB)' % (size / 1000.0, bsize / 1000.0),
                      '%.3f s (before %.3f s)' % (wall, bwall), '%.1f ms (before %.1f ms)' % (own * 1e3, bown * 1e3)]
        else:
            cells += ['%.0f KB' % (size / 1000.0), '%.3f s' % wall, '%.1f ms' % (own * 1e3)]
        print('| ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
