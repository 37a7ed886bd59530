#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: cni_plugin vs get_url + unarchive, installing 10 plugin binaries.

The reference plugins of /usr/lib/cni are packed into a release-style .tgz
served over HTTP on loopback. Each round installs into fresh temporary
directories: a first run (everything installed) and a second, no-change run.
Task durations come from the ansible.posix.json callback (after a warm-up
task); for the baseline the two tasks (get_url, unarchive) are added up.
Prints a Markdown table (for docs/performance.md).

Usage: .venv/bin/python bench/bench_plugin.py [--rounds N]
"""

from __future__ import absolute_import, division, print_function

import argparse
import functools
import hashlib
import os
import shutil
import statistics
import tarfile
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from _common import play, run_play
NAMES = ['bandwidth', 'bridge', 'firewall', 'host-device', 'host-local', 'loopback', 'portmap', 'ptp',
         'tuning', 'vlan']
ARCHIVE = 'cni-plugins-linux-amd64-v1.1.1.tgz'

PLAY_CNI = play('''
    - name: bench
      cni.node.cni_plugin:
        src: "{{ url }}"
        checksum: "sha256:{{ digest }}"
        names: "{{ names }}"
        bin_dir: "{{ dir }}/bin"
''')
PLAY_BASE = play('''
    - name: bench download
      ansible.builtin.get_url:
        url: "{{ url }}"
        checksum: "sha256:{{ digest }}"
        dest: "{{ dir }}/plugins.tgz"
        mode: "0644"
    - name: bench unpack
      ansible.builtin.unarchive:
        src: "{{ dir }}/plugins.tgz"
        remote_src: true
        dest: "{{ dir }}/bin"
        include: "{{ names | map('regex_replace', '^', './') | list }}"
''')


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def one_round(tool, extra):
    workdir = tempfile.mkdtemp(prefix='cni-node-bench-')
    try:
        os.mkdir(os.path.join(workdir, 'bin'))
        extra = dict(extra, dir=workdir)
        text = PLAY_CNI if tool == 'cni' else PLAY_BASE
        first = run_play(text, workdir, extra)
        second = run_play(text, workdir, extra)
        assert first[2] is True and second[2] is False, (tool, first, second)
        assert sorted(n for n in os.listdir(os.path.join(workdir, 'bin')) if not n.startswith('.')) == NAMES
        return first[0], second[0]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    served = tempfile.mkdtemp(prefix='cni-node-bench-srv-')
    try:
        archive = os.path.join(served, ARCHIVE)
        with tarfile.open(archive, 'w:gz') as tar:
            for name in sorted(os.listdir('/usr/lib/cni')):
                tar.add(os.path.join('/usr/lib/cni', name), arcname='./' + name)
        with open(archive, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        size = os.path.getsize(archive)
        server = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=served))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        extra = dict(url='http://127.0.0.1:%d/%s' % (server.server_address[1], ARCHIVE), digest=digest,
                     names=NAMES)
        results = {'cni': [], 'base': []}
        for _round in range(args.rounds):
            for tool in ('cni', 'base'):
                results[tool].append(one_round(tool, extra))
        server.shutdown()
    finally:
        shutil.rmtree(served, ignore_errors=True)

    def med(tool, run):
        return statistics.median(r[run] for r in results[tool])

    print('Median of %d interleaved rounds, %s, %d cores, archive %.1f MB.\n'
          % (args.rounds, time.strftime('%Y-%m-%d'), os.cpu_count(), size / 1e6))
    print('| run | cni_plugin task | get_url + unarchive tasks | ratio |')
    print('|---|---|---|---|')
    for run, label in ((0, 'first run (10 binaries installed)'), (1, 'no-change run')):
        cni, base = med('cni', run), med('base', run)
        print('| %s | %.3f s | %.3f s | %.1fx |' % (label, cni, base, base / cni))


if __name__ == '__main__':
    main()
