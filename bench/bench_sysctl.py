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
VENV_BIN = os.path.join(REPO, '.venv', 'bin')

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

PLAY_CNI = '''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: warm-up (connection and controller start-up, not measured)
      ansible.builtin.ping:
    - name: bench
      cni.node.cni_sysctl:
        params: "{{ keys }}"
        sysctl_dir: "{{ dir }}"
'''

# The floor: what Ansible itself costs per task here (ping does no work).
PLAY_FLOOR = '''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: warm-up (connection and controller start-up, not measured)
      ansible.builtin.ping:
    - name: bench
      ansible.builtin.ping:
'''

PLAY_POSIX = '''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: warm-up (connection and controller start-up, not measured)
      ansible.builtin.ping:
    - name: bench
      ansible.posix.sysctl:
        name: "{{ item.key }}"
        value: "{{ item.value }}"
        sysctl_file: "{{ dir }}/90-posix.conf"
        sysctl_set: true
        reload: false
      loop: "{{ keys | dict2items }}"
'''


def run_play(netns, play, workdir, extra):
    env = dict(os.environ,
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, 'build', 'collections') + os.pathsep
               + os.path.join(REPO, '.venv', 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages'),
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_PYTHON_INTERPRETER=os.path.join(VENV_BIN, 'python'),
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    path = os.path.join(workdir, 'play.yml')
    with open(path, 'w') as f:
        f.write(play)
    start = time.monotonic()
    proc = subprocess.run(['ip', 'netns', 'exec', netns, os.path.join(VENV_BIN, 'ansible-playbook'),
                           '-i', 'localhost,', '-c', 'local', '-e', json.dumps(extra), path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit('playbook failed:\n%s\n%s' % (proc.stdout[-3000:], proc.stderr[-3000:]))
    data = json.loads(proc.stdout)
    task = data['plays'][0]['tasks'][1]
    dur = task['task']['duration']
    changed = task['hosts']['localhost'].get('changed', False)
    return _seconds(dur['end']) - _seconds(dur['start']), wall, changed


def _seconds(stamp):
    # e.g. 2026-11-28T07:01:02.123456Z
    from datetime import datetime
    return datetime.strptime(stamp.rstrip('Z'), '%Y-%m-%dT%H:%M:%S.%f').timestamp()


def one_round(tool):
    netns = 'cnb-' + uuid.uuid4().hex[:8]
    workdir = tempfile.mkdtemp(prefix='cni-node-bench-')
    subprocess.run(['ip', 'netns', 'add', netns], check=True)
    try:
        play = dict(cni=PLAY_CNI, posix=PLAY_POSIX, floor=PLAY_FLOOR)[tool]
        extra = dict(keys=KEYS, dir=workdir)
        first = run_play(netns, play, workdir, extra)
        second = run_play(netns, play, workdir, extra)
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
