# -*- coding: utf-8 -*-
"""Runs killed with SIGKILL while their temporary file exists: the next run removes what they left.

Each module runs as the program Ansible runs (its JSON argument file),
through a small driver that stops the process just before it renames its
temporary file over the target (the moment a kill leaves the temporary
behind). The test then sees the temporary, kills the process with SIGKILL
(only the process it started, by its PID), and runs the module again: that
run removes the temporary, reports it in ``cleaned`` and not as drift, and
leaves every other file alone. Only files in a temporary directory: no root
needed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.no_root

TEMP = re.compile(r'^\.(.+)\.[a-z0-9_]{8}\.tmp\Z')

DRIVER = r'''
import os, runpy, sys, time
module, argfile, target, marker = sys.argv[1:5]
real_rename = os.rename
def rename(src, dst):
    if os.path.basename(dst) == target:
        open(marker, 'w').close()      # the temporary exists and is complete: stop here until killed
        time.sleep(3600)
    return real_rename(src, dst)
os.rename = rename
sys.argv = [module, argfile]
runpy.run_module('ansible_collections.cni.node.plugins.modules.' + module, run_name='__main__')
'''

PLUGIN = "#!/bin/sh\necho '{\"cniVersion\": \"1.0.0\", \"supportedVersions\": [\"1.0.0\"]}'\n"


def host(key):
    with open('/proc/sys/' + key.replace('.', '/')) as f:
        return ' '.join(f.read().split())


def setup(module, tmp, version):
    """(arguments of run ``version`` (1 or 2, different content), directory, target file name)."""
    if module == 'cni_plugin':
        src = tmp / ('src%d' % version)
        src.mkdir(exist_ok=True)
        (src / 'loopback').write_text(PLUGIN + '# %d\n' % version)
        (src / 'loopback').chmod(0o755)
        return dict(src=str(src), bin_dir=str(tmp / 'bin'), verify=False), tmp / 'bin', 'loopback'
    if module == 'cni_sysctl':
        for d in ('sysctl.d', 'modules-load.d'):
            (tmp / d).mkdir(exist_ok=True)
        key = 'net.ipv4.ip_forward' if version == 1 else 'net.core.somaxconn'
        return (dict(params={key: host(key)}, sysctl_dir=str(tmp / 'sysctl.d'),
                     modules_load_dir=str(tmp / 'modules-load.d'), load_modules=False),
                tmp / 'sysctl.d', '90-cni-node.conf')
    if module == 'cni_network':
        (tmp / 'net.d').mkdir(exist_ok=True)
        version_text = '0.4.0' if version == 1 else '1.0.0'
        return (dict(name='podnet', plugins=[{'type': 'loopback'}], cni_version=version_text, validate=False,
                     conf_dir=str(tmp / 'net.d')), tmp / 'net.d', '10-podnet.conflist')
    if module == 'cni_ipam_pool':
        return (dict(name='pods', cidr='10.244.0.0/16', node_prefix=24, members=['n%d' % i for i in range(version)],
                     path=str(tmp / 'state' / 'pool.json')), tmp / 'state', 'pool.json')
    raise AssertionError(module)


class Runs(object):
    def __init__(self, tmp):
        self.tmp = tmp
        self.driver = str(tmp / 'driver.py')
        with open(self.driver, 'w') as f:
            f.write(DRIVER)
        self.n = 0

    def start(self, module, args, target, check=False):
        self.n += 1
        argfile = str(self.tmp / ('args%d.json' % self.n))
        with open(argfile, 'w') as f:
            json.dump({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check, _ansible_diff=True)}, f)
        marker = str(self.tmp / ('marker%d' % self.n))
        env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
        proc = subprocess.Popen([sys.executable, self.driver, module, argfile, target, marker], env=env,
                                cwd=str(self.tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        proc.marker = marker
        return proc

    def run(self, module, args, check=False):
        proc = self.start(module, args, '-never-', check=check)
        out, err = proc.communicate(timeout=120)
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError('no JSON (rc=%s): %s %s' % (proc.returncode, out, err))


def temporaries(directory):
    return sorted(n for n in os.listdir(str(directory)) if TEMP.match(n))


def snapshot(directory):
    out = {}
    for name in sorted(os.listdir(str(directory))):
        with open(os.path.join(str(directory), name), 'rb') as f:
            out[name] = f.read()
    return out


@pytest.mark.parametrize('module', ['cni_ipam_pool', 'cni_network', 'cni_sysctl', 'cni_plugin'])
def test_the_next_run_removes_the_temporary_a_killed_run_left(tmp_path, module):
    runs = Runs(tmp_path)
    work = tmp_path / 'work'
    work.mkdir()
    first, directory, target = setup(module, work, 1)
    if not directory.exists():
        directory.mkdir()
    res = runs.run(module, first)
    assert res.get('failed') is not True and res['changed'] is True, res
    assert temporaries(directory) == []
    (directory / '.other-file.conf.abcdefgh.tmp').write_text('not this module\'s target')
    before = snapshot(directory)

    second, _directory, _target = setup(module, work, 2)
    proc = runs.start(module, second, target)
    try:
        deadline = time.time() + 60
        while not os.path.exists(proc.marker):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, 'the run never reached its rename'
            time.sleep(0.01)
        (left,) = [n for n in temporaries(directory) if TEMP.match(n).group(1) == target]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    after_kill = snapshot(directory)
    assert left in after_kill and dict((k, v) for k, v in after_kill.items() if k != left) == before, \
        'the killed run changed more than its temporary'

    predicted = runs.run(module, second, check=True)
    assert predicted['cleaned'] == [str(directory / left)] and left in os.listdir(str(directory))
    res = runs.run(module, second)
    assert res.get('failed') is not True, res
    assert res['cleaned'] == [str(directory / left)] and left not in os.listdir(str(directory))
    assert '.other-file.conf.abcdefgh.tmp' in os.listdir(str(directory))
    assert res['drift'] == predicted['drift'] and res['changed'] is True   # the change the killed run did not make
    assert not any('.tmp' in str(item) for item in res['drift']), res['drift']
    again = runs.run(module, second)
    assert again['changed'] is False and again['cleaned'] == [] and again['drift'] == []
