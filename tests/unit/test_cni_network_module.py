# -*- coding: utf-8 -*-
"""cni_network's edge: arguments in, exit_json/fail_json out (no root, fixed versions, validate off)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.cni.node.plugins.modules import cni_network

PLUGINS = [{'type': 'bridge', 'bridge': 'cnb0', 'ipam': {'type': 'host-local', 'subnet': '10.254.9.0/24'}}]


def base(tmp_path, **kw):
    args = dict(name='podnet', plugins=PLUGINS, cni_version='1.0.0', validate=False, conf_dir=str(tmp_path))
    args.update(kw)
    return args


def test_check_then_write_then_no_change(run_main, tmp_path):
    res = run_main(cni_network, base(tmp_path), check=True)
    assert res['rc'] == 0 and res['changed'] is True and os.listdir(str(tmp_path)) == []
    assert res['path'] == str(tmp_path / '10-podnet.conflist') and res['cni_version'] == '1.0.0'
    assert res['config']['plugins'] == PLUGINS and res['removed'] == []
    assert res['default_network'] == {'path': res['path'], 'name': 'podnet'}
    assert any(d.get('after_header', '').startswith(res['path']) for d in res['diff'])
    res = run_main(cni_network, base(tmp_path))
    assert res['changed'] is True and os.listdir(str(tmp_path)) == ['10-podnet.conflist']
    res = run_main(cni_network, base(tmp_path))
    assert res['changed'] is False and res['drift'] == [] and res['diff'] == []


def test_backup_of_replaced_and_removed_files(run_main, tmp_path):
    old = {'cniVersion': '0.3.1', 'name': 'old', 'plugins': [{'type': 'loopback'}]}
    (tmp_path / '05-old.conflist').write_text(json.dumps(old))
    run_main(cni_network, base(tmp_path))
    res = run_main(cni_network, base(tmp_path, cni_version='0.4.0', exclusive=True, backup=True))
    assert res['changed'] is True and res['removed'] == [str(tmp_path / '05-old.conflist')]
    assert len(res['backup_files']) == 2 and res['backup_file'].startswith(res['path'] + '.')
    names = sorted(os.listdir(str(tmp_path)))
    assert '10-podnet.conflist' in names and '05-old.conflist' not in names
    # Backups end in "~": no runtime reads them as network configuration.
    assert all(n.endswith('~') for n in names if n != '10-podnet.conflist')


@pytest.mark.parametrize('kw, param, words', [
    (dict(name='no spaces'), 'name', 'name:'),
    (dict(plugins=[{'type': 'bridge', 'ipam': {'type': 'host-local', 'ranges': [[{'subnet': '10.0.0.0/24',
                                                                                  'rangeEnd': '10.0.0.999'}]]}}]),
     'plugins', 'plugins[0].ipam.ranges[0][0].rangeEnd'),
    (dict(cni_version='2.0.0'), 'cni_version', 'cni_version'),
    (dict(mode='rw'), 'mode', 'mode'),
    (dict(owner='no-such-user-cni'), 'owner', 'no such user'),
])
def test_errors_name_the_parameter(run_main, tmp_path, kw, param, words):
    res = run_main(cni_network, base(tmp_path, **kw))
    assert res['rc'] == 1 and res['failed'] is True and res['param'] == param and words in res['msg']
    assert os.listdir(str(tmp_path)) == []
