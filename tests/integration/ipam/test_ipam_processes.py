# -*- coding: utf-8 -*-
"""cni_ipam_pool as real processes against one state file: concurrency and crash safety.

Each run is the module program Ansible runs (its JSON argument file), started
through a small driver that can widen the race window (sleep after
allocating, inside the lock) or stop the process at a chosen point so the
test can SIGKILL it there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.cni.node.plugins.module_utils import _ipam

# Only files in a temporary directory: no root needed.
pytestmark = pytest.mark.no_root

DRIVER = r'''
import json, os, runpy, sys, time
from ansible_collections.cni.node.plugins.module_utils import _ipam, _statefile
mode, go, marker = sys.argv[2], sys.argv[3], sys.argv[4]
while not os.path.exists(go):          # all processes start allocating together
    time.sleep(0.001)
real_plan, real_rename = _ipam.plan, os.rename
def slow_plan(*a, **k):
    p = real_plan(*a, **k)
    time.sleep(0.3)                    # widen the read-allocate-write window
    return p
def stop(*a, **k):
    open(marker, 'w').close()
    time.sleep(3600)
if mode in ('race', 'race-unlocked'):
    _ipam.plan = slow_plan
if mode == 'race-unlocked':            # the negative control: no lock at all
    _statefile.LockedStateFile._lock = lambda self: None
if mode == 'kill-after-allocation':
    _ipam.apply = stop
if mode == 'kill-before-rename':
    def rename(src, dst):
        if dst.endswith('ipam.json'):
            stop()
        return real_rename(src, dst)
    os.rename = rename
sys.argv = ['cni_ipam_pool', sys.argv[1]]
runpy.run_module('ansible_collections.cni.node.plugins.modules.cni_ipam_pool', run_name='__main__')
'''


class Runner(object):
    def __init__(self, tmp):
        self.tmp = tmp
        self.path = os.path.join(tmp, 'ipam.json')
        self.go = os.path.join(tmp, 'go')
        self.driver = os.path.join(tmp, 'driver.py')
        with open(self.driver, 'w') as f:
            f.write(DRIVER)
        self.n = 0

    def start(self, members, mode='plain', **extra):
        self.n += 1
        args = dict(name='pods', cidr='10.0.0.0/16', node_prefix=24, members=members, path=self.path)
        args.update(extra)
        argfile = os.path.join(self.tmp, 'args%d.json' % self.n)
        with open(argfile, 'w') as f:
            json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
        marker = os.path.join(self.tmp, 'marker%d' % self.n)
        env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
        proc = subprocess.Popen([sys.executable, self.driver, argfile, mode, self.go, marker], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        proc.marker = marker
        return proc

    def release(self):
        open(self.go, 'w').close()

    @staticmethod
    def result(proc):
        out, err = proc.communicate(timeout=60)
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError('no JSON (rc=%s): %s %s' % (proc.returncode, out, err))

    def state(self):
        with open(self.path) as f:
            return _ipam.load_document(f.read(), self.path)['pools']['pods']['members']


@pytest.fixture
def runner(tmp_path):
    return Runner(str(tmp_path))


def _race(runner, mode):
    runner.release()
    assert runner.result(runner.start(['seed']))['changed']
    os.unlink(runner.go)
    procs = [runner.start(['a%d' % i for i in range(20)], mode),
             runner.start(['b%d' % i for i in range(20)], mode)]
    time.sleep(0.5)   # both are loaded and waiting at the start line
    runner.release()
    return [runner.result(p) for p in procs]


def test_two_concurrent_runs_never_share_a_subnet(runner):
    results = _race(runner, 'race')
    assert all(r.get('failed') is not True for r in results), results
    members = runner.state()
    subnets = [m['ipv4'] for m in members.values()]
    assert len(set(subnets)) == len(subnets) == 41       # seed + 20 + 20, no duplicate
    assert set('a%d' % i for i in range(20)) | set('b%d' % i for i in range(20)) | {'seed'} == set(members)
    # Each run returned what the file holds for its members.
    for r in results:
        for name, view in r['members'].items():
            assert members[name]['ipv4'] == view['ipv4']


def test_the_race_is_real_without_the_lock(runner):
    """Negative control: the same race with locking disabled loses one run's members (or doubles subnets),
    so the test above would catch a missing or broken lock."""
    results = _race(runner, 'race-unlocked')
    members = runner.state()
    returned = {}
    for r in results:
        for name, view in r['members'].items():
            returned[name] = view['ipv4']
    lost = set(returned) - set(members)
    doubled = len(set(returned.values())) < len(returned)
    assert lost or doubled


@pytest.mark.parametrize('mode', ['kill-after-allocation', 'kill-before-rename'])
def test_a_run_killed_before_its_write_leaves_the_previous_file(runner, mode):
    runner.release()
    assert runner.result(runner.start(['n1', 'n2']))['changed']
    with open(runner.path) as f:
        before = f.read()
    proc = runner.start(['n1', 'n2', 'n3', 'n4'], mode)
    deadline = time.time() + 30
    while not os.path.exists(proc.marker):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    with open(runner.path) as f:
        assert f.read() == before                   # intact, byte for byte
    assert set(runner.state()) == {'n1', 'n2'}       # and valid
    # The lock died with the process: the next run goes through and allocates.
    res = runner.result(runner.start(['n1', 'n2', 'n3', 'n4'], lock_timeout=5))
    assert res['changed'] and res['allocated'] == ['n3', 'n4']
    assert runner.state()['n1']['ipv4'] == '10.0.0.0/24'


def test_random_kills_always_leave_a_valid_file(runner):
    """Kill runs at arbitrary moments: the file is always either the old or a new valid state."""
    runner.release()
    start = time.monotonic()
    assert runner.result(runner.start(['n0']))['changed']
    took = time.monotonic() - start   # kills are aimed at the second half of a run: allocation and write
    rnd = random.Random(11)
    seen = [runner.state()]
    killed = 0
    for i in range(1, 13):
        proc = runner.start(['n%d' % j for j in range(i + 1)])
        time.sleep(rnd.uniform(0.3 * took, 0.9 * took))
        proc.kill()
        proc.communicate()
        killed += proc.returncode == -signal.SIGKILL   # the kill landed while the run was still going
        state = runner.state()                       # parses: never half-written
        prev = seen[-1]
        assert all(state[m] == prev[m] for m in prev), 'a member moved'
        seen.append(state)
    print('kills that landed: %d of 12' % killed)
    assert killed >= 3, 'only %d of 12 kills landed before the run ended: the test proved little' % killed
