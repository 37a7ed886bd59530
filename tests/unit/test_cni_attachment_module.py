# -*- coding: utf-8 -*-
"""cni_attachment's edge: arguments in, exit_json/fail_json out (no root, no plugin runs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.cni.node.plugins.modules import cni_attachment


def test_attachment_errors_name_their_parameter(run_main, tmp_path):
    base = dict(network='n', container_id='c1', netns='p', conf_dir=str(tmp_path), cache_dir=str(tmp_path))
    res = run_main(cni_attachment, dict(base, timeout=0))
    assert res['failed'] and res['param'] == 'timeout'
    res = run_main(cni_attachment, dict(base, container_id='-x'))
    assert res['failed'] and res['param'] in ('network', 'container_id')
    res = run_main(cni_attachment, dict(base, network='missing'))
    assert res['failed'] and res['param'] == 'network' and 'missing' in res['msg']
    inline = dict(base, config={'cniVersion': '1.0.0', 'name': 'n', 'plugins': []})
    del inline['network']
    res = run_main(cni_attachment, inline)
    assert res['failed'] and res['param'] == 'config'


def test_attachment_absent_with_nothing_cached_changes_nothing(run_main, tmp_path):
    conf = {'cniVersion': '1.0.0', 'name': 'n', 'plugins': [{'type': 'loopback'}]}
    (tmp_path / '10-n.conflist').write_text(json.dumps(conf))
    res = run_main(cni_attachment, dict(network='n', container_id='c1', conf_dir=str(tmp_path),
                                        cache_dir=str(tmp_path), state='absent'))
    assert res['rc'] == 0 and res['changed'] is False and res['actions'] == [] and res['result'] is None
    assert res['cache_path'] == str(tmp_path / 'results' / 'n-c1-eth0')
