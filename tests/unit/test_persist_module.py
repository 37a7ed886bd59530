# -*- coding: utf-8 -*-
"""persist and persist_root through the modules' main(): a bad value names its parameter, before any netlink."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib

import pytest

from ansible_collections.cni.node.plugins.module_utils import _netlink


@pytest.fixture
def run(run_main, monkeypatch):
    def no_netlink(*_args, **_kwargs):
        raise AssertionError('netlink opened before the arguments were checked')
    monkeypatch.setattr(_netlink.Netlink, '__init__', no_netlink)

    def run_module(name, args, check=False):
        return run_main(importlib.import_module('ansible_collections.cni.node.plugins.modules.%s' % name), args,
                        check=check)
    return run_module


ARGS = dict(cni_bridge=dict(name='cnt-pb0'), cni_vxlan=dict(name='cnt-pv0', vni=42, local='192.0.2.1'))


@pytest.mark.parametrize('module', sorted(ARGS))
@pytest.mark.parametrize('extra, param, words', [
    (dict(persist='sometimes'), 'persist', "persist 'sometimes': use auto, true or false"),
    (dict(persist=True, netns='cnt-ns'), 'persist', "persist=true: a link in network namespace 'cnt-ns'"),
    (dict(persist_root='relative/root'), 'persist_root', 'persist_root: must be an absolute path'),
])
def test_bad_persist_arguments_name_their_parameter(run, tmp_path, module, extra, param, words):
    for check in (False, True):
        res = run(module, dict(ARGS[module], **extra), check=check)
        assert res['rc'] == 1 and res['param'] == param and res['msg'].startswith(words), res


@pytest.mark.parametrize('module', sorted(ARGS))
def test_persist_true_without_networkd_fails_naming_persist(run, tmp_path, module):
    res = run(module, dict(ARGS[module], persist=True, persist_root=str(tmp_path)))
    assert res['rc'] == 1 and res['param'] == 'persist' and 'systemd-networkd is not installed' in res['msg'], res
    assert list(tmp_path.iterdir()) == []
