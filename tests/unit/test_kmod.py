# -*- coding: utf-8 -*-
"""Kernel modules (_kmod): built in, loaded, loadable, load; with a fake modprobe, no root.

The state files (/proc/modules, /sys/module, modules.builtin) are files in a
temporary directory. modprobe is a real tiny executable script in that
directory, found on PATH and run as a subprocess, the way the module's
run_command runs the real one; the node's own modprobe is never run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

from ansible_collections.cni.node.plugins.module_utils._errors import KernelRefused
from ansible_collections.cni.node.plugins.module_utils._kmod import KernelModules

RELEASE = '6.1.0-test'

FAKE_MODPROBE = r'''#!/bin/sh
# A stand-in for modprobe (shell builtins only): records its arguments; the module name decides the answer.
echo "$*" >> "${0%/*}/calls"
for last; do :; done
case "$last" in
  ok_mod) exit 0 ;;
  bad_mod) echo "modprobe: FATAL: Module bad_mod not found in directory /lib/modules/@RELEASE@" >&2; exit 1 ;;
  loud_mod) echo "modprobe: ERROR: could not insert 'loud_mod': Operation not permitted"; exit 1 ;;
  *) exit 3 ;;
esac
'''.replace('@RELEASE@', RELEASE)


@pytest.fixture
def node(tmp_path):
    """A fake node: /proc/modules, /sys/module, /lib/modules/RELEASE/modules.builtin and bin/modprobe."""
    (tmp_path / 'sys_module' / 'vxlan').mkdir(parents=True)
    (tmp_path / 'proc_modules').write_text(
        'br_netfilter 32768 0 - Live 0x0000000000000000\n'
        'bridge 311296 1 br_netfilter, Live 0x0000000000000000\n'
        'nf_conntrack 176128 0 - Live 0x0000000000000000\n')
    lib = tmp_path / 'lib_modules' / RELEASE
    lib.mkdir(parents=True)
    (lib / 'modules.builtin').write_text('kernel/net/ipv4/ip_tunnel.ko\nkernel/drivers/net/dummy-net.ko\n'
                                         'kernel/fs/ext4/ext4.ko\n')
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    (bindir / 'modprobe').write_text(FAKE_MODPROBE)
    (bindir / 'modprobe').chmod(0o755)
    return tmp_path


def runner_for(bindir):
    """What AnsibleModule.run_command gives the core: argv in, (rc, stdout, stderr) out."""
    env = dict(os.environ, PATH=str(bindir))   # only the fake: the node's modprobe is never found

    def run(argv):
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env=env, check=False)
        return proc.returncode, proc.stdout, proc.stderr
    return run


def kmods(node, runner=None, proc_modules=None):
    return KernelModules(runner=runner, proc_modules=str(proc_modules or node / 'proc_modules'),
                         sys_module=str(node / 'sys_module'), lib_modules=str(node / 'lib_modules'), release=RELEASE)


def calls(node):
    path = node / 'bin' / 'calls'
    return path.read_text().splitlines() if path.exists() else []


def test_builtin_modules_come_from_modules_builtin(node):
    k = kmods(node)
    assert k.modular is True
    assert k.builtin('ip_tunnel') and k.builtin('ext4')
    assert k.builtin('dummy_net') and k.builtin('dummy-net'), 'a dash and an underscore name the same module'
    assert not k.builtin('br_netfilter') and not k.builtin('ip_tunnel.ko')


def test_without_modules_builtin_nothing_is_builtin(node):
    os.unlink(str(node / 'lib_modules' / RELEASE / 'modules.builtin'))
    assert not kmods(node).builtin('ext4')


def test_a_kernel_without_module_support_has_everything_built_in(node):
    k = kmods(node, proc_modules=node / 'no-such-file')
    assert k.modular is False
    assert k.builtin('br_netfilter') and k.builtin('anything') and k.loaded('anything')


def test_loaded_reads_proc_modules(node):
    k = kmods(node)
    assert k.loaded('br_netfilter') and k.loaded('br-netfilter') and k.loaded('bridge')
    assert k.loaded('ext4'), 'built in counts as loaded'
    assert not k.loaded('br') and not k.loaded('ip_vs'), 'whole names only'
    assert not k.loaded('vxlan'), '/proc/modules decides when it is readable'


def test_loaded_falls_back_to_sys_module_when_proc_modules_cannot_be_read(node):
    unreadable = node / 'proc_dir'
    unreadable.mkdir()   # exists (a modular kernel), but open() fails
    k = kmods(node, proc_modules=unreadable)
    assert k.loaded('vxlan') and not k.loaded('br_netfilter')


def test_release_defaults_to_the_running_kernel(node):
    assert KernelModules().release == os.uname()[2]


def test_load_problem_asks_modprobe_for_a_dry_run(node):
    k = kmods(node, runner_for(node / 'bin'))
    assert k.load_problem('ok_mod') is None
    assert calls(node) == ['--dry-run --quiet -- ok_mod']
    problem = k.load_problem('bad_mod')
    assert problem.startswith('modprobe --dry-run bad_mod failed (rc=1): modprobe: FATAL: Module bad_mod not found')
    assert k.load_problem('loud_mod').endswith("(rc=1): modprobe: ERROR: could not insert 'loud_mod': "
                                               "Operation not permitted"), 'stdout when stderr is empty'
    assert k.load_problem('quiet_mod') == 'modprobe --dry-run quiet_mod failed (rc=3): no output'
    assert calls(node)[1:] == ['--dry-run --quiet -- bad_mod', '--dry-run --quiet -- loud_mod',
                               '--dry-run --quiet -- quiet_mod']


def test_load_problem_without_modprobe(node, tmp_path):
    assert kmods(node).load_problem('ok_mod') == 'no way to run modprobe'
    empty = tmp_path / 'empty-bin'
    empty.mkdir()
    problem = kmods(node, runner_for(empty)).load_problem('ok_mod')
    assert problem.startswith('modprobe: ') and 'modprobe' in problem[len('modprobe: '):]


def test_load_runs_modprobe_and_fails_with_its_words(node):
    k = kmods(node, runner_for(node / 'bin'))
    k.load('ok_mod')
    assert calls(node) == ['-- ok_mod']
    with pytest.raises(KernelRefused) as exc:
        k.load('bad_mod')
    assert exc.value.param == 'load_modules' and exc.value.details == {'module': 'bad_mod'}
    assert exc.value.msg == ('load_modules: modprobe bad_mod failed (rc=1): modprobe: FATAL: Module bad_mod not '
                             'found in directory /lib/modules/%s' % RELEASE)
    with pytest.raises(KernelRefused) as exc:
        kmods(node).load('ok_mod')
    assert exc.value.param == 'load_modules' and 'no way to run modprobe' in exc.value.msg
