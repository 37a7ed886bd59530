# -*- coding: utf-8 -*-
"""cni_info in the lab: the default network, lease counts (with a stale one), links with their peers' namespaces."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from conftest import INTERPRETERS, sh


def test_info_reports_networks_leases_links_and_answers_a_query(lab):
    conf = lab.chain('cntinfo', portmap=False, tuning=False, ip_masq=False)
    lab.write_network(conf, priority=5)
    other = lab.chain('cntother', portmap=False, tuning=False)
    lab.write_network(other, priority=20)
    common = dict(network='cntinfo', conf_dir=lab.conf_dir, bin_dirs=['/usr/lib/cni'], cache_dir=lab.cache_dir)
    live, gone = lab.pod(), lab.pod()
    for name, pod in (('live', live), ('gone', gone)):
        assert lab.module('cni_attachment', dict(common, container_id='ctr-' + name, netns=pod))['changed']
    sh('ip', 'netns', 'del', gone)
    info_args = dict(conf_dir=lab.conf_dir, bin_dirs=['/usr/lib/cni'], cache_dir=lab.cache_dir)

    res = lab.module('cni_info', dict(info_args, query='{default: networks.default_network.name, '
                                                       'used: leases.cntinfo.used, free: leases.cntinfo.free, '
                                                       'stale: leases.cntinfo.stale}'))
    assert res['changed'] is False and res['errors'] == {}, res
    assert res['value'] == {'default': 'cntinfo', 'used': 2, 'free': 41 - 2, 'stale': 1}   # .10-.50
    cni = res['cni']
    assert [f['name'] for f in cni['networks']['files']] == ['cntinfo', 'cntother']
    assert all(f['loads'] and f['valid'] for f in cni['networks']['files']) and cni['networks']['duplicates'] == {}
    assert cni['plugins']['bridge']['versions'][-1] == '1.0.0' and len(cni['plugins']['bridge']['sha256']) == 64
    assert sorted(l['container_id'] for l in cni['leases']['cntinfo']['leases'] if l['stale']) == ['ctr-gone']
    bridge = [l for l in cni['links'] if l['kind'] == 'bridge']
    assert [b['name'] for b in bridge] == [lab.bridge]
    veths = [l for l in cni['links'] if l['kind'] == 'veth']
    assert [(v['master'], v['peer']) for v in veths] == [(lab.bridge, {'netns': live, 'name': 'eth0'})]
    assert live in cni['namespaces'] and gone not in cni['namespaces']
    assert cni['sysctls']['net.ipv4.ip_forward'] == '1'     # bridge isGateway, inside the lab's host namespace

    only = lab.module('cni_info', dict(info_args, gather=['sysctls'], query='sysctls."net.ipv4.ip_forward"'))
    assert list(only['cni']) == ['sysctls'] and only['value'] == '1'
    bad = lab.module('cni_info', dict(info_args, gather=['sysctls'], query='[[['))
    assert bad.get('failed') is True and bad['param'] == 'query'


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_links_and_peers_with_either_pyroute2(lab, interpreter):
    lab.write_network(lab.chain('cntlinks', portmap=False, tuning=False, ip_masq=False))
    pod = lab.pod()
    common = dict(network='cntlinks', conf_dir=lab.conf_dir, bin_dirs=['/usr/lib/cni'], cache_dir=lab.cache_dir)
    assert lab.module('cni_attachment', dict(common, container_id='ctr-l', netns=pod), python=interpreter)['changed']
    res = lab.module('cni_info', dict(gather=['links', 'namespaces']), python=interpreter)
    assert res['errors'] == {}, res
    veths = [l for l in res['cni']['links'] if l['kind'] == 'veth']
    assert [v['peer'] for v in veths] == [{'netns': pod, 'name': 'eth0'}]
    # The query needs jmespath, which Debian's python3 lacks here: the failure says so and names query.
    res = lab.module('cni_info', dict(gather=['namespaces'], query='namespaces'), python=interpreter)
    assert res.get('value') == res['cni']['namespaces'] if 'value' in res else res['param'] == 'query'
