# -*- coding: utf-8 -*-
"""Shared by the benchmarks: run a playbook on localhost and time its tasks.

Task durations come from the ansible.posix.json callback. Every play starts
with WARM_UP, a task that is not measured, so the controller's first-task
set-up (connection, plugin loading) is not charged to the measured task.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
import time
from datetime import datetime

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, '.venv', 'bin')

WARM_UP = '''
    - name: warm-up (connection and controller start-up, not measured)
      ansible.builtin.ping:
'''


def play(tasks):
    """A localhost play: the warm-up task, then ``tasks`` (YAML, indented 4)."""
    return '\n- hosts: localhost\n  gather_facts: false\n  tasks:' + WARM_UP + tasks


def _seconds(stamp):
    # e.g. 2026-11-28T07:01:02.123456Z
    return datetime.strptime(stamp.rstrip('Z'), '%Y-%m-%dT%H:%M:%S.%f').timestamp()


def run_play(text, workdir, extra, prefix=(), collections=None, per_task=False):
    """Run a play; (seconds of the measured tasks, whole-playbook seconds, changed).

    ``prefix`` goes before ansible-playbook (e.g. ip netns exec NAME);
    ``collections`` a collections root other than this checkout's (see
    ``before_tree``). With ``per_task`` the first element is the list of
    each measured task's seconds instead of their sum.
    """
    env = dict(os.environ,
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''),
               ANSIBLE_COLLECTIONS_PATH=collections_env(collections),
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_PYTHON_INTERPRETER=os.path.join(VENV_BIN, 'python'),
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    path = os.path.join(workdir, 'play.yml')
    with open(path, 'w') as f:
        f.write(text)
    extra_file = os.path.join(workdir, 'extra.json')   # a file: 10,000 peers do not fit on a command line
    with open(extra_file, 'w') as f:
        json.dump(extra, f)
    start = time.monotonic()
    proc = subprocess.run(list(prefix) + [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', 'localhost,',
                                          '-c', 'local', '-e', '@' + extra_file, path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit('playbook failed:\n%s\n%s' % (proc.stdout[-3000:], proc.stderr[-3000:]))
    tasks = json.loads(proc.stdout)['plays'][0]['tasks'][1:]
    each = [_seconds(t['task']['duration']['end']) - _seconds(t['task']['duration']['start']) for t in tasks]
    changed = any(t['hosts']['localhost'].get('changed') for t in tasks)
    return (each if per_task else sum(each)), wall, changed


def before_tree(ref, workdir):
    """A collections root holding the collection as of git ``ref`` (``git archive``), for before/after runs.

    Returns ``workdir/collections``, whose ``ansible_collections/cni/node`` is
    the tree of ``ref``; the benchmark runs both trees interleaved, round by
    round, so both see the same machine load.
    """
    root = os.path.join(workdir, 'collections')
    dest = os.path.join(root, 'ansible_collections', 'cni', 'node')
    os.makedirs(dest)
    archive = subprocess.run(['git', '-C', REPO, 'archive', '--format=tar', ref], stdout=subprocess.PIPE, check=True)
    subprocess.run(['tar', '-x', '-C', dest], input=archive.stdout, check=True)
    return root


def collections_env(root=None):
    """ANSIBLE_COLLECTIONS_PATH for ``root`` (default: this checkout's build/collections) and the venv's."""
    return (root or os.path.join(REPO, 'build', 'collections')) + os.pathsep + os.path.join(
        REPO, '.venv', 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages')
