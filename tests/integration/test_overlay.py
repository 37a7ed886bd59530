# -*- coding: utf-8 -*-
"""Two nodes and two pods on one machine, joined by a VXLAN overlay built with the modules.

Topology (every namespace and link is the test's own, ``cnt-`` prefixed)::

    pod A (cni_netns) --veth-- [node A: cni0 (cni_bridge), vx0 (cni_vxlan)] --u0/u0 veth underlay--
        [node B: vx0, cni0] --veth-- pod B

L3 mode: each node routes the other node's pod subnet through vx0 (route
onlink + permanent neighbour + FDB entry, as flannel does). L2 mode: vx0 is
a port of cni0 and both pods share one subnet, reached through FDB flood
entries. In both, pod A pings pod B, and the VXLAN devices' counters prove
the packets went through the tunnel; the underlay carries no plain pod
traffic (node A has no route to pod B except through vx0).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from conftest import sh, unique

NODES = {
    'a': dict(underlay='192.0.2.1', subnet='10.244.1.0/24', gateway='10.244.1.1', pod='10.244.1.2'),
    'b': dict(underlay='192.0.2.2', subnet='10.244.2.0/24', gateway='10.244.2.1', pod='10.244.2.2'),
}
L2_POD = {'a': '10.245.0.2', 'b': '10.245.0.3'}


@pytest.fixture
def lab():
    """Two node namespaces joined by a veth underlay; pods are added by the test (removed here too)."""
    tag = unique('')[:6]
    names = dict(node_a='cnt-%s-node-a' % tag, node_b='cnt-%s-node-b' % tag,
                 pod_a='cnt-%s-pod-a' % tag, pod_b='cnt-%s-pod-b' % tag, tag=tag)
    try:
        for n in ('a', 'b'):
            sh('ip', 'netns', 'add', names['node_' + n])
        sh('ip', '-n', names['node_a'], 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u0',
           'netns', names['node_b'])
        for n in ('a', 'b'):
            ns = names['node_' + n]
            sh('ip', '-n', ns, 'addr', 'add', NODES[n]['underlay'] + '/24', 'dev', 'u0')
            sh('ip', '-n', ns, 'link', 'set', 'u0', 'up')
        yield names
    finally:
        for key in ('pod_a', 'pod_b', 'node_a', 'node_b'):
            sh('ip', 'netns', 'del', names[key], check=False)


def counters(netns, dev='vx0'):
    link = json.loads(sh('ip', '-n', netns, '-j', '-s', 'link', 'show', 'dev', dev))[0]
    return link['stats64']['tx']['packets'], link['stats64']['rx']['packets']


def ping(pod, address):
    return sh('ip', 'netns', 'exec', pod, 'ping', '-c', '3', '-i', '0.2', '-W', '2', address, check=False)


def converge(module, lab, mode):
    """Apply the node and pod configuration; return the results of every module call."""
    results = []
    for n in ('a', 'b'):
        other = 'b' if n == 'a' else 'a'
        node, pod = lab['node_' + n], lab['pod_' + n]
        results.append(module('cni_sysctl', dict(params={'net.ipv4.ip_forward': 1}, netns=node)))
        if mode == 'l3':
            results.append(module('cni_bridge', dict(name='cni0', mtu=1450, netns=node,
                                                     addresses=[NODES[n]['gateway'] + '/24'])))
            results.append(module('cni_vxlan', dict(
                name='vx0', vni=1, dev='u0', netns=node, purge_peers=True,
                addresses=[NODES[n]['subnet'].split('/', maxsplit=1)[0] + '/32'],
                peers=[dict(remote=NODES[other]['underlay'], subnet=NODES[other]['subnet'])])))
            veth = dict(name='eth0', peer='vcnt%s%s' % (lab['tag'], n), master='cni0', mtu=1450,
                        addresses=[NODES[n]['pod'] + '/24'],
                        routes=[dict(dst='default', via=NODES[n]['gateway'])])
        else:
            results.append(module('cni_bridge', dict(name='cni0', mtu=1450, netns=node, addresses=[])))
            results.append(module('cni_vxlan', dict(
                name='vx0', vni=2, dev='u0', netns=node, master='cni0', purge_peers=True,
                peers=[dict(remote=NODES[other]['underlay'])])))
            veth = dict(name='eth0', peer='vcnt%s%s' % (lab['tag'], n), master='cni0', mtu=1450,
                        addresses=[L2_POD[n] + '/24'])
        results.append(module('cni_netns', dict(name=pod, netns=node, veth=veth)))
    for r in results:
        assert not r.get('failed'), r
    return results


@pytest.mark.parametrize('mode', ['l3', 'l2'])
def test_pod_to_pod_through_the_vxlan(module, lab, mode):
    first = converge(module, lab, mode)
    # ip_forward may already be 1 in a new namespace (it can follow the host's); the rest is new.
    assert [r['changed'] for r in first if 'params' not in r] == [True] * 6, first
    again = converge(module, lab, mode)
    assert [r['drift'] for r in again if r['changed']] == []

    target = NODES['b']['pod'] if mode == 'l3' else L2_POD['b']
    if mode == 'l3':
        route = sh('ip', '-n', lab['node_a'], 'route', 'get', target)
        assert 'dev vx0' in route, route
    before_a, before_b = counters(lab['node_a']), counters(lab['node_b'])
    out = ping(lab['pod_a'], target)
    assert ' 0% packet loss' in out, out
    after_a, after_b = counters(lab['node_a']), counters(lab['node_b'])
    # Three echo requests left node A through vx0 and arrived on node B's
    # vx0; three replies went back the same way (ARP adds a few more).
    assert after_a[0] - before_a[0] >= 3 and after_b[1] - before_b[1] >= 3, (before_a, after_a, before_b, after_b)
    assert after_b[0] - before_b[0] >= 3 and after_a[1] - before_a[1] >= 3, (before_a, after_a, before_b, after_b)

    # Break the tunnel on node A (its FDB entries): the ping fails, the module
    # reports exactly that, and repairs it.
    fdb = sh('bridge', '-n', lab['node_a'], 'fdb', 'show', 'dev', 'vx0')
    entry = [line.split() for line in fdb.splitlines() if ' dst 192.0.2.2' in line][0]
    sh('bridge', '-n', lab['node_a'], 'fdb', 'del', entry[0], 'dst', '192.0.2.2', 'dev', 'vx0')
    assert ' 0% packet loss' not in ping(lab['pod_a'], target)
    vx_args = dict(name='vx0', vni=1 if mode == 'l3' else 2, dev='u0', netns=lab['node_a'], purge_peers=True)
    if mode == 'l3':
        vx_args.update(addresses=['10.244.1.0/32'], peers=[dict(remote='192.0.2.2', subnet='10.244.2.0/24')])
    else:
        vx_args.update(master='cni0', peers=[dict(remote='192.0.2.2')])
    check = module('cni_vxlan', vx_args, check=True)
    assert [d['path'] for d in check['drift']] == ['vxlan/vx0/fdb/%s/192.0.2.2' % entry[0]]
    assert module('cni_vxlan', vx_args)['drift'] == check['drift']
    out = ping(lab['pod_a'], target)
    assert ' 0% packet loss' in out, out
