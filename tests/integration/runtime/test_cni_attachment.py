# -*- coding: utf-8 -*-
"""cni_attachment with the real reference plugins (bridge, host-local, portmap, tuning) in throwaway namespaces.

The module process runs inside the lab's host namespace; the pod is another
namespace. See conftest.py for what the lab holds and removes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import stat

from conftest import sh

PORTS = [{'hostPort': 18080, 'containerPort': 80, 'protocol': 'tcp'}]


def comparable(result):
    """A CNI result without what is random per run: MACs and the host veth's name."""
    out = json.loads(json.dumps(result))
    for itf in out.get('interfaces', []):
        itf.pop('mac', None)
        if itf.get('name', '').startswith('veth'):
            itf['name'] = 'veth*'
    return out


def args_for(lab, network, pod, **extra):
    args = dict(network=network, container_id='ctr-' + pod[4:], netns=pod, conf_dir=lab.conf_dir,
                bin_dirs=['/usr/lib/cni'], cache_dir=lab.cache_dir, log_file=lab.log_file,
                capability_args={'portMappings': PORTS})
    args.update(extra)
    return args


def logged(lab):
    with open(lab.log_file) as f:
        return [json.loads(line) for line in f]


def test_add_is_what_the_plugins_give_directly_and_the_pod_reaches_its_gateway(lab):
    conf = lab.chain('cntnet')
    path = lab.write_network(conf)
    pod = lab.pod()
    args = args_for(lab, 'cntnet', pod)
    cid = args['container_id']

    # The same inputs, run directly (cnitool-style): each plugin with name, cniVersion, prevResult and, for
    # portmap (which declares portMappings), runtimeConfig.
    direct, prev, sent = None, None, []
    for plugin in conf['plugins']:
        stdin = dict(plugin, name='cntnet', cniVersion='1.0.0')
        if prev is not None:
            stdin['prevResult'] = prev
        if plugin['type'] == 'portmap':
            stdin['runtimeConfig'] = {'portMappings': PORTS}
        rc, prev = lab.plugin('ADD', stdin, cid, pod)
        assert rc == 0, prev
        sent.append(stdin)
    direct = prev
    for stdin in reversed(sent):
        assert lab.plugin('DEL', dict(stdin, prevResult=direct), cid, pod)[0] == 0
    assert lab.leases('cntnet') == {} and lab.host_veths() == []
    for fname in os.listdir(os.path.join(lab.data_dir, 'cntnet')):   # host-local starts over
        if fname.startswith('last_reserved_ip'):
            os.unlink(os.path.join(lab.data_dir, 'cntnet', fname))

    predicted = lab.module('cni_attachment', args, check=True)
    assert predicted['changed'] is True and predicted['actions'] == [] and predicted['result'] is None
    assert predicted['drift'] == [{'path': 'attachment/cntnet-%s-eth0/state' % cid, 'before': 'absent',
                                   'after': 'present'}]
    assert not os.path.exists(predicted['cache_path']) and lab.host_veths() == []

    first = lab.module('cni_attachment', args)
    assert first['changed'] is True and first['actions'] == ['ADD'], first
    assert comparable(first['result']) == comparable(direct)
    address = first['result']['ips'][0]['address']
    assert lab.pod_addresses(pod) == [address] and first['result']['ips'][0]['gateway'] == lab.gateway
    assert lab.pings(pod, lab.gateway)

    # What each plugin got on stdin, from the invocation log, is what the direct run sent.
    adds = [line for line in logged(lab) if line['command'] == 'ADD']
    assert [line['plugin'] for line in adds] == ['bridge', 'portmap', 'tuning']
    for line, stdin in zip(adds, sent):
        got = dict(line['stdin'])
        assert comparable(got.pop('prevResult', {})) == comparable(stdin.pop('prevResult', {}))
        assert got == stdin
    assert 'runtimeConfig' not in adds[0]['stdin'] and 'runtimeConfig' not in adds[2]['stdin']
    assert adds[0]['env'] == {'CNI_COMMAND': 'ADD', 'CNI_CONTAINERID': cid, 'CNI_NETNS': '/run/netns/' + pod,
                              'CNI_IFNAME': 'eth0', 'CNI_ARGS': '', 'CNI_PATH': '/usr/lib/cni'}
    assert all(isinstance(line['duration_ms'], float) and line['exit_code'] == 0 for line in adds)

    # libcni's cache: <cache_dir>/results/<network>-<containerID>-<ifname>, cniCacheV1, the list's own bytes.
    cache = os.path.join(lab.cache_dir, 'results', 'cntnet-%s-eth0' % cid)
    assert first['cache_path'] == cache
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(cache)).st_mode) == 0o700
    with open(cache) as f:
        entry = json.load(f)
    with open(path, 'rb') as f:
        assert base64.b64decode(entry.pop('config')) == f.read()
    assert entry == {'kind': 'cniCacheV1', 'containerId': cid, 'ifName': 'eth0', 'networkName': 'cntnet',
                     'netns': '/run/netns/' + pod, 'capabilityArgs': {'portMappings': PORTS},
                     'result': first['result']}

    # capability_args reached portmap: its DNAT rule for the host port exists (in the lab's host namespace).
    rules = lab.iptables()
    assert '--dport 18080' in rules and address.split('/')[0] + ':80' in rules

    again = lab.module('cni_attachment', args)
    assert (again['changed'], again['check'], again['actions'], again['drift']) == (False, 'passed', [], [])
    assert again['result'] == first['result']
    checked = lab.module('cni_attachment', dict(args, state='checked'))
    assert (checked['changed'], checked['check']) == (False, 'passed')

    # DEL: no veth, no lease, no cache file, no portmap rule.
    gone_predicted = lab.module('cni_attachment', dict(args, state='absent'), check=True)
    assert gone_predicted['changed'] is True and os.path.exists(cache) and lab.host_veths() != []
    gone = lab.module('cni_attachment', dict(args, state='absent'))
    assert gone['changed'] is True and gone['actions'] == ['DEL']
    assert [line['plugin'] for line in logged(lab) if line['command'] == 'DEL'][-3:] == ['tuning', 'portmap',
                                                                                         'bridge']
    assert lab.host_veths() == [] and lab.leases('cntnet') == {} and not os.path.exists(cache)
    rules = lab.iptables()
    assert '18080' not in rules and 'CNI-DN-' not in rules, rules   # portmap keeps only its empty top chains
    still_gone = lab.module('cni_attachment', dict(args, state='absent'))
    assert (still_gone['changed'], still_gone['actions']) == (False, [])


def test_drift_found_by_check_and_repaired(lab):
    # ipMasq off: the reference bridge plugin tears its masquerade rule down by the addresses the pod's link
    # still has, so a DEL after the address was removed leaves that rule behind and every later DEL of the
    # container fails (containernetworking/plugins#810; see docs/troubleshooting.md).
    lab.write_network(lab.chain('cntdrift', ip_masq=False))
    pod = lab.pod()
    args = args_for(lab, 'cntdrift', pod)
    first = lab.module('cni_attachment', args)
    old = first['result']['ips'][0]['address']
    sh('ip', '-n', pod, 'addr', 'del', old, 'dev', 'eth0')
    assert lab.pod_addresses(pod) == []

    predicted = lab.module('cni_attachment', args, check=True)
    assert predicted['changed'] is True and predicted['actions'] == [] and predicted['check'] == 'failed'
    [item] = predicted['drift']
    assert item['path'].endswith('/check') and item['after'] == 'passed'
    assert 'bridge' in item['before'] and old in item['before']
    assert lab.pod_addresses(pod) == []          # check mode changed nothing

    failed = lab.module('cni_attachment', dict(args, state='checked'))
    assert failed.get('failed') is True and 'bridge' in failed['msg'] and failed['command'] == 'CHECK'

    repaired = lab.module('cni_attachment', args)
    assert repaired['changed'] is True and repaired['actions'] == ['DEL', 'ADD']
    assert repaired['drift'] == [item]
    new = repaired['result']['ips'][0]['address']
    assert lab.pod_addresses(pod) == [new] and lab.pings(pod, lab.gateway)
    assert list(lab.leases('cntdrift')) == [new.split('/')[0]]     # the old lease went with DEL
    assert lab.module('cni_attachment', args)['changed'] is False

    # Other capability_args: the attachment is redone with them (portmap's rule follows).
    moved = [{'hostPort': 18081, 'containerPort': 80, 'protocol': 'tcp'}]
    redo = lab.module('cni_attachment', dict(args, capability_args={'portMappings': moved}))
    assert redo.get('changed') is True, json.dumps(redo, indent=1)
    assert [d['path'].rsplit('/', 1)[1] for d in redo['drift']] == ['capability_args']
    rules = lab.iptables()
    assert '--dport 18081' in rules and '--dport 18080' not in rules
    lab.module('cni_attachment', dict(args, state='absent'))
    assert lab.host_veths() == [] and lab.leases('cntdrift') == {}


def test_plugin_failures_carry_their_cni_code_and_leave_nothing(lab):
    pod = lab.pod()
    # The IPAM binary does not exist: bridge reports it with a CNI error; the failed ADD is undone.
    conf = lab.chain('cntfail', portmap=False, tuning=False, ipam_type='cnt-no-such-ipam')
    lab.write_network(conf)
    res = lab.module('cni_attachment', args_for(lab, 'cntfail', pod))
    assert res.get('failed') is True, res
    assert isinstance(res['cni_code'], int) and 'cnt-no-such-ipam' in res['cni_msg']
    assert res['plugin'] == 'bridge' and res['command'] == 'ADD'
    assert 'CNI error %d' % res['cni_code'] in res['msg'] and 'DEL' in res['cleanup']
    assert lab.host_veths() == [] and not os.path.exists(os.path.join(lab.cache_dir, 'results'))

    # A plugin binary that does not exist at all: no plugin to answer, the failure names bin_dirs.
    missing = {'cniVersion': '1.0.0', 'name': 'cntmissing', 'plugins': [{'type': 'cnt-no-such-plugin'}]}
    inline = args_for(lab, None, pod, config=missing)
    del inline['network']
    res = lab.module('cni_attachment', inline)
    assert res.get('failed') is True and res.get('param') == 'bin_dirs' and res['cni_code'] is None, res
    assert 'cnt-no-such-plugin' in res['msg']

    # A configuration the plugin refuses: its own error code and message (1: incompatible CNI version).
    bad = lab.chain('cntbad', portmap=False, tuning=False)
    bad['cniVersion'] = '9.9.9'
    lab.write_network(bad)
    res = lab.module('cni_attachment', args_for(lab, 'cntbad', pod))
    assert res.get('failed') is True and res['cni_code'] == 1, res
    assert res['cni_msg'] == 'incompatible CNI versions' and '9.9.9' in res['cni_details']
    assert 'CNI error 1 (incompatible CNI version)' in res['msg']

    # Nothing attached: CHECK has nothing to check, and the error names the parameter.
    lab.write_network(lab.chain('cntnone'))
    res = lab.module('cni_attachment', dict(args_for(lab, 'cntnone', pod), state='checked'))
    assert res.get('failed') is True and res['param'] == 'container_id'
    # A network that does not exist.
    res = lab.module('cni_attachment', args_for(lab, 'cntnosuch', pod))
    assert res.get('failed') is True and res['param'] == 'network' and 'cntnosuch' in res['msg']
    assert lab.host_veths() == []


def test_detach_works_from_the_cache_when_the_network_file_and_the_pod_are_gone(lab):
    path = lab.write_network(lab.chain('cntgone', tuning=False))
    pod = lab.pod()
    args = args_for(lab, 'cntgone', pod)
    lab.module('cni_attachment', args)
    assert lab.leases('cntgone') != {}
    os.unlink(path)
    sh('ip', 'netns', 'del', pod)
    gone = lab.module('cni_attachment', dict(args, state='absent', netns=None))
    assert gone['changed'] is True and gone['actions'] == ['DEL'], gone
    assert lab.leases('cntgone') == {} and lab.host_veths() == []
    assert '18080' not in lab.iptables()
