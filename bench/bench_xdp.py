#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: cni_xdp attaching one program to 50 interfaces in one call vs a loop of 50 ``ip link set ... xdp`` tasks.

Everything happens inside a throwaway network namespace (``cnt-bench-…``)
holding 50 veth pairs; the program is the xdp role's ICMP-drop source
(roles/xdp/files/xdp_drop_icmp.c), compiled once with clang into a temporary
object that both tools load, in generic mode (any device).

- cni_xdp: one task, ``dev`` the 50 interfaces, ``object`` the compiled file.
  First run (nothing attached) and no-change run (the same program, by the
  kernel's program tag, on every interface: nothing loaded, nothing attached).
- loop: the conventional way, ``ansible.builtin.command: ip -force -n NS link
  set dev IF xdpgeneric obj OBJ sec xdp`` looping over the 50 interfaces
  (``-force`` so that a rerun replaces instead of failing; it cannot tell that
  the program is already there, so a rerun loads and attaches 50 programs
  again and reports changed).

Task times from the ansible.posix.json callback after a warm-up task;
rounds interleave the tools; every round starts with no program attached.

Usage: .venv/bin/python bench/bench_xdp.py [--rounds N] [--interfaces N]
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

from _common import REPO, play, run_play

SOURCE = os.path.join(REPO, 'roles', 'xdp', 'files', 'xdp_drop_icmp.c')

PLAY_CNI = play('''
    - name: bench
      cni.node.cni_xdp:
        dev: "{{ interfaces }}"
        netns: "{{ ns }}"
        object: "{{ obj }}"
        mode: generic
        state_file: "{{ work }}/xdp.json"
''')
PLAY_LOOP = play('''
    - name: bench
      ansible.builtin.command: ip -force -n {{ ns }} link set dev {{ item }} xdpgeneric obj {{ obj }} sec xdp
      loop: "{{ interfaces }}"
      changed_when: true
''')


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def compile_object(work):
    multiarch = subprocess.run(['clang', '-print-multiarch'], stdout=subprocess.PIPE, universal_newlines=True,
                               check=False).stdout.strip()
    obj = os.path.join(work, 'xdp_drop_icmp.o')
    sh('clang', '-O2', '-g', '-target', 'bpf', '-I/usr/include/%s' % multiarch, '-c', SOURCE, '-o', obj)
    return obj


def attached(ns):
    out = subprocess.run(['ip', '-n', ns, '-o', 'link', 'show'], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    return sum(1 for line in out.splitlines() if 'xdpgeneric' in line)


def detach_all(ns, interfaces):
    for dev in interfaces:
        sh('ip', '-n', ns, 'link', 'set', 'dev', dev, 'xdpgeneric', 'off')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--interfaces', type=int, default=50)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit('run as root: the benchmark creates a network namespace and loads XDP programs')
    for tool in ('clang', 'bpftool'):
        if shutil.which(tool) is None:
            raise SystemExit('%s is not installed (make deps installs clang llvm libbpf-dev bpftool)' % tool)
    ns = 'cnt-bench-' + uuid.uuid4().hex[:6]
    work = tempfile.mkdtemp(prefix='cni-node-bench-')
    interfaces = ['xb%d' % i for i in range(args.interfaces)]
    results = {'cni': [], 'loop': []}
    try:
        obj = compile_object(work)
        sh('ip', 'netns', 'add', ns)
        for i, dev in enumerate(interfaces):
            sh('ip', '-n', ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', 'xp%d' % i)
            sh('ip', '-n', ns, 'link', 'set', dev, 'up')
        extra = dict(ns=ns, obj=obj, interfaces=interfaces, work=work)
        for r in range(args.rounds):
            for tool in (('cni', 'loop') if r % 2 == 0 else ('loop', 'cni')):
                detach_all(ns, interfaces)
                if os.path.exists(os.path.join(work, 'xdp.json')):
                    os.unlink(os.path.join(work, 'xdp.json'))
                text = PLAY_CNI if tool == 'cni' else PLAY_LOOP
                first = run_play(text, work, extra)
                assert attached(ns) == len(interfaces), (tool, attached(ns))
                again = run_play(text, work, extra)
                assert attached(ns) == len(interfaces), (tool, attached(ns))
                if tool == 'cni':
                    assert first[2] and not again[2], (first, again)
                results[tool].append((first[0], again[0]))
        detach_all(ns, interfaces)
    finally:
        subprocess.run(['ip', 'netns', 'del', ns], check=False)
        shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    print('%s, %d cores; median of %d interleaved rounds; %d veth interfaces in a throwaway namespace, generic mode.\n'
          % (time.strftime('%Y-%m-%d'), os.cpu_count(), args.rounds, len(interfaces)))
    print('| run | cni_xdp, one task | loop of %d `command: ip link set ... xdp` tasks | ratio |' % len(interfaces))
    print('|---|---|---|---|')
    for i, label in ((0, 'first run (nothing attached)'), (1, 'no-change run')):
        c, l = med(r[i] for r in results['cni']), med(r[i] for r in results['loop'])
        note = ' (reloads all, reports changed)' if i else ''
        print('| %s | %.3f s | %.3f s%s | **%.1fx** |' % (label, c, l, note, l / c))


if __name__ == '__main__':
    main()
