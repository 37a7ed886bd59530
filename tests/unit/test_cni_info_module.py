# -*- coding: utf-8 -*-
"""cni_info's edge: arguments in, exit_json/fail_json out (no root, no plugin runs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.cni.node.plugins.modules import cni_info


def test_info_query_on_one_section(run_main, tmp_path):
    (tmp_path / '10-n.conflist').write_text(json.dumps({'cniVersion': '1.0.0', 'name': 'n',
                                                        'plugins': [{'type': 'loopback'}]}))
    res = run_main(cni_info, dict(gather=['networks'], conf_dir=str(tmp_path),
                                  query='networks.default_network.name'))
    assert res['rc'] == 0 and res['value'] == 'n' and list(res['cni']) == ['networks']
