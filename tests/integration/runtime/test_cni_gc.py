# -*- coding: utf-8 -*-
"""cni_gc with the real reference plugins: leaked leases are released, live attachments never.

Four pods on one network, in the lab's namespaces (see conftest.py):
live (attached by cni_attachment, namespace alive), stale (attached by
cni_attachment, namespace deleted without DEL), orphan (attached by the
plugins directly, so uncached, namespace deleted) and declared (like orphan,
but listed in valid_attachments).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from conftest import sh


def attach_directly(lab, conf, cid, pod):
    prev = None
    for plugin in conf['plugins']:
        stdin = dict(plugin, name=conf['name'], cniVersion=conf['cniVersion'])
        if prev is not None:
            stdin['prevResult'] = prev
        rc, prev = lab.plugin('ADD', stdin, cid, pod)
        assert rc == 0, prev
    return prev


def test_gc_releases_leaked_leases_and_never_a_live_attachment(lab):
    conf = lab.chain('cntgc', tuning=False, ip_masq=False)
    lab.write_network(conf)
    common = dict(network='cntgc', conf_dir=lab.conf_dir, bin_dirs=['/usr/lib/cni'], cache_dir=lab.cache_dir,
                  log_file=lab.log_file)
    pods = dict((name, lab.pod()) for name in ('live', 'stale', 'orphan', 'declared'))
    addr = {}
    for i, name in enumerate(('live', 'stale')):
        res = lab.module('cni_attachment', dict(common, container_id='ctr-' + name, netns=pods[name],
                                                capability_args={'portMappings': [
                                                    {'hostPort': 19000 + i, 'containerPort': 80,
                                                     'protocol': 'tcp'}]}))
        assert res['changed'] is True, res
        addr[name] = res['result']['ips'][0]['address'].split('/')[0]
    for name in ('orphan', 'declared'):
        addr[name] = attach_directly(lab, conf, 'ctr-' + name, pods[name])['ips'][0]['address'].split('/')[0]
    assert sorted(lab.leases('cntgc')) == sorted(addr.values())
    assert '--dport 19001' in lab.iptables()

    for name in ('stale', 'orphan', 'declared'):     # gone without DEL
        sh('ip', 'netns', 'del', pods[name])
    args = dict(common, valid_attachments=[{'container_id': 'ctr-declared'}])
    del args['log_file']

    predicted = lab.module('cni_gc', args, check=True)
    assert predicted['changed'] is True, predicted
    assert sorted((r['container_id'], r['address'], r['via']) for r in predicted['released']) == [
        ('ctr-orphan', addr['orphan'], 'lease_file'), ('ctr-stale', addr['stale'], 'DEL')]
    assert [d['container_id'] for d in predicted['deleted_attachments']] == ['ctr-stale']
    assert sorted(k['container_id'] for k in predicted['kept']) == ['ctr-declared', 'ctr-live']
    assert predicted['leases'] == {'total': 4, 'released': 2, 'kept': 2}
    assert sorted(d['path'] for d in predicted['drift']) == sorted([
        'attachment/cntgc-ctr-stale-eth0', 'lease/cntgc/' + addr['orphan'], 'lease/cntgc/' + addr['stale']])
    assert sorted(lab.leases('cntgc')) == sorted(addr.values()) and predicted['invocations'] == []

    done = lab.module('cni_gc', args)
    assert done['changed'] is True and done['released'] == predicted['released'] and done['errors'] == [], done
    assert [(i['plugin'], i['command']) for i in done['invocations']] == [('portmap', 'DEL'), ('bridge', 'DEL')]
    leases = lab.leases('cntgc')
    assert sorted(leases) == sorted([addr['live'], addr['declared']])
    assert leases[addr['live']] == 'ctr-live\r\neth0'
    results = os.listdir(os.path.join(lab.cache_dir, 'results'))
    assert results == ['cntgc-ctr-live-eth0']
    rules = lab.iptables()
    assert '--dport 19001' not in rules and '--dport 19000' in rules     # the stale pod's portmap rule went
    assert lab.pings(pods['live'], lab.gateway)                            # the live pod is untouched

    again = lab.module('cni_gc', args)
    assert (again['changed'], again['released'], again['drift']) == (False, [], [])
    # The live attachment is still fine for the runtime too.
    check = lab.module('cni_attachment', dict(common, container_id='ctr-live', netns=pods['live'],
                                              state='checked'))
    assert check['changed'] is False and check['check'] == 'passed', check
    # A released address is handed out again.
    newpod = lab.pod()
    res = lab.module('cni_attachment', dict(common, container_id='ctr-new', netns=newpod))
    assert res['changed'] is True
