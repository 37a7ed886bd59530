# -*- coding: utf-8 -*-
"""cni_vxlan's peers: what the module owns in the dumps, what a re-created device keeps, what a restore puts
back (no kernel needed). The checks of the ``peers`` argument and the entries they need: test_vxlan.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.cni.node.plugins.module_utils import _vxlanpeers
from ansible_collections.cni.node.plugins.module_utils._steps import DEVICE

PROTO = _vxlanpeers.RTPROT_CNI_NODE
LINKS = [dict(index=2, name='eth0'), dict(index=3, name='eth1'), dict(index=10, name='vx0')]
DEVICE_LINK = dict(index=10, name='vx0')


class Dumps(object):
    """The adapter's dumps of routes, neighbours and FDB entries, over plain lists."""

    def __init__(self, **tables):
        self.tables = tables

    def __getattr__(self, kind):
        if kind.startswith('_'):
            raise AttributeError(kind)
        return lambda: list(self.tables.get(kind, ()))


def route(dst, gateway, oif, proto=PROTO, onlink=True):
    return dict(dst=dst, gateway=gateway, oif=oif, proto=proto, onlink=onlink)


def test_peer_tables_hold_only_what_the_module_owns():
    nl = Dumps(
        routes=[route('10.244.2.0/24', '10.244.2.0', 10),                    # ours, through the device
                route('10.244.3.0/24', '192.168.10.13', 2, onlink=False),    # ours, direct via the underlay
                route('10.244.4.0/24', '10.244.4.0', 10, proto=3),           # another protocol: foreign
                route('10.244.5.0/24', '192.168.10.15', 3, onlink=False),    # ours via a former underlay, wanted
                route('10.244.6.0/24', '192.168.10.16', 3, onlink=False),    # elsewhere, not wanted: foreign
                route('10.244.7.0/24', None, 10)],                           # no gateway: foreign
        neighbours=[dict(index=10, dst='10.244.2.0', lladdr='0e:04:c0:a8:0a:0c', permanent=True),
                    dict(index=10, dst='10.244.9.0', lladdr='0e:04:c0:a8:0a:0d', permanent=False),
                    dict(index=2, dst='192.168.10.1', lladdr='52:54:00:00:00:01', permanent=True)],
        fdb=[dict(index=10, lladdr='0e:04:c0:a8:0a:0c', dst='192.168.10.12', self=True, permanent=True),
             dict(index=10, lladdr='0e:04:c0:a8:0a:0e', dst='192.168.10.14', self=False, permanent=True),
             dict(index=3, lladdr='0e:04:c0:a8:0a:0f', dst='192.168.10.15', self=True, permanent=True)])
    tables = _vxlanpeers.peer_tables(nl, DEVICE_LINK, LINKS, 2, wanted_dsts={'10.244.5.0/24'})
    assert tables['routes'] == {
        '10.244.2.0/24': dict(gateway='10.244.2.0', dev='vx0', onlink=True, oif=10),
        '10.244.3.0/24': dict(gateway='192.168.10.13', dev='eth0', onlink=False, oif=2),
        '10.244.5.0/24': dict(gateway='192.168.10.15', dev='eth1', onlink=False, oif=3),
    }
    assert sorted(tables['foreign_routes']) == ['10.244.4.0/24', '10.244.6.0/24', '10.244.7.0/24']
    assert tables['neighbours'] == {'10.244.2.0': '0e:04:c0:a8:0a:0c'}
    assert tables['fdb'] == {('0e:04:c0:a8:0a:0c', '192.168.10.12')}


def test_without_a_device_only_routes_are_read():
    nl = Dumps(routes=[route('10.244.3.0/24', '192.168.10.13', 2, onlink=False)],
               neighbours=[dict(index=10, dst='10.244.2.0', lladdr='0e:04:c0:a8:0a:0c', permanent=True)])
    tables = _vxlanpeers.peer_tables(nl, None, LINKS, 2)
    assert list(tables['routes']) == ['10.244.3.0/24'] and tables['neighbours'] == {} and tables['fdb'] == set()


def test_restore_steps_put_back_the_entries_on_the_old_device_fdb_neighbours_routes():
    tables = dict(fdb={('00:00:00:00:00:00', '192.0.2.2'), ('0e:04:c0:a8:0a:0c', '192.168.10.12')},
                  neighbours={'10.244.2.0': '0e:04:c0:a8:0a:0c'},
                  routes={'10.244.2.0/24': dict(gateway='10.244.2.0', dev='vx0', onlink=True, oif=10),
                          '10.244.3.0/24': dict(gateway='192.168.10.13', dev='eth0', onlink=False, oif=2)})
    steps = _vxlanpeers.restore_steps('vx0', 10, tables)
    assert [(s.method, s.args, s.kwargs) for s in steps] == [
        ('fdb_add', ['restoring: fdb entry 00:00:00:00:00:00 dst 192.0.2.2', DEVICE, '00:00:00:00:00:00',
                     '192.0.2.2'], dict(append=True)),
        ('fdb_add', ['restoring: fdb entry 0e:04:c0:a8:0a:0c dst 192.168.10.12', DEVICE, '0e:04:c0:a8:0a:0c',
                     '192.168.10.12'], dict(append=False)),
        ('neigh_set', ['restoring: neighbour 10.244.2.0 lladdr 0e:04:c0:a8:0a:0c', DEVICE, '10.244.2.0',
                       '0e:04:c0:a8:0a:0c'], {}),
        # Only the routes through the device: the direct one via eth0 never went away.
        ('route_add', ['restoring: route 10.244.2.0/24 via 10.244.2.0 dev vx0 onlink', '10.244.2.0/24', DEVICE],
         dict(gateway='10.244.2.0', onlink=True, proto=PROTO)),
    ]
    assert all(s.param == 'peers' and s.method in _vxlanpeers.BATCHED for s in steps)


class Spec(object):
    name = 'vx0'
    direct_routing = True

    def __init__(self, l2_mode=False, purge_peers=False):
        self.l2_mode = l2_mode
        self.purge_peers = purge_peers


class Underlay(object):
    link = dict(index=2, name='eth0')
    network = ipaddress.ip_network(u'192.168.10.0/24')


def peers(*items, **kw):
    return _vxlanpeers.check_peers(list(items), ipaddress.ip_address(u'192.168.10.11'), kw.get('l2_mode', False))


def test_entries_of_l3_peers_direct_ones_and_l2_flood_entries():
    l3 = _vxlanpeers.Entries(Spec(), Underlay(), peers(dict(remote='192.168.10.12', subnet='10.244.2.0/24'),
                                                       dict(remote='198.51.100.3', subnet='10.244.3.0/24')))
    assert l3.routes == {'10.244.2.0/24': dict(gateway='192.168.10.12', dev='eth0', onlink=False),
                         '10.244.3.0/24': dict(gateway='10.244.3.0', dev='vx0', onlink=True)}
    assert l3.direct == {'192.168.10.12'} and l3.peer_macs == {'0e:04:c6:33:64:03'}
    l2 = _vxlanpeers.Entries(Spec(l2_mode=True), Underlay(), peers(dict(remote='198.51.100.3'), l2_mode=True))
    assert l2.fdb == {('00:00:00:00:00:00', '198.51.100.3')} and l2.routes == {} and l2.peer_macs == set()
    assert _vxlanpeers.Entries(Spec(), Underlay(), None).peer_remotes == set()


def test_a_recreated_device_carries_over_the_entries_of_unlisted_peers_unless_purged():
    want = _vxlanpeers.Entries(Spec(), Underlay(), peers(dict(remote='198.51.100.3', subnet='10.244.3.0/24')))
    tables = dict(routes={'10.244.9.0/24': dict(gateway='10.244.9.0', dev='vx0', onlink=True, oif=10),
                          '10.244.8.0/24': dict(gateway='192.168.10.8', dev='eth0', onlink=False, oif=2)},
                  neighbours={'10.244.9.0': '0e:04:c6:33:64:09'},
                  fdb={('0e:04:c6:33:64:09', '198.51.100.9'), ('0e:04:c6:33:64:03', '198.51.100.33')})
    carry = _vxlanpeers.carry_over(Spec(), want, tables, 10)
    assert carry.routes['10.244.9.0/24'] == dict(gateway='10.244.9.0', dev='vx0', onlink=True)
    assert '10.244.8.0/24' not in carry.routes      # not on the device: it stays where it is
    assert carry.neighbours['10.244.9.0'] == '0e:04:c6:33:64:09'
    # The listed peer's MAC pointing elsewhere is not carried over: the listed entry replaces it.
    assert carry.fdb == {('0e:04:c6:33:64:03', '198.51.100.3'), ('0e:04:c6:33:64:09', '198.51.100.9')}
    assert want.routes == {'10.244.3.0/24': dict(gateway='10.244.3.0', dev='vx0', onlink=True)}, 'want changed'
    purged = _vxlanpeers.carry_over(Spec(purge_peers=True), want, tables, 10)
    assert (purged.routes, purged.neighbours, purged.fdb) == (want.routes, want.neighbours, want.fdb)
