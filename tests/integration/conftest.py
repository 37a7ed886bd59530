# -*- coding: utf-8 -*-
"""Real-kernel test harness.

Every test that touches the kernel gets its own throwaway network namespace
named ``cnt-<random>`` (cni-node test) and removes it afterwards, also when
the test fails. Modules run as the real program Ansible would run: a
subprocess reading its arguments from a JSON file, with check and diff mode
passed the way Ansible passes them.

Without root the tests are reported as skipped, with the reason.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import tempfile
import uuid

import pytest

PREFIX = 'cnt-'
IS_ROOT = os.geteuid() == 0
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEM_PYTHON = '/usr/bin/python3'   # Debian's python3 with python3-pyroute2 (0.7.x)


HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_configure(config):
    config.addinivalue_line('markers', 'no_root: an integration test that touches no kernel state and runs '
                                       'without root')


def pytest_collection_modifyitems(config, items):
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason='integration tests need root: they create network namespaces and '
                                   'write /proc/sys inside them (run make test as root)')
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep) and item.get_closest_marker('no_root') is None:
            item.add_marker(skip)


def unique(prefix=PREFIX):
    return prefix + uuid.uuid4().hex[:8]


def sh(*argv, **kwargs):
    """Run a command (test setup and drift injection only); return stdout."""
    check = kwargs.pop('check', True)
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=False, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError('%s failed (rc=%s): %s' % (' '.join(argv), proc.returncode, proc.stderr))
    return proc.stdout


@pytest.fixture
def netns():
    """A fresh, empty network namespace, removed afterwards whatever happens."""
    name = unique()
    sh('ip', 'netns', 'add', name)
    try:
        yield name
    finally:
        sh('ip', 'netns', 'del', name, check=False)
        assert not os.path.exists('/run/netns/' + name)


def ns_read(netns, key):
    """Value of a key inside a namespace, whitespace collapsed, read without the module."""
    path = '/proc/sys/' + '/'.join(p.replace('/', '.') for p in key.split('.'))
    out = sh('ip', 'netns', 'exec', netns, 'cat', path) if netns else open(path).read()
    return ' '.join(out.split())


def ns_write(netns, key, value):
    """Drift injection: change a key behind the module's back, with sysctl(8)."""
    sh('ip', 'netns', 'exec', netns, 'sysctl', '-q', '-w', '%s=%s' % (key, value))


def run_module(name, args, check=False, diff=True, python=None, prefix=(), tmp_dir=None, timeout=None):
    """Run a cni.node module as Ansible would; return its JSON result.

    The module reads its arguments from a JSON file (in ``tmp_dir``, the
    system's temporary directory by default), with check and diff mode
    passed the way Ansible passes them. ``prefix`` goes before the command,
    e.g. ``('ip', 'netns', 'exec', NAME)`` to run it inside a namespace.
    """
    payload = dict(args)
    payload['_ansible_check_mode'] = check
    payload['_ansible_diff'] = diff
    root = os.environ['CNI_NODE_COLLECTIONS_ROOT']
    fd, path = tempfile.mkstemp(suffix='.json', dir=tmp_dir)
    with os.fdopen(fd, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': payload}, f)
    try:
        env = dict(os.environ, PYTHONPATH=root)
        proc = subprocess.run(
            list(prefix) + [python or sys.executable, '-m',
                            'ansible_collections.cni.node.plugins.modules.%s' % name, path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, cwd='/',
            check=False, timeout=timeout)
    finally:
        os.unlink(path)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('module %s printed no JSON (rc=%s)\nstdout: %s\nstderr: %s'
                             % (name, proc.returncode, proc.stdout, proc.stderr))
    result.pop('invocation', None)
    return result


@pytest.fixture
def module():
    return run_module


INTERPRETERS = [
    pytest.param(sys.executable, id='pyroute2-0.9-venv'),
    pytest.param(SYSTEM_PYTHON, id='pyroute2-0.7-debian'),
]


@pytest.fixture
def interpreter(request, tmp_path):
    """The interpreter to run the module with.

    Debian's python3 has pyroute2 0.7.x but no Ansible; Ansible ships
    ansible.module_utils with every module (AnsiballZ), so a wrapper puts
    only the venv's ``ansible`` package (pure Python) on its path, never the
    venv's pyroute2.
    """
    python = request.param
    if python == sys.executable:
        return python
    if not os.path.exists(python):
        pytest.fail('%s is missing: make deps installs python3 and python3-pyroute2' % python)
    import ansible  # pylint: disable=import-outside-toplevel
    lib = tmp_path / 'ansible-only'
    lib.mkdir()
    os.symlink(os.path.dirname(ansible.__file__), str(lib / 'ansible'))
    wrapper = tmp_path / 'python3'
    wrapper.write_text(u'#!/bin/sh\nPYTHONPATH="$PYTHONPATH:%s" exec %s "$@"\n' % (lib, python))
    wrapper.chmod(0o755)
    return str(wrapper)
