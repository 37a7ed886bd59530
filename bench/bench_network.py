#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: cni_network vs ansible.builtin.copy writing one conflist.

The same bridge + host-local + portmap list, into fresh temporary conf dirs:
cni_network (validated against the spec, cni_version auto from the real
plugins in /usr/lib/cni, compared by meaning) against copy with the JSON as
content (no validation, compared by checksum). First run and no-change run;
task durations from the ansible.posix.json callback, after a warm-up task.

Usage: .venv/bin/python bench/bench_network.py [--rounds N]
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import shutil
import statistics
import tempfile
import time

from _common import play, run_play

PLUGINS = [
    {'type': 'bridge', 'bridge': 'cni0', 'isGateway': True, 'ipMasq': True,
     'ipam': {'type': 'host-local', 'ranges': [[{'subnet': '10.244.1.0/24'}]],
              'routes': [{'dst': '0.0.0.0/0'}]}},
    {'type': 'portmap', 'capabilities': {'portMappings': True}},
]

PLAY_CNI = play('''
    - name: bench
      cni.node.cni_network:
        name: podnet
        plugins: "{{ plugins }}"
        conf_dir: "{{ dir }}"
        bin_dirs: [/usr/lib/cni]
''')
PLAY_COPY = play('''
    - name: bench
      ansible.builtin.copy:
        content: "{{ {'cniVersion': '1.0.0', 'name': 'podnet', 'plugins': plugins} | to_nice_json }}"
        dest: "{{ dir }}/10-podnet.conflist"
        mode: "0644"
''')


def one_round(tool):
    workdir = tempfile.mkdtemp(prefix='cni-node-bench-')
    try:
        conf = os.path.join(workdir, 'net.d')
        os.mkdir(conf)
        extra = dict(plugins=PLUGINS, dir=conf)
        text = PLAY_CNI if tool == 'cni' else PLAY_COPY
        first = run_play(text, workdir, extra)
        second = run_play(text, workdir, extra)
        assert first[2] is True and second[2] is False, (tool, first, second)
        return first, second
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    results = {'cni': [], 'copy': []}
    for _round in range(args.rounds):
        for tool in ('cni', 'copy'):
            results[tool].append(one_round(tool))

    def med(tool, run):
        return statistics.median(r[run][0] for r in results[tool])

    print('Median of %d interleaved rounds, %s, %d cores.\n'
          % (args.rounds, time.strftime('%Y-%m-%d'), os.cpu_count()))
    print('| run | cni_network task (validated, auto version) | copy task (unvalidated) | ratio |')
    print('|---|---|---|---|')
    for run, label in ((0, 'first run (file written)'), (1, 'no-change run')):
        cni, copy = med('cni', run), med('copy', run)
        print('| %s | %.3f s | %.3f s | %.2fx |' % (label, cni, copy, copy / cni))


if __name__ == '__main__':
    main()
