# -*- coding: utf-8 -*-
"""cni_gc's edge: arguments in, exit_json/fail_json out (no root, no plugin runs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.cni.node.plugins.modules import cni_gc


def test_gc_of_a_network_without_leases_or_cache(run_main, tmp_path):
    conf = {'cniVersion': '1.0.0', 'name': 'n', 'plugins': [{'type': 'loopback'}]}
    res = run_main(cni_gc, dict(config=conf, cache_dir=str(tmp_path)), check=True)
    assert res['rc'] == 0 and res['changed'] is False and res['released'] == [] and res['leases']['total'] == 0
