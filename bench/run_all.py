#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Run the benchmarks of bench/ and rewrite their sections of docs/performance.md (``make bench``).

Each benchmark prints its figures (Markdown; bench_attachment plain text,
which goes into a code block) on stdout; its progress on stderr is passed
through. In docs/performance.md the figures of benchmark NAME sit between
``<!-- bench:NAME:begin -->`` and ``<!-- bench:NAME:end -->``: that text is
replaced by the fresh output, the prose around the markers stays. The file
is rewritten (atomically) after each benchmark that succeeds; a benchmark
that fails leaves its section as it was, the others still run, and the exit
code is 1.

With ``--before REF`` (``make bench BENCH_BEFORE=REF``) the benchmarks that
can (``BEFORE_AFTER``) also run git REF's collection in the same rounds,
interleaved, and show both side by side.

By default the long loops are shortened (QUICK below: bench_vxlan's loop
at 10 and 100 peers instead of up to 500, about 20 minutes more; bench_ipam
up to 10,000 members instead of 50,000); --full runs every benchmark with
its own defaults.

Usage: .venv/bin/python bench/run_all.py [--only "vxlan profile"] [--full] [--before REF] [--no-write] [--list]
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DOC = os.path.join(REPO, 'docs', 'performance.md')

# name -> (script, arguments of a default run, output format)
# The benchmarks that also run the collection of an earlier commit, interleaved (--before REF).
BEFORE_AFTER = ('start', 'attachment', 'vxlan')
BENCHES = [
    ('start', 'bench_start.py', [], 'markdown'),
    ('sysctl', 'bench_sysctl.py', [], 'markdown'),
    ('plugin', 'bench_plugin.py', [], 'markdown'),
    ('network', 'bench_network.py', [], 'markdown'),
    ('ipam', 'bench_ipam.py', ['--sizes', '1000,10000'], 'markdown'),
    ('attachment', 'bench_attachment.py', [], 'text'),
    ('vxlan', 'bench_vxlan.py', ['--loop-sizes', '10,100', '--sizes', '10,100,1000,10000'], 'markdown'),
    ('xdp', 'bench_xdp.py', [], 'markdown'),
    ('profile', 'bench_profile.py', [], 'markdown'),
    ('policy', 'bench_policy.py', [], 'markdown'),
]


def markers(name):
    return '<!-- bench:%s:begin -->' % name, '<!-- bench:%s:end -->' % name


def section_re(name):
    begin, end = markers(name)
    return re.compile(re.escape(begin) + r'\n.*?' + re.escape(end), re.DOTALL)


def replace(text, name, body):
    begin, end = markers(name)
    new = '%s\n%s\n%s' % (begin, body.strip('\n'), end)
    return section_re(name).sub(lambda _m: new, text, count=1)


def write(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.performance-')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def main():
    names = [b[0] for b in BENCHES]
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--only', default='', help='benchmarks to run, by name, separated by spaces or commas: '
                        + ' '.join(names))
    parser.add_argument('--full', action='store_true', help="each benchmark with its own defaults (long loops)")
    parser.add_argument('--before', metavar='REF', help='also run this git commit where a benchmark can, '
                        'interleaved: ' + ' '.join(BEFORE_AFTER))
    parser.add_argument('--no-write', dest='write', action='store_false', help='print only; leave the doc alone')
    parser.add_argument('--doc', default=DOC, help='the file to rewrite (default docs/performance.md)')
    parser.add_argument('--list', action='store_true', help='list the benchmarks and their arguments')
    args = parser.parse_args()

    wanted = [n for n in re.split(r'[\s,]+', args.only) if n] or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise SystemExit('unknown benchmark(s): %s (known: %s)' % (' '.join(unknown), ' '.join(names)))
    selected = [b for b in BENCHES if b[0] in wanted]
    if args.list:
        for name, script, quick, _fmt in BENCHES:
            print('%-11s bench/%s %s' % (name, script, ' '.join(quick) if not args.full else ''))
        return
    with open(args.doc) as f:
        text = f.read()
    missing = [b[0] for b in selected if not section_re(b[0]).search(text)]
    if args.write and missing:
        raise SystemExit('%s has no markers for: %s' % (args.doc, ' '.join(missing)))

    failed, took = [], []
    for name, script, quick, fmt in selected:
        argv = [sys.executable, os.path.join(HERE, script)] + ([] if args.full else quick)
        if args.before and name in BEFORE_AFTER:
            argv += ['--before', args.before]
        shown = ' '.join(['bench/' + script] + argv[2:])
        print('==> %s: %s' % (name, shown), file=sys.stderr)
        sys.stderr.flush()
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, universal_newlines=True, check=False)
        took.append((name, time.monotonic() - start, proc.returncode))
        print(proc.stdout)
        sys.stdout.flush()
        if proc.returncode != 0 or not proc.stdout.strip():
            print('!! %s failed (exit code %d): its section of the doc is left as it was'
                  % (name, proc.returncode), file=sys.stderr)
            failed.append(name)
            continue
        body = proc.stdout.strip('\n')
        if fmt == 'text':
            body = '```text\n%s\n```' % body
        body = 'Written by `make bench` (%s): `%s`.\n\n%s' % (time.strftime('%Y-%m-%d'), shown, body)
        if args.write:
            with open(args.doc) as f:
                text = f.read()
            write(args.doc, replace(text, name, body))
            print('==> %s: figures written to %s' % (name, os.path.relpath(args.doc, REPO)), file=sys.stderr)

    print('\n==> summary', file=sys.stderr)
    for name, seconds, rc in took:
        print('    %-11s %6.0f s  %s' % (name, seconds, 'ok' if rc == 0 and name not in failed else 'FAILED'),
              file=sys.stderr)
    if failed:
        raise SystemExit('failed: %s' % ' '.join(failed))


if __name__ == '__main__':
    main()
