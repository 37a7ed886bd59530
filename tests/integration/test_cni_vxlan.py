# -*- coding: utf-8 -*-
"""cni_vxlan on the real kernel, inside throwaway network namespaces.

Each test gets its own ``cnt-`` namespace with a veth pair ``u0``/``u1`` as
the stand-in underlay (192.0.2.1/24 on u0). The state is read back with
``ip``/``bridge`` (not with the module), drift is injected with them, and
for every kind of drift: check mode reports exactly it and changes nothing,
the real run repairs exactly it, the next run reports nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import INTERPRETERS, ns_write, run_module, sh

LOCAL = '192.0.2.1'
VX = 'vx0'
# Three peers: .2 is on the underlay subnet (direct route with
# direct_routing), the others are reached through the tunnel.
PEERS = [
    dict(remote='192.0.2.2', subnet='10.244.2.0/24'),
    dict(remote='198.51.100.3', subnet='10.244.3.0/24'),
    dict(remote='198.51.100.4', subnet='10.244.4.0/24', vtep_mac='02:00:00:00:04:04'),
]
MAC = {'192.0.2.2': '0e:04:c0:00:02:02', '198.51.100.3': '0e:04:c6:33:64:03', '198.51.100.4': '02:00:00:00:04:04'}


def ip(netns, *argv, **kwargs):
    return sh('ip', '-n', netns, *argv, **kwargs)


def bridge(netns, *argv, **kwargs):
    return sh('bridge', '-n', netns, *argv, **kwargs)


@pytest.fixture
def node(netns):
    """The test namespace with its stand-in underlay u0 (192.0.2.1/24, up, MTU 1500)."""
    ip(netns, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1')
    ip(netns, 'addr', 'add', LOCAL + '/24', 'dev', 'u0')
    ip(netns, 'link', 'set', 'u0', 'up')
    ip(netns, 'link', 'set', 'u1', 'up')
    # The carrier of a veth comes up asynchronously: wait for it, so a test
    # that compares the links before and after a module run does not see the
    # kernel's own NO-CARRIER -> UP transition as a change.
    deadline = time.time() + 5
    while 'NO-CARRIER' in ip(netns, '-o', 'link', 'show', 'u0') + ip(netns, '-o', 'link', 'show', 'u1'):
        assert time.time() < deadline, 'the veth u0/u1 got no carrier within 5 s'
        time.sleep(0.02)
    return netns


def observe(netns, name=VX):
    """Device, routes of protocol 152, permanent neighbours and FDB entries, as ip/bridge show them."""
    out = ip(netns, '-j', '-d', 'link', 'show', 'dev', name, check=False)
    if not out.strip():
        return None
    link = json.loads(out)[0]
    data = link['linkinfo']['info_data']
    addrs = json.loads(ip(netns, '-j', 'addr', 'show', 'dev', name))[0]['addr_info']
    routes = [r for fam in ('-4', '-6') for r in json.loads(ip(netns, '-j', fam, 'route', 'show', 'proto', '152'))]
    neigh = [n for fam in ('-4', '-6')
             for n in json.loads(ip(netns, '-j', fam, 'neigh', 'show', 'dev', name, 'nud', 'permanent'))]
    fdb = json.loads(bridge(netns, '-j', 'fdb', 'show', 'dev', name))
    return dict(
        kind=link['linkinfo']['info_kind'], vni=data['id'], port=data['port'],
        local=data.get('local') or data.get('local6'),
        dev=data.get('link'), learning=data['learning'], mtu=link['mtu'], mac=link['address'],
        master=link.get('master'), up='UP' in link['flags'],
        addresses=sorted('%s/%s' % (a['local'], a['prefixlen']) for a in addrs if not a['local'].startswith('fe80:')),
        routes=sorted('%s via %s dev %s%s' % (r['dst'], r['gateway'], r['dev'], ' onlink' if 'onlink' in r['flags']
                                              else '') for r in routes),
        neighbours=sorted('%s %s' % (n['dst'], n['lladdr']) for n in neigh),
        fdb=sorted('%s %s' % (f['mac'], f['dst']) for f in fdb if 'dst' in f and 'self' in f['flags']),
    )


def l3_args(netns, **extra):
    args = dict(name=VX, vni=42, dev='u0', addresses=['10.244.1.0/32'], peers=[dict(p) for p in PEERS],
                direct_routing=True, purge_peers=True, netns=netns)
    args.update(extra)
    return args


L3_WANT = dict(
    kind='vxlan', vni=42, port=4789, local=LOCAL, dev='u0', learning=False, mtu=1450, mac='0e:04:c0:00:02:01',
    master=None, up=True, addresses=['10.244.1.0/32'],
    routes=sorted(['10.244.2.0/24 via 192.0.2.2 dev u0',
                   '10.244.3.0/24 via 10.244.3.0 dev vx0 onlink',
                   '10.244.4.0/24 via 10.244.4.0 dev vx0 onlink']),
    neighbours=['10.244.3.0 0e:04:c6:33:64:03', '10.244.4.0 02:00:00:00:04:04'],
    fdb=['02:00:00:00:04:04 198.51.100.4', '0e:04:c6:33:64:03 198.51.100.3'],
)


def paths(result):
    return sorted(d['path'] for d in result['drift'])


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_l3_lifecycle(module, node, interpreter):
    args = l3_args(node)
    check = module('cni_vxlan', args, check=True, python=interpreter)
    assert check['changed'] is True, check
    assert observe(node) is None, 'check mode created the device'
    first = module('cni_vxlan', args, python=interpreter)
    assert first['changed'] is True, first
    assert paths(first) == paths(check)
    assert observe(node) == L3_WANT
    assert first['vxlan']['mtu'] == 1450 and first['vxlan']['mac'] == '0e:04:c0:00:02:01'
    assert [p['direct'] for p in first['peers']] == [True, False, False]
    assert first['peers'][1]['vtep_mac'] == MAC['198.51.100.3']
    assert first['mode'] == 'l3' and first['stale'] == [] and first['recreated'] == []
    again = module('cni_vxlan', args, python=interpreter)
    assert again['changed'] is False and again['drift'] == [], again
    assert module('cni_vxlan', args, check=True, python=interpreter)['changed'] is False
    gone = module('cni_vxlan', dict(name=VX, state='absent', netns=node), python=interpreter)
    assert gone['changed'] is True and paths(gone) == ['vxlan/vx0']
    assert observe(node) is None
    assert module('cni_vxlan', dict(name=VX, state='absent', netns=node), python=interpreter)['changed'] is False


R2 = 'vxlan/vx0/routes/10.244.2.0/24'
R3 = 'vxlan/vx0/routes/10.244.3.0/24'
R4 = 'vxlan/vx0/routes/10.244.4.0/24'
N3 = 'vxlan/vx0/neighbours/10.244.3.0'
N4 = 'vxlan/vx0/neighbours/10.244.4.0'
F3 = 'vxlan/vx0/fdb/0e:04:c6:33:64:03/198.51.100.3'
F4 = 'vxlan/vx0/fdb/02:00:00:00:04:04/198.51.100.4'

DRIFTS = {
    'mtu': ([('link', 'set', VX, 'mtu', '1400')], ['vxlan/vx0/mtu']),
    'address-added': ([('addr', 'add', '10.9.9.9/32', 'dev', VX)], ['vxlan/vx0/addresses']),
    # The kernel flushes the routes and neighbours of a link that loses its
    # last IPv4 address: the module must see (and repair) that too.
    'address-removed': ([('addr', 'del', '10.244.1.0/32', 'dev', VX)], ['vxlan/vx0/addresses', R3, R4, N3, N4]),
    # Down, the link loses its routes and neighbours; a new MAC flushes the neighbours.
    'link-down': ([('link', 'set', VX, 'down')], ['vxlan/vx0/up', R3, R4, N3, N4]),
    'mac': ([('link', 'set', VX, 'address', '02:11:22:33:44:55')], ['vxlan/vx0/mac', N3, N4]),
    'learning': ([('link', 'set', VX, 'type', 'vxlan', 'learning')], ['vxlan/vx0/learning']),
    'fdb-gone': ([('bridge', 'fdb', 'del', '0e:04:c6:33:64:03', 'dst', '198.51.100.3', 'dev', VX)], [F3]),
    'fdb-wrong-dst': ([('bridge', 'fdb', 'replace', '0e:04:c6:33:64:03', 'dst', '198.51.100.99', 'dev', VX,
                        'self', 'permanent')],
                      [F3, 'vxlan/vx0/fdb/0e:04:c6:33:64:03/198.51.100.99']),
    'neighbour-gone': ([('neigh', 'del', '10.244.3.0', 'dev', VX)], [N3]),
    'neighbour-wrong-mac': ([('neigh', 'replace', '10.244.4.0', 'lladdr', '02:00:00:00:09:09', 'dev', VX,
                              'nud', 'permanent')], [N4]),
    'route-gone': ([('route', 'del', '10.244.3.0/24')], [R3]),
    'direct-route-gone': ([('route', 'del', '10.244.2.0/24')], [R2]),
    'stale-peer-left-behind': ([('route', 'add', '10.244.9.0/24', 'via', '10.244.9.0', 'dev', VX, 'onlink',
                                 'proto', '152'),
                                ('neigh', 'add', '10.244.9.0', 'lladdr', '0e:04:c6:33:64:09', 'dev', VX,
                                 'nud', 'permanent'),
                                ('bridge', 'fdb', 'append', '0e:04:c6:33:64:09', 'dst', '198.51.100.9', 'dev',
                                 VX)],
                               ['vxlan/vx0/routes/10.244.9.0/24', 'vxlan/vx0/neighbours/10.244.9.0',
                                'vxlan/vx0/fdb/0e:04:c6:33:64:09/198.51.100.9']),
    'device-deleted': ([('link', 'del', VX)],
                       ['vxlan/vx0', 'vxlan/vx0/addresses', 'vxlan/vx0/learning', 'vxlan/vx0/mac',
                        'vxlan/vx0/mtu', 'vxlan/vx0/up', R3, R4, N3, N4, F3, F4]),
    'wrong-vni': ([('link', 'del', VX),
                   ('link', 'add', VX, 'type', 'vxlan', 'id', '99', 'local', LOCAL, 'dev', 'u0', 'dstport', '4789',
                    'nolearning'),
                   ('link', 'set', VX, 'address', '0e:04:c0:00:02:01'),
                   ('addr', 'add', '10.244.1.0/32', 'dev', VX),
                   ('link', 'set', VX, 'up')],
                  ['vxlan/vx0/recreate', 'vxlan/vx0/vni', R3, R4, N3, N4, F3, F4]),
}


def inject(netns, commands):
    for cmd in commands:
        if cmd[0] == 'bridge':
            bridge(netns, *cmd[1:])
        else:
            ip(netns, *cmd)


@pytest.mark.parametrize('kind', sorted(DRIFTS))
def test_l3_drift_is_reported_exactly_and_repaired(module, node, kind):
    commands, expected = DRIFTS[kind]
    args = l3_args(node)
    assert module('cni_vxlan', args)['changed'] is True
    assert observe(node) == L3_WANT
    inject(node, commands)
    drifted = observe(node)
    assert drifted != L3_WANT, 'the injection changed nothing'
    check = module('cni_vxlan', args, check=True)
    assert check['changed'] is True
    assert paths(check) == sorted(expected), check['drift']
    assert observe(node) == drifted, 'check mode changed the node'
    real = module('cni_vxlan', args)
    assert real['changed'] is True, real
    assert real['drift'] == check['drift']
    assert observe(node) == L3_WANT
    if kind == 'wrong-vni':
        assert real['recreated'] == ['vni']
        vni = [d for d in real['drift'] if d['path'] == 'vxlan/vx0/vni'][0]
        assert (vni['before'], vni['after']) == (99, 42)
    after = module('cni_vxlan', args)
    assert after['changed'] is False and after['drift'] == [], after


def test_stale_peers_are_kept_and_reported_without_purge(module, node):
    args = l3_args(node)
    module('cni_vxlan', args)
    fewer = l3_args(node, peers=[dict(p) for p in PEERS[:2]], purge_peers=False)
    kept = module('cni_vxlan', fewer)
    assert kept['changed'] is False, kept
    assert sorted((s['kind'], s.get('dst')) for s in kept['stale']) == [
        ('fdb', '198.51.100.4'), ('neighbour', '10.244.4.0'), ('route', '10.244.4.0/24')]
    assert observe(node) == L3_WANT
    purged = module('cni_vxlan', dict(fewer, purge_peers=True))
    assert paths(purged) == sorted([R4, N4, F4])
    assert observe(node)['routes'] == L3_WANT['routes'][:2]
    assert module('cni_vxlan', dict(fewer, purge_peers=True))['changed'] is False


def test_foreign_entries_are_never_touched(module, node):
    """A route of another protocol and entries on another device survive purge_peers."""
    ip(node, 'link', 'add', 'vx9', 'type', 'vxlan', 'id', '9', 'local', LOCAL, 'dev', 'u0', 'dstport', '4790')
    bridge(node, 'fdb', 'append', '00:00:00:00:00:00', 'dst', '198.51.100.50', 'dev', 'vx9')
    ip(node, 'route', 'add', '10.250.0.0/24', 'via', '192.0.2.250', 'dev', 'u0')
    module('cni_vxlan', l3_args(node))
    ip(node, 'link', 'set', VX, 'up')
    ip(node, 'route', 'add', '10.251.0.0/24', 'dev', VX)
    res = module('cni_vxlan', l3_args(node, peers=[]))
    assert sorted(paths(res)) == sorted([R2, R3, R4, N3, N4, F3, F4])
    assert '10.250.0.0/24 via 192.0.2.250 dev u0' in ip(node, 'route')
    assert '10.251.0.0/24 dev vx0' in ip(node, 'route')
    assert '00:00:00:00:00:00 dst 198.51.100.50' in bridge(node, 'fdb', 'show', 'dev', 'vx9')


def test_route_taken_by_someone_else_fails_before_any_change(module, node):
    ip(node, 'route', 'add', '10.244.3.0/24', 'via', '192.0.2.254', 'dev', 'u0')
    res = module('cni_vxlan', l3_args(node))
    assert res.get('failed') is True
    assert '10.244.3.0/24' in res['msg'] and 'did not create' in res['msg'] and 'peers' in res['msg']
    assert observe(node) is None


def test_recreate_keeps_what_the_module_does_not_manage(module, node):
    """A VNI change re-creates the device; addresses and peers left out, and stale peers kept without
    purge_peers, are on the new device too."""
    module('cni_vxlan', l3_args(node))
    ip(node, 'addr', 'add', '10.9.9.9/32', 'dev', VX)
    unmanaged = dict(name=VX, vni=43, dev='u0', netns=node)
    check = module('cni_vxlan', unmanaged, check=True)
    assert paths(check) == ['vxlan/vx0/recreate', 'vxlan/vx0/vni'], check['drift']
    res = module('cni_vxlan', unmanaged)
    assert res['drift'] == check['drift'] and res['recreated'] == ['vni']
    state = observe(node)
    assert state['vni'] == 43
    assert state['addresses'] == ['10.244.1.0/32', '10.9.9.9/32']
    assert (state['routes'], state['neighbours'], state['fdb']) == (L3_WANT['routes'], L3_WANT['neighbours'],
                                                                    L3_WANT['fdb'])
    assert module('cni_vxlan', unmanaged)['changed'] is False
    # Stale peers without purge_peers are kept through a re-creation as well.
    fewer = l3_args(node, vni=44, peers=[dict(p) for p in PEERS[:2]], purge_peers=False,
                    addresses=['10.244.1.0/32'])
    res = module('cni_vxlan', fewer)
    assert sorted(s['kind'] for s in res['stale']) == ['fdb', 'neighbour', 'route']
    state = observe(node)
    assert state['vni'] == 44 and state['routes'] == L3_WANT['routes'] and state['fdb'] == L3_WANT['fdb']


def test_a_vni_taken_by_another_device_fails_before_any_change(module, node):
    module('cni_vxlan', l3_args(node))
    ip(node, 'link', 'add', 'vx9', 'type', 'vxlan', 'id', '77', 'local', LOCAL, 'dev', 'u0', 'dstport', '4789')
    before = observe(node)
    res = module('cni_vxlan', l3_args(node, vni=77))
    assert res.get('failed') is True and 'vx9 already uses VNI 77' in res['msg'], res
    assert observe(node) == before


def test_peer_switching_to_direct_keeps_its_tunnel_entries_alike(module, node):
    """Without purge_peers, a peer's neighbour and FDB entry follow one rule: both kept as stale."""
    args = l3_args(node, direct_routing=False, purge_peers=False)
    module('cni_vxlan', args)
    res = module('cni_vxlan', dict(args, direct_routing=True))
    assert paths(res) == [R2]
    assert sorted((s['kind'], s.get('dst')) for s in res['stale']) == [('fdb', '192.0.2.2'),
                                                                       ('neighbour', '10.244.2.0')]
    purged = module('cni_vxlan', dict(args, direct_routing=True, purge_peers=True))
    assert paths(purged) == ['vxlan/vx0/fdb/0e:04:c0:00:02:02/192.0.2.2', 'vxlan/vx0/neighbours/10.244.2.0']
    assert observe(node) == L3_WANT


def test_direct_routes_follow_a_new_underlay_link(module, node):
    ip(node, 'link', 'add', 'u2', 'type', 'veth', 'peer', 'name', 'u3')
    ip(node, 'addr', 'add', '192.0.2.1/24', 'dev', 'u2')
    ip(node, 'link', 'set', 'u2', 'up')
    ip(node, 'link', 'set', 'u3', 'up')
    module('cni_vxlan', l3_args(node))
    res = module('cni_vxlan', l3_args(node, dev='u2'))
    assert res.get('failed') is not True, res
    assert res['recreated'] == ['dev']
    assert '10.244.2.0/24 via 192.0.2.2 dev u2' in observe(node)['routes']
    assert module('cni_vxlan', l3_args(node, dev='u2'))['changed'] is False


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
@pytest.mark.parametrize('kind', ['veth', 'bridge'])
def test_absent_never_deletes_a_link_of_another_kind(module, node, kind, interpreter):
    """state=absent where the name is taken by a link that is not a VXLAN device (as cni_bridge does)."""
    if kind == 'veth':
        ip(node, 'link', 'add', VX, 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'vx0p')
    else:
        ip(node, 'link', 'add', VX, 'mtu', '1400', 'type', 'bridge')

    def link():
        found = json.loads(ip(node, '-j', '-d', 'link', 'show', 'dev', VX))[0]
        return found['ifindex'], found['linkinfo']['info_kind'], found['mtu']

    before = link()
    assert before[1:] == (kind, 1400)
    for check in (True, False):
        res = module('cni_vxlan', dict(name=VX, state='absent', netns=node), check=check, python=interpreter)
        assert res.get('failed') is True and res['param'] == 'name' and res['kind'] == kind, res
        assert res['msg'] == (
            "name: a link called 'vx0' exists in network namespace %r and is a %s, not a VXLAN device; "
            "state=absent removes only a VXLAN device and never deletes a link of another kind: correct name, "
            "or remove that link by other means" % (node, kind)), res['msg']
    assert link() == before
    # The same name with state=present is refused as before.
    res = module('cni_vxlan', l3_args(node), python=interpreter)
    assert res.get('failed') is True and 'does not replace it' in res['msg'] and res['kind'] == kind, res
    assert link() == before


def refuse_ipv6_on_new_links(netns):
    """From now on the kernel refuses IPv6 routes and neighbours on links created in ``netns`` (EACCES):
    a refusal that comes after the module created its device. Links that exist keep IPv6."""
    ns_write(netns, 'net.ipv6.conf.default.disable_ipv6', '1')


def proto_152_routes(netns):
    return sorted(line.strip() for line in ip(netns, '-4', 'route', 'show', 'proto', '152').splitlines())


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_refused_after_create_puts_back_the_direct_routes_the_run_deleted(module, node, interpreter):
    """The device is gone, two direct routes through the underlay stay: one with a wrong gateway, one of a
    peer no longer listed. The run creates the device, deletes both routes (purge_peers), adds the right
    one, and then the kernel refuses an entry on the new device. The device goes again, and so do the
    run's changes to the direct routes: both old routes are back, the new one is gone."""
    five = dict(remote='192.0.2.5', subnet='10.244.5.0/24')
    module('cni_vxlan', l3_args(node, peers=[dict(p) for p in PEERS] + [five]))
    ip(node, 'link', 'del', VX)
    ip(node, 'route', 'replace', '10.244.2.0/24', 'via', '192.0.2.9', 'dev', 'u0', 'proto', '152')
    before = proto_152_routes(node)
    assert before == ['10.244.2.0/24 via 192.0.2.9 dev u0', '10.244.5.0/24 via 192.0.2.5 dev u0']
    refuse_ipv6_on_new_links(node)
    args = l3_args(node, peers=[dict(PEERS[0]), dict(remote='198.51.100.3', subnet='fd00:3::/64')])
    check = module('cni_vxlan', args, check=True, python=interpreter)
    assert paths(check) == sorted(['vxlan/vx0', 'vxlan/vx0/addresses', 'vxlan/vx0/learning', 'vxlan/vx0/mac',
                                   'vxlan/vx0/mtu', 'vxlan/vx0/up', R2, 'vxlan/vx0/routes/10.244.5.0/24',
                                   'vxlan/vx0/routes/fd00:3::/64', 'vxlan/vx0/neighbours/fd00:3::',
                                   'vxlan/vx0/fdb/0e:04:c6:33:64:03/198.51.100.3']), check['drift']
    res = module('cni_vxlan', args, python=interpreter)
    assert res.get('failed') is True and res['param'] == 'peers', res
    assert res['msg'].startswith('peers: setting neighbour fd00:3:: lladdr 0e:04:c6:33:64:03: '), res['msg']
    assert observe(node) is None, 'the device the run created is still there'
    assert proto_152_routes(node) == before
    assert ip(node, '-6', 'route', 'show', 'proto', '152').strip() == ''


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_refused_recreate_restores_the_old_device(module, node, interpreter):
    """A VNI change re-creates the device; the kernel refuses an entry on the new one. The new device
    goes and the old one comes back as it was: attributes, address, up, every peer entry. The error says
    so, and the next run with the old arguments finds nothing to do."""
    args = l3_args(node)
    module('cni_vxlan', args, python=interpreter)
    old = json.loads(ip(node, '-j', 'link', 'show', 'dev', VX))[0]['ifindex']
    refuse_ipv6_on_new_links(node)
    peers = [dict(p) for p in PEERS] + [dict(remote='198.51.100.5', subnet='fd00:5::/64')]
    res = module('cni_vxlan', l3_args(node, vni=43, peers=peers), python=interpreter)
    assert res.get('failed') is True and res['param'] == 'peers', res
    assert res['msg'].startswith('peers: setting neighbour fd00:5:: lladdr 0e:04:c6:33:64:05: '), res['msg']
    assert res['msg'].endswith(
        '; the old VXLAN device vx0 was restored (vni 42, port 4789, local 192.0.2.1, dev u0, mtu 1450, '
        'mac 0e:04:c0:00:02:01, learning off, 1 address, 2 routes, 2 neighbours, 2 fdb entries, up)'), res['msg']
    assert res['restored'] == dict(device=True, refused=[]), res
    assert observe(node) == L3_WANT
    assert json.loads(ip(node, '-j', 'link', 'show', 'dev', VX))[0]['ifindex'] != old
    again = module('cni_vxlan', args, python=interpreter)
    assert again['changed'] is False and again['drift'] == [], again


def test_refused_recreate_restores_the_old_device_when_its_mtu_no_longer_fits(module, node):
    """The underlay's MTU dropped below what the old device's MTU needs (the kernel leaves a VXLAN's MTU
    alone then). A failed re-creation still brings the old device back, without its old MTU, which the
    kernel refuses now: the message says so."""
    args = l3_args(node)
    module('cni_vxlan', args)
    ip(node, 'link', 'set', 'u0', 'mtu', '1400')
    assert observe(node)['mtu'] == 1450
    refuse_ipv6_on_new_links(node)
    peers = [dict(p) for p in PEERS] + [dict(remote='198.51.100.5', subnet='fd00:5::/64')]
    res = module('cni_vxlan', l3_args(node, vni=43, peers=peers))
    assert res.get('failed') is True and res['param'] == 'peers', res
    assert '; the old VXLAN device vx0 was restored (vni 42, port 4789, local 192.0.2.1, dev u0, mtu 1450, ' \
        'mac 0e:04:c0:00:02:01, learning off, 1 address, 2 routes, 2 neighbours, 2 fdb entries, up), but 1 of ' \
        'its settings and entries were refused, first: restoring: setting mtu 1450 on vx0: ' in res['msg'], \
        res['msg']
    assert res['restored']['device'] is True and len(res['restored']['refused']) == 1, res
    state = observe(node)
    assert state['mtu'] < 1450
    assert dict(state, mtu=1450) == L3_WANT


L2_WANT_FDB = ['00:00:00:00:00:00 192.0.2.2', '00:00:00:00:00:00 198.51.100.3']


def test_l2_mode_master_and_flood_entries(module, node):
    ip(node, 'link', 'add', 'br0', 'type', 'bridge')
    ip(node, 'link', 'add', 'br1', 'type', 'bridge')
    args = dict(name=VX, vni=100, local=LOCAL, master='br0', netns=node, purge_peers=True,
                peers=[dict(remote='192.0.2.2'), dict(remote='198.51.100.3')])
    first = module('cni_vxlan', args)
    assert first['changed'] is True and first['mode'] == 'l2', first
    state = observe(node)
    assert state['master'] == 'br0' and state['fdb'] == L2_WANT_FDB and state['routes'] == []
    assert state['neighbours'] == [] and state['mtu'] == 1450
    assert module('cni_vxlan', args)['changed'] is False
    # Wrong master.
    ip(node, 'link', 'set', VX, 'master', 'br1')
    check = module('cni_vxlan', args, check=True)
    assert [(d['path'], d['before'], d['after']) for d in check['drift']] == [('vxlan/vx0/master', 'br1', 'br0')]
    assert observe(node)['master'] == 'br1'
    assert module('cni_vxlan', args)['drift'] == check['drift']
    assert observe(node)['master'] == 'br0'
    # A flood entry gone, one of an unlisted remote added.
    bridge(node, 'fdb', 'del', '00:00:00:00:00:00', 'dst', '198.51.100.3', 'dev', VX)
    bridge(node, 'fdb', 'append', '00:00:00:00:00:00', 'dst', '198.51.100.77', 'dev', VX)
    check = module('cni_vxlan', args, check=True)
    assert paths(check) == ['vxlan/vx0/fdb/00:00:00:00:00:00/198.51.100.3',
                            'vxlan/vx0/fdb/00:00:00:00:00:00/198.51.100.77']
    assert module('cni_vxlan', args)['drift'] == check['drift']
    assert observe(node)['fdb'] == L2_WANT_FDB
    # Switching to L3 releases the device from the bridge.
    l3 = module('cni_vxlan', dict(args, master=None, peers=[dict(remote='198.51.100.3', subnet='10.244.3.0/24')]))
    assert 'vxlan/vx0/master' in paths(l3)
    assert observe(node)['master'] is None
    assert observe(node)['routes'] == ['10.244.3.0/24 via 10.244.3.0 dev vx0 onlink']


def link_mtu(netns, name):
    return json.loads(ip(netns, '-j', 'link', 'show', 'dev', name))[0]['mtu']


def test_l2_master_keeps_the_mtu_of_a_cni_bridge(module, node):
    """Enslaving (master) changes neither the VXLAN device's MTU nor that of a bridge cni_bridge made with one:
    the kernel counts the bridge's as set by the user (a bridge without it follows its smallest port)."""
    for name, mtu in (('br0', 1400), ('br1', 1500)):
        made = module('cni_bridge', dict(name=name, netns=node, mtu=mtu))
        assert made['changed'] is True and made['bridge']['mtu'] == mtu, made
    ip(node, 'link', 'add', 'br2', 'type', 'bridge')     # MTU never set: the kernel's to adjust
    for name, vx, vni in (('br0', VX, 100), ('br1', 'vx1', 101), ('br2', 'vx2', 102)):
        args = dict(name=vx, vni=vni, local=LOCAL, port=4789 + vni, master=name, netns=node, peers=[])
        res = module('cni_vxlan', args)
        assert 'failed' not in res and res['vxlan']['mtu'] == 1450, res
    assert [link_mtu(node, n) for n in ('br0', 'br1', 'br2')] == [1400, 1500, 1450]
    assert [link_mtu(node, n) for n in (VX, 'vx1', 'vx2')] == [1450, 1450, 1450]
    for name, mtu in (('br0', 1400), ('br1', 1500)):
        assert module('cni_bridge', dict(name=name, netns=node, mtu=mtu))['changed'] is False


def test_ipv6_underlay(module, node):
    ip(node, 'addr', 'add', '2001:db8::1/64', 'dev', 'u0', 'nodad')
    args = dict(name=VX, vni=7, local='2001:db8::1', dev='u0', netns=node, addresses=['fd00:1::/128'],
                peers=[dict(remote='2001:db8::2', subnet='fd00:2::/64')])
    first = module('cni_vxlan', args)
    assert first['changed'] is True, first
    state = observe(node)
    assert state['mtu'] == 1430 and state['local'] == '2001:db8::1'
    assert state['routes'] == ['fd00:2::/64 via fd00:2:: dev vx0 onlink']
    assert state['neighbours'] == ['fd00:2:: %s' % first['peers'][0]['vtep_mac']]
    assert first['peers'][0]['vtep_mac'].startswith('06:')
    assert module('cni_vxlan', args)['changed'] is False


def wait_for_flag(netns, dev, address, flag):
    """Wait (up to 10 s) until ``ip addr`` shows ``flag`` on ``address`` (duplicate address detection takes ~1 s)."""
    for _attempt in range(100):
        for line in ip(netns, '-6', '-o', 'addr', 'show', 'dev', dev).splitlines():
            if ' %s/' % address in line and flag in line.split():
                return
        time.sleep(0.1)
    shown = ip(netns, '-6', 'addr', 'show', 'dev', dev)
    raise AssertionError('%s on %s never became %s: %s' % (address, dev, flag, shown))


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_ipv6_underlay_address_skips_deprecated_tentative_and_dadfailed(module, node, interpreter):
    """With only dev, the local address is a usable global IPv6 address of the link. The good ones are
    added first: the kernel lists IPv6 addresses newest first, so the unusable ones come before them."""
    # u2 has no carrier (its peer u3 is down): an address added with DAD stays tentative.
    ip(node, 'link', 'add', 'u2', 'type', 'veth', 'peer', 'name', 'u3')
    ip(node, 'link', 'set', 'u2', 'up')
    ip(node, 'addr', 'add', '2001:db8::1/64', 'dev', 'u2', 'nodad')
    ip(node, 'addr', 'add', '2001:db8::7/64', 'dev', 'u2')
    ip(node, 'addr', 'add', '2001:db8::5/64', 'dev', 'u2', 'nodad', 'preferred_lft', '0')
    wait_for_flag(node, 'u2', '2001:db8::7', 'tentative')
    wait_for_flag(node, 'u2', '2001:db8::5', 'deprecated')
    # u4's peer u5 holds 2001:db9::9 already: duplicate address detection on u4 fails.
    ip(node, 'link', 'add', 'u4', 'type', 'veth', 'peer', 'name', 'u5')
    ip(node, 'link', 'set', 'u4', 'up')
    ip(node, 'link', 'set', 'u5', 'up')
    ip(node, 'addr', 'add', '2001:db9::9/64', 'dev', 'u5', 'nodad')
    ip(node, 'addr', 'add', '2001:db9::1/64', 'dev', 'u4', 'nodad')
    ip(node, 'addr', 'add', '2001:db9::9/64', 'dev', 'u4')
    wait_for_flag(node, 'u4', '2001:db9::9', 'dadfailed')
    for dev, local, vni in (('u2', '2001:db8::1', 8), ('u4', '2001:db9::1', 9)):
        args = dict(name='vx%d' % vni, vni=vni, dev=dev, netns=node)
        check = module('cni_vxlan', args, check=True, python=interpreter)
        assert check['changed'] is True, check
        res = module('cni_vxlan', args, python=interpreter)
        assert res['changed'] is True and res['vxlan']['local'] == local, res
        assert observe(node, 'vx%d' % vni)['local'] == local
        assert module('cni_vxlan', args, python=interpreter)['changed'] is False
    # Nothing usable: the task fails naming what it skipped, and creates nothing.
    ip(node, 'addr', 'del', '2001:db8::1/64', 'dev', 'u2')
    res = module('cni_vxlan', dict(name='vx10', vni=10, dev='u2', netns=node), python=interpreter)
    assert res.get('failed') is True and res['param'] == 'dev', res
    assert res['msg'] == ("dev: link 'u2' has no global IPv4 or usable IPv6 address to use as the local underlay "
                          "address: skipped 2001:db8::5 (deprecated), 2001:db8::7 (tentative); give local"), res['msg']
    assert observe(node, 'vx10') is None


def test_ipv6_underlay_address_choice_is_deterministic_and_waits_for_a_tentative_configured_one(module, node):
    """Addresses with a finite lifetime are not permanent (as SLAAC ones): of two, the lowest is the local
    address, not the newest (the kernel lists newest first). A configured (permanent) address still in
    duplicate address detection would replace it once usable: the task fails, creates nothing, says to
    run again or give local."""
    ip(node, 'link', 'add', 'u6', 'type', 'veth', 'peer', 'name', 'u7')
    ip(node, 'link', 'set', 'u6', 'up')   # u7 stays down: no carrier, duplicate address detection waits
    for address in ('2001:dba::10', '2001:dba::20'):
        ip(node, 'addr', 'add', address + '/64', 'dev', 'u6', 'nodad', 'valid_lft', '3600', 'preferred_lft', '3600')
    args = dict(name='vx11', vni=11, dev='u6', netns=node)
    res = module('cni_vxlan', args)
    assert res['changed'] is True and res['vxlan']['local'] == '2001:dba::10', res
    assert module('cni_vxlan', args)['changed'] is False
    module('cni_vxlan', dict(name='vx11', state='absent', netns=node))
    ip(node, 'addr', 'add', '2001:dba::1/64', 'dev', 'u6')
    wait_for_flag(node, 'u6', '2001:dba::1', 'tentative')
    before = link_names(node)
    for check in (True, False):
        res = module('cni_vxlan', args, check=check)
        assert res.get('failed') is True and res['param'] == 'dev', res
        assert res['msg'] == (
            "dev: link 'u6': its IPv6 address 2001:dba::1, which comes before 2001:dba::10 as the local underlay "
            "address, is still tentative (duplicate address detection running); the choice would change once it "
            "ends, so nothing was changed: run again in a few seconds, or give local"), res['msg']
    assert link_names(node) == before


BAD = [
    (dict(vni=0), 'vni: 0 is out of range: a VXLAN network identifier takes 1 to 16777215'),
    (dict(vni=16777216), 'vni'),
    (dict(port=0), 'port: 0 is out of range: a UDP port takes 1 to 65535'),
    (dict(port=70000), 'port'),
    (dict(addresses=['10.244.1.0/33']), 'addresses'),
    (dict(addresses=['not-an-address/32']), 'addresses'),
    (dict(peers=[dict(remote='198.51.100.3', subnet='10.244.3.0/99')]), 'peers[0].subnet'),
    (dict(peers=[dict(remote='198.51.100.3')]), 'peers[0].subnet is required'),
    (dict(peers=[dict(remote='not-an-ip', subnet='10.244.3.0/24')]), 'peers[0].remote'),
    (dict(peers=[dict(remote='198.51.100.3', subnet='10.244.3.0/24'),
                 dict(remote='198.51.100.4', subnet='10.244.3.128/25')]), 'overlaps'),
    (dict(mtu='9000'), 'mtu 9000 is above'),
    (dict(mtu='20'), "mtu: '20' is out of range"),
    (dict(mtu='lots'), 'mtu'),
    (dict(dev='nosuchdev'), 'dev'),
    (dict(mac='01:00:5e:00:00:01'), "mac: '01:00:5e:00:00:01' is a multicast address: a VXLAN device needs a "
                                    'unicast MAC'),
    (dict(peers=[dict(remote='198.51.100.3', subnet='10.244.3.0/24', vtep_mac='01:00:5e:00:00:01')]),
     "peers[0].vtep_mac: '01:00:5e:00:00:01' is a multicast address: a VXLAN tunnel endpoint needs a unicast MAC"),
    (dict(netns='cnt-does-not-exist'), 'cnt-does-not-exist'),
]


@pytest.mark.parametrize('bad,needle', BAD, ids=[needle for _bad, needle in BAD])
def test_bad_input_fails_clearly_and_changes_nothing(module, node, bad, needle):
    before = ip(node, '-o', 'link') + ip(node, 'route')
    args = l3_args(node)
    args.update(bad)
    res = module('cni_vxlan', args)
    assert res.get('failed') is True, res
    assert needle in res['msg'], res['msg']
    assert ip(node, '-o', 'link') + ip(node, 'route') == before


def link_names(netns):
    return sorted(link['ifname'] for link in json.loads(ip(netns, '-j', 'link', 'show')))


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_a_name_template_is_refused_before_any_change(module, node, interpreter):
    """The kernel reads 'vx%d' as a template and would create vx0: the module refuses it, creates nothing."""
    before = link_names(node)
    for name in ('vx%d', 'vx%s'):
        for check in (True, False):
            res = module('cni_vxlan', l3_args(node, name=name), check=check, python=interpreter)
            assert res.get('failed') is True and res['param'] == 'name', res
            assert res['msg'].startswith("name %r is not a valid interface name: the kernel reads '%%' as a name "
                                         "template" % name), res['msg']
    assert link_names(node) == before
    assert proto_152_routes(node) == []


def test_mtu_auto_follows_the_underlay(module, node):
    ip(node, 'link', 'set', 'u0', 'mtu', '9000')
    res = module('cni_vxlan', l3_args(node))
    assert res['vxlan']['mtu'] == 8950
    ip(node, 'link', 'set', 'u0', 'mtu', '1500')
    now = observe(node)['mtu']    # whatever the kernel did with the VXLAN's MTU
    check = module('cni_vxlan', l3_args(node), check=True)
    if now == 1450:
        assert check['changed'] is False, check
    else:
        assert check['drift'] == [dict(path='vxlan/vx0/mtu', before=now, after=1450)], check
    module('cni_vxlan', l3_args(node))
    assert observe(node)['mtu'] == 1450
    assert module('cni_vxlan', l3_args(node))['changed'] is False


@pytest.mark.parametrize('peers, needle', [
    (['10.0.0.1'], "peers[0]: expected a dictionary with remote and subnet, got '10.0.0.1'"),
    ([{'remote': '10.0.0.1', 'subnet': '10.244.1.0/24'}, 'remote=10.0.0.2'],
     "peers[1]: expected a dictionary with remote and subnet, got 'remote=10.0.0.2'"),
    ([{'subnet': '10.244.1.0/24'}], 'peers[0]: remote is required'),
])
def test_bad_input_peers_not_dictionaries_fail_by_element_and_change_nothing(module, node, peers, needle):
    before = ip(node, '-o', 'link') + ip(node, 'route')
    for check in (True, False):
        res = module('cni_vxlan', dict(l3_args(node), peers=peers), check=check)
        assert res.get('failed') is True and res['param'] == 'peers', res
        assert res['msg'].startswith(needle), res['msg']
    assert ip(node, '-o', 'link') + ip(node, 'route') == before


# tx_checksum_offload -------------------------------------------------------

TX = 'tx-checksum-ip-generic'
TX_PATH = 'vxlan/vx0/tx_checksum_offload'
ADAPTER_PROBE = r"""
import json, sys
from ansible_collections.cni.node.plugins.module_utils import _netlink, _ethtool
netns, name = sys.argv[1:3]
with _netlink.Netlink(netns) as nl:
    index = nl.link(name)['index']
with _ethtool.Ethtool(netns) as et:
    print(json.dumps(et.feature(index, 'tx-checksum-ip-generic')))
"""
# The core with an ethtool adapter that the kernel "refuses": every step of the run before it is undone.
REFUSING_PROBE = r"""
import json, sys
from ansible_collections.cni.node.plugins.module_utils import _vxlan, _ethtool, _errors
from ansible_collections.cni.node.plugins.module_utils._netlink import Netlink
class Refusing(_ethtool.Ethtool):
    def set_feature(self, what, index, feature, on):
        raise _errors.KernelRefused('%s: Invalid argument (errno -22)' % what, errno=-22)
args = json.loads(sys.argv[1])
try:
    _vxlan.run(_vxlan.Spec(**args), Netlink, ethtool=Refusing)
except _errors.CniNodeError as exc:
    print(json.dumps(exc.to_fail_kwargs()))
"""


def python_probe(python, script, *argv):
    env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
    proc = subprocess.run([python, '-c', script] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, cwd='/', check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def ethtool_k(netns, name=VX):
    """``on``/``off`` of tx-checksum-ip-generic as ethtool(8) shows it (not read with the module)."""
    assert shutil.which('ethtool'), 'ethtool is missing: hack/bootstrap.sh installs it'
    for line in sh('ip', 'netns', 'exec', netns, 'ethtool', '-k', name).splitlines():
        key, colon, value = line.strip().partition(':')
        if key == TX and colon:
            return value.split()[0]
    raise AssertionError('ethtool -k %s shows no %s' % (name, TX))


def ethtool_set(netns, value, name=VX):
    """Drift injection with ethtool(8)."""
    sh('ip', 'netns', 'exec', netns, 'ethtool', '-K', name, TX, value)


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_tx_checksum_offload_off_is_set_read_back_and_kept(module, node, interpreter):
    args = l3_args(node, tx_checksum_offload='off')
    check = module('cni_vxlan', args, check=True, python=interpreter)
    assert dict(path=TX_PATH, before=None, after='off') in check['drift'], check['drift']
    assert observe(node) is None
    # Created with it off, its other settings as ever.
    first = module('cni_vxlan', args, python=interpreter)
    assert first['changed'] is True and first['drift'] == check['drift'], first
    assert first['vxlan']['tx_checksum_offload'] == 'off'
    assert observe(node) == L3_WANT
    assert ethtool_k(node) == 'off'
    assert python_probe(interpreter, ADAPTER_PROBE, node, VX) == dict(
        active=False, requested=False, changeable=True)
    again = module('cni_vxlan', args, python=interpreter)
    assert again['changed'] is False and again['drift'] == [], again
    # Drift by hand: reported exactly in check mode, nothing changed; then repaired.
    ethtool_set(node, 'on')
    drifted = module('cni_vxlan', args, check=True, python=interpreter)
    assert drifted['drift'] == [dict(path=TX_PATH, before='on', after='off')], drifted
    assert drifted['vxlan']['tx_checksum_offload'] == 'on' and ethtool_k(node) == 'on'
    fixed = module('cni_vxlan', args, python=interpreter)
    assert fixed['changed'] is True and fixed['drift'] == drifted['drift'], fixed
    assert ethtool_k(node) == 'off' and observe(node) == L3_WANT
    assert module('cni_vxlan', args, python=interpreter)['changed'] is False
    # And on again: one item, the kernel's segmentation offload back with it.
    on = module('cni_vxlan', l3_args(node, tx_checksum_offload='on'), python=interpreter)
    assert on['drift'] == [dict(path=TX_PATH, before='off', after='on')], on
    assert ethtool_k(node) == 'on' and python_probe(interpreter, ADAPTER_PROBE, node, VX)['active'] is True


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_tx_checksum_offload_unchanged_never_touches_it(module, node, interpreter):
    first = module('cni_vxlan', l3_args(node), python=interpreter)
    assert first['vxlan']['tx_checksum_offload'] == 'on' and ethtool_k(node) == 'on'
    assert not [d for d in first['drift'] if d['path'] == TX_PATH]
    for value in ('off', 'on'):
        ethtool_set(node, value)
        for check in (True, False):
            res = module('cni_vxlan', l3_args(node), check=check, python=interpreter)
            assert res['changed'] is False and res['drift'] == [], res
            assert res['vxlan']['tx_checksum_offload'] == value and ethtool_k(node) == value


def test_tx_checksum_offload_follows_a_recreated_device(module, node):
    module('cni_vxlan', l3_args(node, tx_checksum_offload='off'))
    old = json.loads(ip(node, '-j', 'link', 'show', 'dev', VX))[0]['ifindex']
    res = module('cni_vxlan', l3_args(node, vni=43, tx_checksum_offload='off'))
    assert res['recreated'] == ['vni'] and not [d for d in res['drift'] if d['path'] == TX_PATH], res
    assert json.loads(ip(node, '-j', 'link', 'show', 'dev', VX))[0]['ifindex'] != old
    assert ethtool_k(node) == 'off'
    # Left unchanged, a re-created device keeps it off as the old one had it.
    res = module('cni_vxlan', l3_args(node, vni=44))
    assert res['recreated'] == ['vni'] and res['vxlan']['tx_checksum_offload'] == 'off', res
    assert ethtool_k(node) == 'off'
    assert module('cni_vxlan', l3_args(node, vni=44))['changed'] is False


def test_tx_checksum_offload_refused_fails_naming_it_and_changes_nothing_else(node):
    """The kernel refuses the offload change after the MTU was set: the MTU goes back, the error names
    tx_checksum_offload. A device the run created goes again."""
    module_args = l3_args(node)
    assert run_module('cni_vxlan', module_args)['changed'] is True
    before = observe(node)
    refused = l3_args(node, mtu='1400', tx_checksum_offload='off')
    res = python_probe(sys.executable, REFUSING_PROBE, json.dumps(refused))
    assert res['param'] == 'tx_checksum_offload', res
    assert res['msg'] == ('tx_checksum_offload: setting tx checksum offload (tx-checksum-ip-generic) off on vx0: '
                          'Invalid argument (errno -22)'), res
    assert observe(node) == before and ethtool_k(node) == 'on'
    ip(node, 'link', 'del', VX)
    routes = proto_152_routes(node)      # the direct route through u0 stays with the device gone
    res = python_probe(sys.executable, REFUSING_PROBE, json.dumps(l3_args(node, tx_checksum_offload='off')))
    assert res['param'] == 'tx_checksum_offload', res
    assert observe(node) is None and proto_152_routes(node) == routes


if __name__ == '__main__':  # pragma: no cover
    sys.exit(pytest.main([__file__]))
