# -*- coding: utf-8 -*-
"""cni_info's edge: arguments in, exit_json/fail_json out (no root, no plugin runs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.cni.node.plugins.modules import cni_info


def test_info_query_on_one_section(run_main, tmp_path):
    (tmp_path / '10-n.conflist').write_text(json.dumps({'cniVersion': '1.0.0', 'name': 'n',
                                                        'plugins': [{'type': 'loopback'}]}))
    res = run_main(cni_info, dict(gather=['networks'], conf_dir=str(tmp_path),
                                  query='networks.default_network.name'))
    assert res['rc'] == 0 and res['value'] == 'n' and list(res['cni']) == ['networks']


def test_a_section_that_cannot_be_read_names_the_parameter(run_main, tmp_path, monkeypatch):
    # An OSError the kernel gives a reader (EACCES, EIO) that root on a test machine cannot provoke on demand.
    conf = tmp_path / 'net.d'
    conf.mkdir()

    def unreadable(conf_dir, read_text):
        raise OSError(5, 'Input/output error', os.path.join(conf_dir, '10-n.conflist'))

    monkeypatch.setattr(cni_info._cniinfo, 'networks', unreadable)   # pylint: disable=protected-access
    res = run_main(cni_info, dict(gather=['networks'], conf_dir=str(conf)))
    assert res['rc'] == 0 and 'networks' in res['errors'], res
    assert res['errors']['networks'] == 'conf_dir: %s/10-n.conflist: Input/output error' % conf, res['errors']
