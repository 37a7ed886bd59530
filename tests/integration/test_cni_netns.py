# -*- coding: utf-8 -*-
"""cni_netns on the real kernel.

Every namespace the tests make is called ``cnt-…`` and every link outside
one is called ``vcnt…``/``cnt-…``: the peer ends and bridges live in the
harness's throwaway "node" namespace (the module's ``netns`` argument), so
the host's own links, routes and docker0 are never touched. Pod namespaces
are removed in fixtures, also when a test fails. The main scenario runs
under both pyroute2 generations (venv: 0.9.x, Debian's /usr/bin/python3:
0.7.x; the harness's ``interpreter`` fixture). The last tests drive
``_netns`` itself: a named namespace made, entered and removed without a
command (its parts that need no root: tests/unit/test_netns.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys
import time

import pytest

from conftest import INTERPRETERS, sh, unique

from ansible_collections.cni.node.plugins.module_utils import _netns
from ansible_collections.cni.node.plugins.module_utils._errors import NamespaceNotFound, ObjectExists


def netns_list():
    return [line.split()[0] for line in sh('ip', 'netns', 'list').splitlines() if line.strip()]


def remove_netns(name):
    """Remove a test namespace whatever state it is in (also a stale placeholder file)."""
    sh('ip', 'netns', 'del', name, check=False)
    if os.path.lexists('/run/netns/' + name):
        os.unlink('/run/netns/' + name)
    assert not os.path.lexists('/run/netns/' + name)


@pytest.fixture
def pod():
    """A name for the namespace the module makes; removed afterwards whatever happens."""
    name = unique()
    try:
        yield name
    finally:
        remove_netns(name)


@pytest.fixture
def node(netns):
    """The harness's throwaway namespace as the "node": a bridge with the gateway addresses, up."""
    bridge = unique()
    ip(netns, 'link', 'add', bridge, 'type', 'bridge')
    ip(netns, 'addr', 'add', '10.244.1.1/24', 'dev', bridge)
    ip(netns, 'addr', 'add', 'fd00:10:244:1::1/64', 'dev', bridge, 'nodad')
    ip(netns, 'link', 'set', bridge, 'up')
    return dict(ns=netns, bridge=bridge)


def ip(netns, *argv, **kwargs):
    return sh('ip', '-n', netns, *argv, **kwargs)


def link(netns, name):
    """A link as `ip -d link` shows it, or None."""
    if netns not in netns_list():
        return None
    out = ip(netns, '-j', '-d', 'link', 'show', 'dev', name, check=False)
    return json.loads(out)[0] if out.strip() else None


def state(pod_ns, node_ns, inner, peer):
    """Everything the module manages, read with `ip` (not the module)."""
    out = dict(listed=pod_ns in netns_list(), lo=None, inner=None, peer=None, paired=False)
    p = link(node_ns, peer)
    if p is not None:
        out['peer'] = dict(kind=p['linkinfo']['info_kind'], mtu=p['mtu'], up='UP' in p['flags'],
                           master=p.get('master'))
    if not out['listed']:
        return out
    out['lo'] = 'UP' in link(pod_ns, 'lo')['flags']
    i = link(pod_ns, inner)
    if i is not None:
        addrs = json.loads(ip(pod_ns, '-j', 'addr', 'show', 'dev', inner))[0]['addr_info']
        routes = []
        for fam in ('-4', '-6'):
            for r in json.loads(ip(pod_ns, '-j', fam, 'route', 'show', 'table', 'main', 'dev', inner)):
                if r.get('protocol') in ('kernel', 'ra'):
                    continue
                dst = r['dst'] if r['dst'] != 'default' else ('0.0.0.0/0' if fam == '-4' else '::/0')
                if '/' not in dst:
                    dst += '/32' if fam == '-4' else '/128'
                routes.append(dict(dst=dst, via=r.get('gateway')))
        # The two ends of one pair: each names the other's index, in another namespace.
        out['paired'] = bool(p is not None and i.get('link_index') == p['ifindex'] and
                             p.get('link_index') == i['ifindex'] and 'link_netnsid' in i and 'link_netnsid' in p)
        out['inner'] = dict(kind=i['linkinfo']['info_kind'], mtu=i['mtu'], up='UP' in i['flags'],
                            addresses=sorted('%s/%s' % (a['local'], a['prefixlen']) for a in addrs
                                             if not a['local'].startswith('fe80:')),
                            routes=sorted(routes, key=lambda r: (':' in r['dst'], r['dst'], r['via'] or '')))
    return out


ADDRESSES = ['10.244.1.2/24', '10.99.0.2/16', 'fd00:10:244:1::2/64']
ROUTES = [dict(dst='default', via='10.244.1.1'), dict(dst='10.96.0.0/12', via='10.244.1.1'),
          dict(dst='fd00:10:96::/64', via='fd00:10:244:1::1')]
# As the module reports them: sorted, CIDR form.
R_ADDRESSES = ['10.99.0.2/16', '10.244.1.2/24', 'fd00:10:244:1::2/64']
R_ROUTES = [dict(dst='0.0.0.0/0', via='10.244.1.1'), dict(dst='10.96.0.0/12', via='10.244.1.1'),
            dict(dst='fd00:10:96::/64', via='fd00:10:244:1::1')]


def want(node):
    return dict(listed=True, lo=True, paired=True,
                inner=dict(kind='veth', mtu=1450, up=True, addresses=sorted(ADDRESSES),
                           routes=sorted([dict(r) for r in R_ROUTES],
                                         key=lambda r: (':' in r['dst'], r['dst'], r['via'] or ''))),
                peer=dict(kind='veth', mtu=1450, up=True, master=node['bridge']))


def created(pod_ns, bridge, namespace=True):
    """Drift of a run that makes the pair (and with ``namespace`` the namespace) from nothing."""
    base = 'netns/%s' % pod_ns
    out = [dict(path=base, before='absent', after='present'),
           dict(path=base + '/loopback', before=False, after=True)] if namespace else []
    return out + [dict(path=base + '/veth', before='absent', after='present'),
                  dict(path=base + '/veth/master', before=None, after=bridge),
                  dict(path=base + '/veth/addresses', before=[], after=R_ADDRESSES),
                  dict(path=base + '/veth/routes', before=[], after=R_ROUTES)]


def reported_routes(routes):
    key = {'0.0.0.0/0': (4, 0), '10.96.0.0/12': (4, 1), '198.51.100.0/24': (4, 2)}
    return sorted(routes, key=lambda r: key.get(r['dst'], (6, r['dst'])))


def drift_from(pod_ns, actual, node):
    """What the module must report for drift of an existing pair, worked out from `ip`'s view."""
    base = 'netns/%s/veth' % pod_ns
    inner, peer = actual['inner'], actual['peer']
    items = [('/mtu', inner['mtu'], 1450), ('/peer/mtu', peer['mtu'], 1450),
             ('/master', peer['master'], node['bridge']),
             ('/addresses', sorted(inner['addresses'], key=_addr_key), R_ADDRESSES),
             ('/up', inner['up'], True), ('/peer/up', peer['up'], True),
             ('/routes', reported_routes(inner['routes']), R_ROUTES)]
    return [dict(path=base + tail, before=b, after=a) for tail, b, a in items if b != a]


def _addr_key(cidr):
    import ipaddress  # pylint: disable=import-outside-toplevel
    iface = ipaddress.ip_interface(cidr)
    return (iface.version, iface)


def drift_cycle(module, args, pod_ns, node, inner, peer, python, expect):
    """Check mode reports exactly ``expect`` and changes nothing; the real run repairs it; then no change."""
    before = state(pod_ns, node['ns'], inner, peer)
    check = module('cni_netns', args, check=True, python=python)
    assert 'failed' not in check, check
    assert check['changed'] is True and check['drift'] == expect, (check['drift'], expect)
    assert state(pod_ns, node['ns'], inner, peer) == before, 'check mode changed something'
    real = module('cni_netns', args, python=python)
    assert 'failed' not in real, real
    assert real['changed'] is True and real['drift'] == expect, real
    assert state(pod_ns, node['ns'], inner, peer) == want(node)
    again = module('cni_netns', args, python=python)
    assert again['changed'] is False and again['drift'] == [] and again['diff'] == [], again


def wait_gone(netns, name, seconds=10):
    """A namespace's links go when the kernel cleans it up, a moment after the last reference is gone."""
    deadline = time.time() + seconds
    while link(netns, name) is not None:
        assert time.time() < deadline, '%s still exists in %s' % (name, netns)
        time.sleep(0.05)


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_netns_lifecycle_and_drift(module, node, pod, interpreter):
    python = interpreter
    generation = sh(python, '-c', 'import pyroute2; print(hasattr(pyroute2, "AsyncIPRoute"))').strip()
    assert generation == ('True' if python == sys.executable else 'False'), 'wrong pyroute2 generation'
    peer = unique('vcnt')
    args = dict(name=pod, netns=node['ns'], veth=dict(name='eth0', peer=peer, master=node['bridge'], mtu=1450,
                                                      addresses=ADDRESSES, routes=ROUTES))
    wanted = want(node)
    nothing = dict(listed=False, lo=None, inner=None, peer=None, paired=False)

    check = module('cni_netns', args, check=True, python=python)
    assert check['changed'] is True and check['drift'] == created(pod, node['bridge']), check
    assert check['namespace'] is None
    assert state(pod, node['ns'], 'eth0', peer) == nothing and not os.path.lexists('/run/netns/' + pod), \
        'check mode created something'

    first = module('cni_netns', args, python=python)
    assert 'failed' not in first, first
    assert first['changed'] is True and first['drift'] == check['drift'], first
    assert pod in netns_list()
    assert state(pod, node['ns'], 'eth0', peer) == wanted
    assert first['namespace'] == dict(
        name=pod, path='/run/netns/' + pod, loopback=True,
        veth=dict(name='eth0', peer=peer, mtu=1450, peer_mtu=1450, master=node['bridge'], up=True, peer_up=True,
                  addresses=R_ADDRESSES, routes=R_ROUTES))
    second = module('cni_netns', args, python=python)
    assert second['changed'] is False and second['drift'] == [] and second['diff'] == [], second
    # The pod reaches its gateway on the node's bridge.
    sh('ip', 'netns', 'exec', pod, 'ping', '-c', '1', '-W', '2', '10.244.1.1')

    def cycle(expect=None):
        expect = expect if expect is not None else drift_from(pod, state(pod, node['ns'], 'eth0', peer), node)
        assert expect, 'the injected drift is not visible'
        drift_cycle(module, args, pod, node, 'eth0', peer, python, expect)

    ip(pod, 'link', 'set', 'eth0', 'mtu', '1300')                       # mtu of the inside end
    cycle([dict(path='netns/%s/veth/mtu' % pod, before=1300, after=1450)])
    ip(node['ns'], 'link', 'set', peer, 'mtu', '1400')                   # mtu of the peer end
    cycle([dict(path='netns/%s/veth/peer/mtu' % pod, before=1400, after=1450)])
    ip(pod, 'addr', 'add', '192.0.2.7/32', 'dev', 'eth0')               # an address added and one removed
    ip(pod, 'addr', 'del', '10.99.0.2/16', 'dev', 'eth0')
    injected = ['10.244.1.2/24', '192.0.2.7/32', 'fd00:10:244:1::2/64']
    cycle([dict(path='netns/%s/veth/addresses' % pod, before=injected, after=R_ADDRESSES)])
    ip(pod, 'route', 'del', '10.96.0.0/12')                               # a route removed, one extra
    ip(pod, 'route', 'add', '198.51.100.0/24', 'via', '10.244.1.1', 'dev', 'eth0')
    cycle([dict(path='netns/%s/veth/routes' % pod, after=R_ROUTES,
                before=[R_ROUTES[0], dict(dst='198.51.100.0/24', via='10.244.1.1'), R_ROUTES[2]])])
    ip(pod, 'route', 'replace', 'default', 'via', '10.244.1.9', 'dev', 'eth0')   # default through another gateway
    cycle()
    ip(pod, 'link', 'set', 'eth0', 'down')                                # inside end down (takes IPv6, routes)
    cycle()
    ip(node['ns'], 'link', 'set', peer, 'down')                           # peer end down
    cycle([dict(path='netns/%s/veth/peer/up' % pod, before=False, after=True)])
    ip(node['ns'], 'link', 'set', peer, 'nomaster')                       # master removed
    cycle([dict(path='netns/%s/veth/master' % pod, before=None, after=node['bridge'])])
    ip(pod, 'link', 'set', 'lo', 'down')                                  # loopback down
    cycle([dict(path='netns/%s/loopback' % pod, before=False, after=True)])
    ip(node['ns'], 'link', 'del', peer)                                   # host end deleted (both ends go)
    wait_gone(pod, 'eth0')
    cycle(created(pod, node['bridge'], namespace=False))
    sh('ip', 'netns', 'del', pod)                                         # namespace deleted
    wait_gone(node['ns'], peer)
    cycle(created(pod, node['bridge']))

    # state=absent: check, real, again
    gone = dict(name=pod, netns=node['ns'], state='absent', veth=dict(name='eth0', peer=peer))
    expect = [dict(path='netns/%s/veth' % pod, before='present', after='absent'),
              dict(path='netns/%s' % pod, before='present', after='absent')]
    check = module('cni_netns', gone, check=True, python=python)
    assert check['changed'] is True and check['drift'] == expect, check
    assert state(pod, node['ns'], 'eth0', peer) == wanted
    real = module('cni_netns', gone, python=python)
    assert real['changed'] is True and real['drift'] == expect and real['namespace'] is None, real
    assert state(pod, node['ns'], 'eth0', peer) == nothing
    assert not os.path.lexists('/run/netns/' + pod)
    again = module('cni_netns', gone, python=python)
    assert again['changed'] is False and again['drift'] == [], again


def test_master_keeps_the_mtu_of_a_cni_bridge(module, node, pod):
    """Attaching the peer end (veth.master) changes neither end's MTU, nor that of a bridge cni_bridge made with
    one. A bridge whose MTU nobody set (the node fixture's) follows its smallest port: the kernel's doing, and
    the bridge's business (cni_bridge with mtu), not cni_netns's, which reports no drift for it."""
    bridge = unique('cnb')
    made = module('cni_bridge', dict(name=bridge, netns=node['ns'], mtu=1400))
    assert made['changed'] is True and made['bridge']['mtu'] == 1400, made
    peer = unique('vcnt')
    args = dict(name=pod, netns=node['ns'], veth=dict(name='eth0', peer=peer, master=bridge, mtu=1500))
    res = module('cni_netns', args)
    assert 'failed' not in res, res
    seen = state(pod, node['ns'], 'eth0', peer)
    assert seen['inner']['mtu'] == 1500 and seen['peer']['mtu'] == 1500 and seen['peer']['master'] == bridge
    assert link(node['ns'], bridge)['mtu'] == 1400
    assert module('cni_netns', args)['changed'] is False
    assert module('cni_bridge', dict(name=bridge, netns=node['ns'], mtu=1400))['changed'] is False
    # the same pair moved to the fixture's bridge, whose MTU nobody set: that bridge follows the port
    assert link(node['ns'], node['bridge'])['mtu'] == 1500
    moved = dict(args, veth=dict(args['veth'], master=node['bridge'], mtu=1300))
    res = module('cni_netns', moved)
    assert 'failed' not in res, res
    assert link(node['ns'], node['bridge'])['mtu'] == 1300
    assert link(node['ns'], bridge)['mtu'] == 1400
    assert module('cni_netns', moved)['changed'] is False


def test_namespace_only_and_loopback(module, pod):
    """No veth, no netns: nothing is opened outside the new namespace; loopback up, then down on request."""
    args = dict(name=pod)
    res = module('cni_netns', args)
    assert res['changed'] is True and res['drift'] == [
        dict(path='netns/' + pod, before='absent', after='present'),
        dict(path='netns/%s/loopback' % pod, before=False, after=True)], res
    assert res['namespace'] == dict(name=pod, path='/run/netns/' + pod, loopback=True, veth=None)
    assert pod in netns_list() and 'UP' in link(pod, 'lo')['flags']
    assert module('cni_netns', args)['changed'] is False
    down = dict(args, loopback=False)
    check = module('cni_netns', down, check=True)
    assert check['drift'] == [dict(path='netns/%s/loopback' % pod, before=True, after=False)]
    assert 'UP' in link(pod, 'lo')['flags']
    assert module('cni_netns', down)['drift'] == check['drift']
    assert 'UP' not in link(pod, 'lo')['flags']
    assert module('cni_netns', down)['changed'] is False
    # A namespace made with loopback down is no drift.
    other = unique()
    try:
        res = module('cni_netns', dict(name=other, loopback=False))
        assert res['drift'] == [dict(path='netns/' + other, before='absent', after='present')], res
        # A placeholder file left without its mount: state=absent removes it.
        sh('umount', '/run/netns/' + other)
        gone = dict(name=other, state='absent')
        expect = [dict(path='netns/' + other, before='stale', after='absent')]
        assert module('cni_netns', gone, check=True)['drift'] == expect
        assert os.path.exists('/run/netns/' + other)
        assert module('cni_netns', gone)['drift'] == expect
        assert not os.path.lexists('/run/netns/' + other)
        assert module('cni_netns', gone)['changed'] is False
    finally:
        remove_netns(other)


def test_node_itself_as_peer_side(module, node, pod, tmp_path):
    """netns left out: the peer end lives "on the node". The module runs with nsenter inside the test's
    node namespace (its network namespace only, /run/netns stays shared), so the host is never touched."""
    wrapper = tmp_path / 'python-in-node'
    wrapper.write_text(u'#!/bin/sh\nexec nsenter --net=/run/netns/%s -- %s "$@"\n' % (node['ns'], sys.executable))
    wrapper.chmod(0o755)
    peer = unique('vcnt')
    args = dict(name=pod, veth=dict(name='eth0', peer=peer, master=node['bridge'], mtu=1450,
                                    addresses=['10.244.1.5/24'], routes=[dict(dst='default', via='10.244.1.1')]))
    res = module('cni_netns', args, python=str(wrapper))
    assert res['changed'] is True and 'failed' not in res, res
    assert module('cni_netns', args, python=str(wrapper))['changed'] is False
    seen = state(pod, node['ns'], 'eth0', peer)
    assert seen['paired'] and seen['peer']['master'] == node['bridge'] and seen['inner']['mtu'] == 1450
    assert peer not in sh('ip', '-o', 'link', 'show'), 'the peer end went to the host'
    sh('ip', 'netns', 'exec', pod, 'ping', '-c', '1', '-W', '2', '10.244.1.1')
    gone = dict(name=pod, state='absent', veth=dict(name='eth0', peer=peer))
    res = module('cni_netns', gone, python=str(wrapper))
    assert res['changed'] is True and pod not in netns_list() and link(node['ns'], peer) is None, res


def test_stale_file_and_unpaired_ends(module, node, pod):
    """A placeholder file without its mount is replaced; ends that are not one pair are made again."""
    open('/run/netns/' + pod, 'w').close()
    assert pod in netns_list()
    base = 'netns/' + pod
    first_peer, second_peer = unique('vcnt'), unique('vcnt')
    args = dict(name=pod, netns=node['ns'], veth=dict(name='eth0', peer=first_peer, addresses=['10.244.1.6/24']))
    res = module('cni_netns', args)
    assert res['drift'][0] == dict(path=base, before='absent', after='present'), res
    assert state(pod, node['ns'], 'eth0', first_peer)['paired']
    # The peer renamed in the arguments: the old pair goes, a new one comes.
    args['veth']['peer'] = second_peer
    check = module('cni_netns', args, check=True)
    assert check['drift'] == [dict(path=base + '/veth', before='unpaired', after='present'),
                              dict(path=base + '/veth/addresses', before=[], after=['10.244.1.6/24'])], check
    assert link(node['ns'], first_peer) is not None and link(node['ns'], second_peer) is None
    res = module('cni_netns', args)
    assert res['drift'] == check['drift'], res
    assert link(node['ns'], first_peer) is None
    assert state(pod, node['ns'], 'eth0', second_peer)['paired']
    assert module('cni_netns', args)['changed'] is False
    # A stray veth with the peer's name, paired with something else, is replaced too.
    ip(node['ns'], 'link', 'del', second_peer)
    wait_gone(pod, 'eth0')
    ip(node['ns'], 'link', 'add', second_peer, 'type', 'veth', 'peer', 'name', unique('vcnt'))
    res = module('cni_netns', args)
    assert res['drift'][0] == dict(path=base + '/veth', before='unpaired', after='present'), res
    assert state(pod, node['ns'], 'eth0', second_peer)['paired']


def test_failed_step_rolls_back(module, node, pod):
    """The kernel refuses a route (gateway unreachable): a new namespace and pair are removed again;
    on an existing pair the changes the run made are undone."""
    peer = unique('vcnt')
    bad = dict(name=pod, netns=node['ns'], veth=dict(name='eth0', peer=peer, master=node['bridge'], mtu=1450,
                                                     addresses=['10.244.1.7/24'],
                                                     routes=[dict(dst='10.96.0.0/12', via='192.0.2.1')]))
    res = module('cni_netns', bad)
    assert res.get('failed') and res['param'] == 'veth.routes' and '10.96.0.0/12' in res['msg'], res
    assert pod not in netns_list() and not os.path.lexists('/run/netns/' + pod)
    assert link(node['ns'], peer) is None
    good = dict(bad, veth=dict(bad['veth'], routes=[]))
    assert module('cni_netns', good)['changed'] is True
    before = state(pod, node['ns'], 'eth0', peer)
    worse = dict(bad, veth=dict(bad['veth'], mtu=1300, addresses=['10.244.1.8/24']))
    res = module('cni_netns', worse)
    assert res.get('failed') and res['param'] == 'veth.routes', res
    assert state(pod, node['ns'], 'eth0', peer) == before, 'a failed run left a change behind'


BAD = [
    (dict(name='pod/a'), 'name', 'not a valid namespace name'),
    (dict(name='..'), 'name', 'not a valid namespace name'),
    (dict(name='pod a'), 'name', 'not a valid namespace name'),
    (dict(veth=dict(name='a-very-long-name0')), 'veth.name', 'at most 15'),
    (dict(veth=dict(peer='vcnt/0')), 'veth.peer', 'not a valid interface name'),
    (dict(veth=dict(addresses=['10.0.0.300/24'])), 'veth.addresses', 'not a valid CIDR'),
    (dict(veth=dict(addresses=['10.0.0.1'])), 'veth.addresses', 'prefix length'),
    (dict(veth=dict(routes=[dict(dst='10.0.0.1/8')])), 'veth.routes', 'host bits'),
    (dict(veth=dict(routes=[dict(dst='10.0.0.0/33')])), 'veth.routes', 'not a valid CIDR'),
    (dict(veth=dict(routes=[dict(dst='10.0.0.0/8', via='fd00::1')])), 'veth.routes', 'IPv4 but via'),
    (dict(veth=dict(routes=[dict(dst='default', via='gateway')])), 'veth.routes', 'not an IP address'),
    (dict(veth=dict(mtu=67)), 'veth.mtu', 'veth.mtu: 67 is out of range: a veth takes 68 to 65535'),
    (dict(veth=dict(mtu=70000)), 'veth.mtu', 'veth.mtu: 70000 is out of range'),
    (dict(veth=dict(master='cnt-nobridge')), 'veth.master', 'no bridge called'),
    (dict(netns='cnt-missing0'), 'netns', 'does not exist'),
]


@pytest.mark.parametrize('check', [False, True], ids=['real', 'check'])
@pytest.mark.parametrize('args, param, words', BAD, ids=[b[1] + '-' + b[2].replace(' ', '-') for b in BAD])
def test_bad_input(module, node, pod, args, param, words, check):
    peer = unique('vcnt')
    links = ip(node['ns'], '-o', 'link', 'show')
    call = dict(name=pod, netns=node['ns'], veth=dict(name='eth0', peer=peer, master=node['bridge'],
                                                      addresses=['10.244.1.9/24']))
    for key, value in args.items():
        if key == 'veth':
            call['veth'] = dict(call['veth'], **value)
        else:
            call[key] = value
    res = module('cni_netns', call, check=check)
    assert res.get('failed') and res['param'] == param and words in res['msg'], res
    assert pod not in netns_list() and not os.path.lexists('/run/netns/' + pod)
    assert not [n for n in netns_list() if n.startswith(pod)]
    assert ip(node['ns'], '-o', 'link', 'show') == links
    assert not os.path.exists('/run/netns/cnt-missing0')


def test_links_of_other_kinds_and_own_namespace(module, node, pod):
    """A non-veth link under the peer's name, a non-bridge master, netns naming the managed namespace."""
    base = dict(name=pod, netns=node['ns'])
    res = module('cni_netns', dict(base, veth=dict(name='eth0', peer=node['bridge'])))
    assert res.get('failed') and res['param'] == 'veth.peer' and 'not a veth' in res['msg'], res
    other = unique('vcnt')
    ip(node['ns'], 'link', 'add', other, 'type', 'veth', 'peer', 'name', unique('vcnt'))
    res = module('cni_netns', dict(base, veth=dict(name='eth0', peer=unique('vcnt'), master=other)))
    assert res.get('failed') and res['param'] == 'veth.master' and 'not a bridge' in res['msg'], res
    res = module('cni_netns', dict(name=pod, netns=pod))
    assert res.get('failed') and res['param'] == 'netns', res
    assert pod not in netns_list()
    # Inside the namespace, a non-veth link under the inside end's name is left alone.
    assert module('cni_netns', dict(name=pod))['changed'] is True
    ip(pod, 'link', 'add', 'eth0', 'type', 'bridge')
    for check in (True, False):
        res = module('cni_netns', dict(base, veth=dict(name='eth0', peer=unique('vcnt'))), check=check)
        assert res.get('failed') and res['param'] == 'veth.name' and 'not a veth' in res['msg'], res
    assert link(pod, 'eth0')['linkinfo']['info_kind'] == 'bridge'


def test_look_alike_pair_is_not_taken(module, node, pod):
    """Two ends with the right names that name each other's indexes but are paired elsewhere (each with a
    link in a third namespace) are not the pair: the namespace ids tell, and the pair is made again."""
    peer = unique('vcnt')
    args = dict(name=pod, netns=node['ns'], veth=dict(name='eth0', peer=peer))
    assert module('cni_netns', args)['changed'] is True
    peer_index, inner_index = str(link(node['ns'], peer)['ifindex']), str(link(pod, 'eth0')['ifindex'])
    ip(node['ns'], 'link', 'del', peer)
    wait_gone(pod, 'eth0')
    others = [unique(), unique()]
    try:
        for name in others:
            sh('ip', 'netns', 'add', name)
        ip(others[0], 'link', 'add', unique('vcnt'), 'index', peer_index, 'type', 'veth',
           'peer', 'name', 'eth0', 'netns', pod, 'index', inner_index)
        ip(node['ns'], 'link', 'add', peer, 'index', peer_index, 'type', 'veth',
           'peer', 'name', 'eth0', 'netns', others[1], 'index', inner_index)
        assert state(pod, node['ns'], 'eth0', peer)['paired'], 'the indexes do not look alike'
        expect = [dict(path='netns/%s/veth' % pod, before='unpaired', after='present')]
        check = module('cni_netns', args, check=True)
        assert check['drift'] == expect, check
        real = module('cni_netns', args)
        assert real['drift'] == expect, real
        assert 'link-netns %s ' % pod in ip(node['ns'], '-d', 'link', 'show', 'dev', peer)
        assert 'link-netns %s ' % node['ns'] in ip(pod, '-d', 'link', 'show', 'dev', 'eth0')
        assert module('cni_netns', args)['changed'] is False
    finally:
        for name in others:
            remove_netns(name)


# _netns itself: named namespaces made, entered and removed without a command ------------------------

def own():
    return os.stat('/proc/thread-self/ns/net').st_ino


def test_a_namespace_is_made_as_ip_netns_makes_it_entered_and_removed():
    name = unique()
    try:
        assert _netns.status(name) == _netns.ABSENT
        path = _netns.create(name)
        assert path == '/run/netns/' + name and _netns.status(name) == _netns.PRESENT
        assert name in netns_list()
        assert sh('ip', 'netns', 'exec', name, 'ip', '-o', 'link', 'show').split()[1] == 'lo:'
        with pytest.raises(ObjectExists) as err:
            _netns.create(name)
        assert err.value.param == 'name' and path in err.value.msg
        assert _netns.resolve(name) == path and _netns.same(name, path)
        assert not _netns.same(name, '/proc/self/ns/net')
        home = own()
        with _netns.entered(name) as where:
            assert where == path and own() == os.stat(path).st_ino != home
        assert own() == home
        with pytest.raises(RuntimeError):
            with _netns.entered(name):
                raise RuntimeError('the block fails')
        assert own() == home, 'the thread did not come back'
        _netns.remove(name)
        assert _netns.status(name) == _netns.ABSENT and name not in netns_list()
        assert not os.path.lexists(path)
        _netns.remove(name)   # already gone: fine
        with pytest.raises(NamespaceNotFound):
            _netns.resolve(name)
    finally:
        remove_netns(name)


def test_a_stale_entry_is_told_apart_and_removed():
    """An empty file under /run/netns (a bind mount that is gone): stale, not present, and removable."""
    name = unique()
    try:
        path = _netns.create(name)
        sh('umount', path)
        assert os.path.exists(path) and _netns.status(name) == _netns.STALE
        with pytest.raises(NamespaceNotFound) as err:
            _netns.resolve(name)
        assert err.value.msg == 'netns %r: %s is not a network namespace file' % (name, path)
        _netns.remove(name)
        assert not os.path.lexists(path) and _netns.status(name) == _netns.ABSENT
    finally:
        remove_netns(name)
