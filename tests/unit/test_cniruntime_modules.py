# -*- coding: utf-8 -*-
"""The runtime modules' edges: arguments in, exit_json/fail_json out (no root, no plugin runs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.cni.node.plugins.modules import cni_attachment, cni_gc, cni_info

patch_module_args = pytest.importorskip('ansible.module_utils.testing').patch_module_args


def run_main(capsys, module, args, check=False):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            module.main()
    out = json.loads(capsys.readouterr().out)
    out['rc'] = exc.value.code
    return out


def test_attachment_errors_name_their_parameter(capsys, tmp_path):
    base = dict(network='n', container_id='c1', netns='p', conf_dir=str(tmp_path), cache_dir=str(tmp_path))
    res = run_main(capsys, cni_attachment, dict(base, timeout=0))
    assert res['failed'] and res['param'] == 'timeout'
    res = run_main(capsys, cni_attachment, dict(base, container_id='-x'))
    assert res['failed'] and res['param'] in ('network', 'container_id')
    res = run_main(capsys, cni_attachment, dict(base, network='missing'))
    assert res['failed'] and res['param'] == 'network' and 'missing' in res['msg']
    inline = dict(base, config={'cniVersion': '1.0.0', 'name': 'n', 'plugins': []})
    del inline['network']
    res = run_main(capsys, cni_attachment, inline)
    assert res['failed'] and res['param'] == 'config'


def test_attachment_absent_with_nothing_cached_changes_nothing(capsys, tmp_path):
    conf = {'cniVersion': '1.0.0', 'name': 'n', 'plugins': [{'type': 'loopback'}]}
    (tmp_path / '10-n.conflist').write_text(json.dumps(conf))
    res = run_main(capsys, cni_attachment, dict(network='n', container_id='c1', conf_dir=str(tmp_path),
                                                cache_dir=str(tmp_path), state='absent'))
    assert res['rc'] == 0 and res['changed'] is False and res['actions'] == [] and res['result'] is None
    assert res['cache_path'] == str(tmp_path / 'results' / 'n-c1-eth0')


def test_gc_of_a_network_without_leases_or_cache(capsys, tmp_path):
    conf = {'cniVersion': '1.0.0', 'name': 'n', 'plugins': [{'type': 'loopback'}]}
    res = run_main(capsys, cni_gc, dict(config=conf, cache_dir=str(tmp_path)), check=True)
    assert res['rc'] == 0 and res['changed'] is False and res['released'] == [] and res['leases']['total'] == 0


def test_info_query_on_one_section(capsys, tmp_path):
    (tmp_path / '10-n.conflist').write_text(json.dumps({'cniVersion': '1.0.0', 'name': 'n',
                                                        'plugins': [{'type': 'loopback'}]}))
    res = run_main(capsys, cni_info, dict(gather=['networks'], conf_dir=str(tmp_path),
                                          query='networks.default_network.name'))
    assert res['rc'] == 0 and res['value'] == 'n' and list(res['cni']) == ['networks']
