# -*- coding: utf-8 -*-
"""_fileutil: atomic files, their temporaries held while in use, and the cleaning of temporaries killed runs left."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.cni.node.plugins.module_utils import _fileutil


def temps(directory):
    return sorted(n for n in os.listdir(str(directory)) if n.endswith('.tmp'))


def test_atomic_write_leaves_no_temporary(tmp_path):
    target = str(tmp_path / 'pool.json')
    _fileutil.atomic_write(target, 'one\n', mode=0o600)
    _fileutil.atomic_write(target, b'two\n', mode=0o640)
    assert open(target).read() == 'two\n' and temps(tmp_path) == []
    assert os.stat(target).st_mode & 0o777 == 0o640


def test_a_staged_temporary_is_held_until_commit_or_discard(tmp_path):
    target = str(tmp_path / '10-a.conflist')
    staged = _fileutil.StagedFile(target, None, '{}\n', mode=0o644)
    staged.prepare()
    (name,) = temps(tmp_path)
    assert name.startswith('.10-a.conflist.') and _fileutil.TEMP_RE.match(name).group(1) == '10-a.conflist'
    assert _fileutil.clean_temps([target]) == [], 'a temporary in use was removed'
    assert os.stat(staged.tmp).st_mode & 0o777 == 0o644
    staged.commit()
    assert temps(tmp_path) == [] and open(target).read() == '{}\n'
    other = _fileutil.StagedFile(target, '{}\n', '[]\n')
    other.prepare()
    other.discard()
    assert temps(tmp_path) == [] and open(target).read() == '{}\n'


def test_a_staged_binary_can_be_executed_right_after_commit(tmp_path):
    """The temporary is held by a read-only descriptor: the renamed binary is never "Text file busy"."""
    target = str(tmp_path / 'plugin')
    staged = _fileutil.StagedFile(target, None, '#!/bin/sh\necho ok\n', mode=0o755)
    staged.prepare()
    staged.commit()
    assert subprocess.check_output([target]) == b'ok\n'
    staged = _fileutil.StagedFile(target, None, '#!/bin/sh\necho new\n', mode=0o755)
    staged.prepare()
    os.rename(staged.tmp, target)   # renamed, its holding descriptor not yet closed
    try:
        assert subprocess.check_output([target]) == b'new\n'
    finally:
        staged.tmp = None
        staged.discard()


def test_clean_temps_removes_only_this_targets_unheld_temporaries(tmp_path):
    target = tmp_path / 'pool.json'
    stale = tmp_path / '.pool.json.abc_1234.tmp'
    keep = [tmp_path / '.pool.json.tmp',                  # not the temp pattern
            tmp_path / '.pool.json.ABCDEFGH.tmp',          # mkstemp never uses upper case
            tmp_path / '.pool.json.abc_12345.tmp',         # nine characters
            tmp_path / '.other.json.abc_1234.tmp',         # another target
            tmp_path / 'pool.json.abc_1234.tmp']           # no leading dot
    for path in [stale] + keep:
        path.write_text('x')
    (tmp_path / '.pool.json.dir_1234.tmp').mkdir()        # not a regular file
    os.symlink(str(tmp_path / 'nowhere'), str(tmp_path / '.pool.json.lnk_1234.tmp'))
    assert _fileutil.clean_temps([str(target)], check_mode=True) == [str(stale)] and stale.exists()
    assert _fileutil.clean_temps([str(target)]) == [str(stale)] and not stale.exists()
    assert all(p.exists() for p in keep)
    assert _fileutil.clean_temps([str(target)]) == []
    assert _fileutil.clean_temps([str(tmp_path / 'missing-dir' / 'x')]) == []


def test_a_temporary_locked_by_another_process_is_kept(tmp_path):
    path = tmp_path / '.pool.json.held_123.tmp'
    path.write_text('x')
    with open(str(path)) as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        assert _fileutil.clean_temps([str(tmp_path / 'pool.json')]) == []
    assert _fileutil.clean_temps([str(tmp_path / 'pool.json')]) == [str(path)]


WRITER = r'''
import os, sys, time
from ansible_collections.cni.node.plugins.module_utils import _fileutil
staged = _fileutil.StagedFile(sys.argv[1], None, 'new\n')
staged.prepare()
open(sys.argv[2], 'w').close()
time.sleep(3600)
'''


def test_a_writer_killed_before_its_rename_leaves_a_temporary_the_next_run_removes(tmp_path):
    target = str(tmp_path / 'pool.json')
    _fileutil.atomic_write(target, 'old\n')
    marker = str(tmp_path / 'marker')
    env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
    proc = subprocess.Popen([sys.executable, '-c', WRITER, target, marker], env=env)
    try:
        deadline = time.time() + 30
        while not os.path.exists(marker):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.01)
        (name,) = temps(tmp_path)
        assert _fileutil.clean_temps([target]) == [], 'the live writer holds its temporary'
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert temps(tmp_path) == [name] and open(target).read() == 'old\n'
    assert _fileutil.clean_temps([target]) == [str(tmp_path / name)]
    assert temps(tmp_path) == [] and open(target).read() == 'old\n'


@pytest.mark.parametrize('setup, words', [
    (lambda d: None, None),
    (lambda d: d.mkdir(), None),
    (lambda d: d.write_text('x'), 'exists and is not a directory'),
])
def test_directory_problem(tmp_path, setup, words):
    d = tmp_path / 'd'
    setup(d)
    problem = _fileutil.directory_problem(str(d))
    assert (problem is None) if words is None else (words in problem)
    if words:
        below = _fileutil.directory_problem(str(d / 'sub' / 'deeper'))
        assert below == '%s is not a directory (on the way to %s)' % (d, d / 'sub' / 'deeper')
