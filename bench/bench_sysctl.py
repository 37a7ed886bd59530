#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: one cni_sysctl task for 10 keys vs ansible.posix.sysctl looping over them.

Both run through ansible-playbook on localhost, inside throwaway network
namespaces (``ip netns exec``), so only per-namespace net.* keys change and
the host's kernel parameters stay untouched; persistence files go to a
temporary directory. For each tool and round: a fresh namespace, a first run
(everything changes) and a second run (nothing changes). Task durations
come from the ansible.posix.json callback, for the measured task after a
warm-up task (so neither tool carries the controller's first-task set-up);
whole-playbook wall time is reported too. Prints a Markdown table (for docs/performance.md).

Usage: .venv/bin/python bench/bench_sysctl.py [--rounds N]
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

from _common import play, run_play

KEYS = {
    'net.core.somaxconn': 1024,
    'net.ipv4.ip_local_port_range': '20000 30000',
    'net.ipv4.conf.all.rp_filter': 2,
    'net.ipv4.conf.default.rp_filter': 2,
    'net.ipv4.tcp_fin_timeout': 30,
    'net.ipv4.ip_default_ttl': 70,
    'net.ipv4.conf.default.arp_ignore': 1,
    'net.ipv4.conf.all.arp_announce': 2,
    'net.ipv6.conf.all.hop_limit': 70,
    'net.ipv4.tcp_keepalive_time': 600,
}

PLAY_CNI = play('''
    - name: bench
      cni.node.cni_sysctl:
        params: "{{ keys }}"
        sysctl_dir: "{{ dir }}"
''')

# The floor: what Ansible itself costs per task here (ping does no work).
PLAY_FLOOR = play('''
    - name: bench
      ansible.builtin.ping:
''')

PLAY_POSIX = play('''
    - name: bench
      ansible.posix.sysctl:
        name: "{{ item.key }}"
        value: "{{ item.value }}"
        sysctl_file: "{{ dir }}/90-posix.conf"
        sysctl_set: true
        reload: false
      loop: "{{ keys | dict2items }}"
''')


def one_round(tool):
    netns = 'cnb-' + uuid.uuid4().hex[:8]
    workdir = tempfile.mkdtemp(prefix='cni-node-bench-')
    subprocess.run(['ip', 'netns', 'add', netns], check=True)
    try:
        text = dict(cni=PLAY_CNI, posix=PLAY_POSIX, floor=PLAY_FLOOR)[tool]
        extra = dict(keys=KEYS, dir=workdir)
        prefix = ('ip', 'netns', 'exec', netns)
        first = run_play(text, workdir, extra, prefix)
        second = run_play(text, workdir, extra, prefix)
        if tool != 'floor':
            assert first[2] is True and second[2] is False, (tool, first, second)
        return first, second
    finally:
        subprocess.run(['ip', 'netns', 'del', netns], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit('run as root: the benchmark creates network namespaces')
    results = {'cni': [], 'posix': [], 'floor': []}
    for _round in range(args.rounds):   # interleaved, so all see the same machine load
        for tool in ('cni', 'posix', 'floor'):
            results[tool].append(one_round(tool))

    def med(tool, run, field):
        return statistics.median(r[run][field] for r in results[tool])

    rows = []
    for run, label in ((0, 'first run (10 keys change)'), (1, 'second run (no change)')):
        c_task, p_task = med('cni', run, 0), med('posix', run, 0)
        c_wall, p_wall = med('cni', run, 1), med('posix', run, 1)
        rows.append('| %s | %.3f s | %.3f s | **%.1fx** | %.2f s | %.2f s | %.2fx |' % (
            label, c_task, p_task, p_task / c_task, c_wall, p_wall, p_wall / c_wall))
    print('Median of %d interleaved rounds, %s, %d cores.\n'
          % (args.rounds, time.strftime('%Y-%m-%d'), os.cpu_count()))
    print('| run | cni_sysctl task | ansible.posix.sysctl loop task | task ratio '
          '| cni_sysctl playbook | posix playbook | playbook ratio |')
    print('|---|---|---|---|---|---|---|')
    print('\n'.join(rows))
    print('\nFloor: one ansible.builtin.ping task (Ansible\'s own cost per module run here): %.3f s.'
          % med('floor', 1, 0))


if __name__ == '__main__':
    main()
