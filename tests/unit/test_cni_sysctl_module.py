# -*- coding: utf-8 -*-
"""cni_sysctl's edge: arguments in, exit_json/fail_json out (no root needed).

Runs main() in-process with the shared runner (``run_main`` of conftest.py),
in check mode against the host's real /proc/sys, asking for the values it already has.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.cni.node.plugins.modules import cni_sysctl


def host(key):
    with open('/proc/sys/' + key.replace('.', '/')) as f:
        return ' '.join(f.read().split())


def test_no_change_when_host_has_the_values(run_main):
    want = {'net.ipv4.ip_forward': host('net.ipv4.ip_forward'), 'net.core.somaxconn': host('net.core.somaxconn')}
    res = run_main(cni_sysctl, dict(params=want, persist=False), check=True)
    assert res['rc'] == 0 and res['changed'] is False
    assert res['drift'] == [] and res['diff'] == [] and res['values'] == want and res['file'] is None


def test_check_mode_predicts_a_change(run_main):
    cur = int(host('net.core.somaxconn'))
    res = run_main(cni_sysctl, dict(params={'net.core.somaxconn': cur + 1}, persist=False), check=True)
    if os.geteuid() != 0:   # /proc/sys is not writable: refused up front, even in check mode
        assert res['failed'] is True and res['msg'].startswith('params.net.core.somaxconn: read-only here')
        return
    assert res['changed'] is True
    assert res['drift'] == [dict(path='sysctl/net.core.somaxconn', before=str(cur), after=str(cur + 1))]
    assert host('net.core.somaxconn') == str(cur)


@pytest.mark.parametrize('args, param, words', [
    (dict(params={'net.core.somaxconn': 1}, state='gone'), 'state', 'state'),
    (dict(params={'net.core.somaxconn': 1}, file='a/b.conf'), 'file', 'file'),
    (dict(params={'net.core.somaxconn': 1}, netns='x', persist=True), 'persist', 'persist'),
    (dict(params={'kernel.pid_max': 1}, netns='x'), 'params', 'params.kernel.pid_max'),
    (dict(params={'net.nope.nope': 1}, persist=False), 'params', 'params.net.nope.nope: unknown key'),
])
def test_errors_name_the_parameter(run_main, args, param, words):
    res = run_main(cni_sysctl, args, check=True)
    assert res['rc'] == 1 and res['failed'] is True
    assert words in res['msg']
    if param != 'state':   # argument_spec choices errors come from Ansible itself
        assert res['param'] == param
