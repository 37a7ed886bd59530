# -*- coding: utf-8 -*-
"""Issue 13 items 2-4 through the modules' main(): relative paths, messages that name a parameter, stale temporaries.

Runs each module's main() in-process through the shared ``run_main``
fixture (tests/unit/conftest.py), in a scratch working directory (so a
relative path that slipped through would land there, where the test sees
it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import importlib
import os

import pytest


@pytest.fixture
def run(run_main):
    """``run_main`` with the module given by name."""
    def run_module(name, args, check=False):
        return run_main(importlib.import_module('ansible_collections.cni.node.plugins.modules.%s' % name), args,
                        check=check)
    return run_module


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """The module's working directory: empty but for what a case puts there."""
    work = tmp_path / 'cwd'
    work.mkdir()
    monkeypatch.chdir(str(work))
    return work


def tree(root):
    out = []
    for top, dirs, files in os.walk(str(root)):
        out.extend(os.path.relpath(os.path.join(top, n), str(root)) for n in dirs + files)
    return sorted(out)


def host(key):
    with open('/proc/sys/' + key.replace('.', '/')) as f:
        return ' '.join(f.read().split())


PLUGIN = "#!/bin/sh\necho '{\"cniVersion\": \"1.0.0\", \"supportedVersions\": [\"1.0.0\"]}'\n"
INLINE = {'cniVersion': '1.0.0', 'name': 'n', 'plugins': [{'type': 'loopback'}]}
LOOPBACK = [{'type': 'loopback'}]


def plugin_folder(path):
    path.mkdir()
    (path / 'loopback').write_text(PLUGIN)
    (path / 'loopback').chmod(0o755)
    return str(path)


def case_args(module, tmp):
    """Arguments of a run that works, all paths absolute, in ``tmp`` (outside the working directory)."""
    if module == 'cni_plugin':
        return dict(src=plugin_folder(tmp / 'src'), bin_dir=str(tmp / 'bin'), verify=False)
    if module == 'cni_sysctl':
        (tmp / 'sysctl.d').mkdir()
        (tmp / 'modules-load.d').mkdir()
        return dict(params={'net.ipv4.ip_forward': host('net.ipv4.ip_forward')}, sysctl_dir=str(tmp / 'sysctl.d'),
                    modules_load_dir=str(tmp / 'modules-load.d'), load_modules=False)
    if module == 'cni_network':
        (tmp / 'net.d').mkdir()
        return dict(name='podnet', plugins=LOOPBACK, cni_version='1.0.0', validate=False,
                    conf_dir=str(tmp / 'net.d'), bin_dirs=[str(tmp / 'bin')])
    if module == 'cni_ipam_pool':
        return dict(name='pods', cidr='10.244.0.0/16', node_prefix=24, members=['n1'], path=str(tmp / 'pool.json'))
    if module == 'cni_attachment':
        return dict(config=INLINE, container_id='c1', netns='/proc/1/ns/net', state='absent',
                    conf_dir=str(tmp / 'net.d'), bin_dirs=[str(tmp / 'bin')], cache_dir=str(tmp / 'cache'))
    if module == 'cni_gc':
        return dict(config=INLINE, conf_dir=str(tmp / 'net.d'), bin_dirs=[str(tmp / 'bin')],
                    cache_dir=str(tmp / 'cache'))
    if module == 'cni_info':
        return dict(gather=['networks', 'plugins', 'leases'], conf_dir=str(tmp / 'net.d'),
                    bin_dirs=[str(tmp / 'bin')], cache_dir=str(tmp / 'cache'), plugin_versions=False)
    if module == 'cni_xdp':
        return dict(dev=['lo'], state='absent', cache_dir=str(tmp / 'xdp'), state_file=str(tmp / 'xdp.json'))
    if module == 'cni_policy':
        return dict(name='p', network='n', conf_dir=str(tmp / 'net.d'), cache_dir=str(tmp / 'cache'), state='absent')
    if module in ('cni_bridge', 'cni_vxlan', 'cni_netns'):   # links: only refusals run here (no netlink)
        return dict(name='cnt-edge0', state='absent')
    raise AssertionError(module)


# (module, parameter, value, the name in the message)
RELATIVE = [
    ('cni_plugin', 'bin_dir', 'relbin', 'bin_dir'),
    ('cni_plugin', 'src', 'relsrc', 'src'),
    ('cni_sysctl', 'sysctl_dir', 'rel', 'sysctl_dir'),
    ('cni_sysctl', 'modules_load_dir', 'rel', 'modules_load_dir'),
    ('cni_sysctl', 'netns', 'rel/ns', 'netns'),
    ('cni_network', 'conf_dir', 'rel', 'conf_dir'),
    ('cni_network', 'bin_dirs', ['/opt/cni/bin', 'rel'], 'bin_dirs[1]'),
    ('cni_ipam_pool', 'path', 'pool.json', 'path'),
    ('cni_attachment', 'conf_dir', 'rel', 'conf_dir'),
    ('cni_attachment', 'bin_dirs', ['rel'], 'bin_dirs[0]'),
    ('cni_attachment', 'cache_dir', 'rel', 'cache_dir'),
    ('cni_attachment', 'log_file', 'rel.log', 'log_file'),
    ('cni_attachment', 'netns', 'rel/ns', 'netns'),
    ('cni_gc', 'conf_dir', 'rel', 'conf_dir'),
    ('cni_gc', 'bin_dirs', ['rel'], 'bin_dirs[0]'),
    ('cni_gc', 'cache_dir', 'rel', 'cache_dir'),
    ('cni_info', 'conf_dir', 'rel', 'conf_dir'),
    ('cni_info', 'bin_dirs', ['/opt/cni/bin', 'rel'], 'bin_dirs[1]'),
    ('cni_info', 'cache_dir', 'rel', 'cache_dir'),
    ('cni_xdp', 'object', 'prog.o', 'object'),
    ('cni_xdp', 'source', 'prog.c', 'source'),
    ('cni_xdp', 'state_file', 'xdp.json', 'state_file'),
    ('cni_xdp', 'cache_dir', 'rel', 'cache_dir'),
    ('cni_xdp', 'netns', 'rel/ns', 'netns'),
    ('cni_policy', 'conf_dir', 'rel', 'conf_dir'),
    ('cni_policy', 'cache_dir', 'rel', 'cache_dir'),
    ('cni_bridge', 'netns', 'rel/ns', 'netns'),
    ('cni_vxlan', 'netns', 'rel/ns', 'netns'),
    ('cni_netns', 'netns', 'rel/ns', 'netns'),
]


@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
@pytest.mark.parametrize('module, param, value, where', RELATIVE, ids=['%s-%s' % c[:2] for c in RELATIVE])
def test_a_relative_path_is_refused_by_name_and_nothing_changes(run, cwd, tmp_path, module, param, value, where,
                                                                check):
    args = case_args(module, tmp_path)
    if module in ('cni_attachment', 'cni_gc') and param == 'conf_dir':
        args = dict(args, network='n')
        del args['config']
    if param == 'src':   # a folder in the working directory that a relative src would find
        plugin_folder(cwd / value)
    args[param] = value
    before_cwd, before_tmp = tree(cwd), tree(tmp_path)
    res = run(module, args, check=check)
    shown = value[-1] if isinstance(value, list) else value
    assert res['rc'] == 1 and res['failed'] is True, res
    assert res['param'] == param
    assert res['msg'].startswith('%s: must be an absolute path, got %r' % (where, shown)), res['msg']
    assert tree(cwd) == before_cwd and tree(tmp_path) == before_tmp, 'a refused run changed files'


def test_the_cases_work_with_absolute_paths(run, cwd, tmp_path):
    """Control: each case's arguments are good, so the refusals above come from the relative path alone."""
    for module in ('cni_plugin', 'cni_sysctl', 'cni_network', 'cni_ipam_pool', 'cni_gc', 'cni_info'):
        sub = tmp_path / module
        sub.mkdir()
        res = run(module, case_args(module, sub), check=True)
        assert res['rc'] == 0, (module, res)
    assert tree(cwd) == []


# ---------------------------------------------------------------- messages that name the parameter

@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
@pytest.mark.parametrize('state', ['present', 'absent'])
def test_cni_plugin_bin_dir_that_is_a_regular_file(run, cwd, tmp_path, check, state):
    args = case_args('cni_plugin', tmp_path)
    (tmp_path / 'file').write_text('not a directory\n')
    for bin_dir in (str(tmp_path / 'file'), str(tmp_path / 'file' / 'sub')):
        args['bin_dir'] = bin_dir
        if state == 'absent':
            args = dict(names=['loopback'], bin_dir=bin_dir, state='absent')
        res = run('cni_plugin', args, check=check)
        assert res['rc'] == 1 and res['param'] == 'bin_dir', res
        assert res['msg'].startswith('bin_dir: ') and 'not a directory' in res['msg'], res['msg']
        assert 'Errno' not in res['msg']
    assert (tmp_path / 'file').read_text() == 'not a directory\n'


@pytest.mark.parametrize('module, args, param, words', [
    ('cni_network', dict(plugins=['bridge']), 'plugins', "plugins[0]: 'bridge' is a string"),
    ('cni_network', dict(plugins=[{'type': 'loopback'}, 'type=bridge']), 'plugins', 'plugins[1]:'),
    ('cni_vxlan', dict(state='present', vni=42, peers=['10.0.0.1']), 'peers',
     "peers[0]: expected a dictionary with remote and subnet, got '10.0.0.1'"),
    ('cni_vxlan', dict(state='present', vni=42, peers=[{'remote': '10.0.0.1', 'sub': 'x'}]), 'peers',
     'peers[0]: unsupported key sub'),
    ('cni_vxlan', dict(state='present', vni=42, peers=[{'subnet': '10.244.1.0/24'}]), 'peers',
     'peers[0]: remote is required'),
    ('cni_gc', dict(valid_attachments=['x']), 'valid_attachments',
     "valid_attachments[0]: expected a dictionary with container_id and ifname, got 'x'"),
    ('cni_gc', dict(valid_attachments=[{'container_id': 'c1'}, 'c2']), 'valid_attachments',
     "valid_attachments[1]: expected a dictionary with container_id and ifname, got 'c2'"),
    ('cni_netns', dict(veth=dict(name='cnt-e0', peer='cnt-e1', routes=['default'])), 'veth',
     "veth.routes[0]: expected a dictionary with dst and via, got 'default'"),
])
def test_a_list_of_dictionaries_given_strings_names_the_element(run, cwd, tmp_path, module, args, param, words):
    args = dict(case_args(module, tmp_path), **args)
    before = tree(tmp_path)
    for check in (False, True):
        res = run(module, args, check=check)
        assert res['rc'] == 1 and res['param'] == param and res['msg'].startswith(words), res
        assert tree(tmp_path) == before and tree(cwd) == []


def test_cni_sysctl_file_that_is_a_directory_names_a_parameter(run, cwd, tmp_path):
    args = case_args('cni_sysctl', tmp_path)
    (tmp_path / 'sysctl.d' / '90-cni-node.conf').mkdir()
    res = run('cni_sysctl', args)
    assert res['rc'] == 1 and res['param'] == 'sysctl_dir', res
    assert res['msg'].startswith('sysctl_dir: cannot read %s' % (tmp_path / 'sysctl.d' / '90-cni-node.conf'))
    assert 'Errno' not in res['msg']


# ---------------------------------------------------------------- temporaries of killed runs

def stale_temp(directory, target):
    """What a run killed between creating its temporary file and renaming it leaves."""
    path = os.path.join(str(directory), '.%s.k1ll3d_x.tmp' % target)
    with open(path, 'w') as f:
        f.write('half')
    return path


def target_of(module, args):
    """(directory, file name) of the file the module writes."""
    if module == 'cni_plugin':
        return args['bin_dir'], 'loopback'
    if module == 'cni_sysctl':
        return args['sysctl_dir'], '90-cni-node.conf'
    if module == 'cni_network':
        return args['conf_dir'], '10-podnet.conflist'
    return os.path.dirname(args['path']), 'pool.json'


@pytest.mark.parametrize('module', ['cni_plugin', 'cni_sysctl', 'cni_network', 'cni_ipam_pool'])
def test_stale_temporaries_are_cleaned_and_are_not_drift(run, cwd, tmp_path, module):
    args = case_args(module, tmp_path)
    directory, target = target_of(module, args)
    if not os.path.isdir(directory):
        os.mkdir(directory)
    first = run(module, args)
    assert first['rc'] == 0 and first['cleaned'] == [], first
    stale = stale_temp(directory, target)
    other = stale_temp(directory, 'someone-else.conf')        # not this module's target: left alone
    held = os.path.join(directory, '.%s.h3ld_xyz.tmp' % target)
    with open(held, 'w') as f:                                 # a temporary another run holds (locked)
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        predicted = run(module, args, check=True)
        assert predicted['cleaned'] == [stale] and os.path.exists(stale), 'check mode removed a file'
        res = run(module, args)
        assert os.path.exists(held), 'a held temporary was removed'
    assert res['rc'] == 0 and res['cleaned'] == [stale] and not os.path.exists(stale)
    assert res['changed'] is False and res['drift'] == [] and predicted['changed'] is False
    assert os.path.exists(other)
    again = run(module, args)
    assert again['cleaned'] == [held]
