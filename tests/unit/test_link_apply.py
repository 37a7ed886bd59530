# -*- coding: utf-8 -*-
"""cni_bridge and cni_vxlan apply and roll back through a recording fake adapter (no kernel needed).

The fake records every call that changes something, in order, so each test
pins the exact requests a run sends, the order in which a refused run
undoes them, and the error the user sees.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _bridge, _vxlan
from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    NotSupported,
    ParameterError,
)

READS = frozenset(('links', 'link', 'addresses', 'routes', 'neighbours', 'fdb'))


class FakeNetlink(object):
    """The adapter's interface over plain lists. ``refuse(method, args, kwargs)`` returns an error or None."""

    def __init__(self, links=(), addresses=(), routes=(), neighbours=(), fdb=(), refuse=None,
                 lose_new_links=False, batch_error=None):
        self._links = [dict(l) for l in links]
        self._addresses = list(addresses)
        self._routes = list(routes)
        self._neighbours = list(neighbours)
        self._fdb = list(fdb)
        self.refuse = refuse or (lambda method, args, kwargs: None)
        self.lose_new_links = lose_new_links
        self.batch_error = batch_error
        self.calls = []
        self.next_index = 99

    # The factory and context manager the cores' run() expect.
    def __call__(self, netns=None):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def links(self):
        return [dict(l) for l in self._links]

    def link(self, name):
        return next((dict(l) for l in self._links if l['name'] == name), None)

    def addresses(self):
        return list(self._addresses)

    def routes(self):
        return list(self._routes)

    def neighbours(self):
        return list(self._neighbours)

    def fdb(self):
        return list(self._fdb)

    def _record(self, method, args, kwargs):
        self.calls.append((method,) + tuple(args) + ((kwargs,) if kwargs else ()))
        error = self.refuse(method, args, kwargs)
        if error is not None:
            raise error

    def link_add(self, what, name, kind, **attrs):
        self._record('link_add', (what, name, kind), attrs)
        if not self.lose_new_links:
            self._links.append(dict(index=self.next_index, name=name, kind=kind))
            self.next_index += 1

    def link_del(self, what, index):
        self._record('link_del', (what, index), {})
        self._links = [l for l in self._links if l['index'] != index]

    def batch(self, calls):
        self.calls.append(('batch', [(m, tuple(a)) + ((k,) if k else ()) for m, a, k in calls]))
        if self.batch_error is not None:
            error, self.batch_error = self.batch_error, None
            raise error
        return [self.refuse(m, a, k) for m, a, k in calls]

    def __getattr__(self, method):
        if method.startswith('_') or method in READS:
            raise AttributeError(method)
        return lambda *args, **kwargs: self._record(method, args, kwargs)


def refuse_when(method, needle, exc=KernelRefused, errno=-22):
    """Refuse calls of ``method`` whose what-text contains ``needle``."""
    def refuse(m, args, kwargs):
        if m == method and needle in args[0]:
            return exc('%s: Invalid argument (errno %d)' % (args[0], errno), errno=errno)
        return None
    return refuse


def refuse_exactly(method, what):
    """Refuse calls of ``method`` whose what-text is ``what``."""
    def refuse(m, args, kwargs):
        if m == method and args[0] == what:
            return KernelRefused('%s: Invalid argument (errno -22)' % args[0], errno=-22)
        return None
    return refuse


# cni_bridge ----------------------------------------------------------------

BRIDGE = dict(index=7, name='br0', kind='bridge', mtu=1500, address='02:00:00:00:00:01', up=False,
              br_stp_state=0, br_vlan_filtering=0, max_mtu=65535, master=None)
BR_ADDRS = [dict(index=7, family=4, address='10.0.0.1', prefixlen=24, scope=0)]


def bridge_apply(nl, **kw):
    spec = _bridge.Spec('br0', **kw)
    p = _bridge.plan(spec, _bridge.read(nl, 'br0', spec.addresses))
    _bridge.apply(p, nl)
    return p


def test_bridge_refused_step_undoes_the_done_steps_in_reverse():
    nl = FakeNetlink([BRIDGE], BR_ADDRS, refuse=refuse_when('addr_add', '10.0.0.2'))
    with pytest.raises(KernelRefused) as err:
        bridge_apply(nl, mtu=1400, mac='02:00:00:00:00:02', stp=True, addresses=['10.0.0.2/24'])
    assert err.value.param == 'addresses'
    assert err.value.msg == 'addresses: adding address 10.0.0.2/24 to br0: Invalid argument (errno -22)'
    assert nl.calls == [
        ('link_set', 'setting stp=true on bridge br0', 7, dict(kind='bridge', br_stp_state=1)),
        ('link_set', 'setting mtu 1400 on br0', 7, dict(mtu=1400)),
        ('link_set', 'setting mac 02:00:00:00:00:02 on br0', 7, dict(address='02:00:00:00:00:02')),
        ('addr_del', 'removing address 10.0.0.1/24 from br0', 7, dict(address='10.0.0.1', prefixlen=24)),
        ('addr_add', 'adding address 10.0.0.2/24 to br0', 7, dict(address='10.0.0.2', prefixlen=24)),
        # rollback, newest first
        ('addr_add', 'undoing: removing address 10.0.0.1/24 from br0', 7, dict(address='10.0.0.1', prefixlen=24)),
        ('link_set', 'undoing: setting mac 02:00:00:00:00:02 on br0', 7, dict(address='02:00:00:00:00:01')),
        ('link_set', 'undoing: setting mtu 1400 on br0', 7, dict(mtu=1500)),
        ('link_set', 'undoing: setting stp=true on bridge br0', 7, dict(kind='bridge', br_stp_state=0)),
    ]


def test_bridge_rollback_goes_on_when_an_undo_is_refused():
    def refuse(method, args, kwargs):
        if args[0].startswith('undoing: setting mac') or args[0] == 'setting br0 up':
            return KernelRefused('%s: no' % args[0])
        return None
    nl = FakeNetlink([BRIDGE], BR_ADDRS, refuse=refuse)
    with pytest.raises(KernelRefused) as err:
        bridge_apply(nl, mtu=1400, mac='02:00:00:00:00:02')
    assert err.value.param == 'up' and err.value.msg == 'up: setting br0 up: no'
    assert [c[1] for c in nl.calls] == [
        'setting mtu 1400 on br0', 'setting mac 02:00:00:00:00:02 on br0', 'setting br0 up',
        'undoing: setting mac 02:00:00:00:00:02 on br0', 'undoing: setting mtu 1400 on br0']


def test_bridge_created_then_refused_is_removed_again():
    nl = FakeNetlink(refuse=refuse_when('link_set', 'up'))
    with pytest.raises(KernelRefused) as err:
        bridge_apply(nl, mtu=1400, addresses=['10.0.0.2/24'])
    assert err.value.param == 'up'
    assert nl.calls == [
        ('link_add', 'creating bridge br0', 'br0', 'bridge', dict(mtu=1401)),
        ('link_set', 'setting mtu 1400 on br0', 99, dict(mtu=1400)),
        ('addr_add', 'adding address 10.0.0.2/24 to br0', 99, dict(address='10.0.0.2', prefixlen=24)),
        ('link_set', 'setting br0 up', 99, dict(state='up')),
        ('link_del', 'removing bridge br0 again', 99),
    ]


def test_bridge_without_vlan_filtering_support_says_so():
    nl = FakeNetlink(refuse=refuse_when('link_add', 'br0', NotSupported, -95))
    with pytest.raises(NotSupported) as err:
        bridge_apply(nl, vlan_filtering=True)
    assert err.value.param == 'vlan_filtering'
    assert err.value.msg == ('vlan_filtering: creating bridge br0: Invalid argument (errno -95) - this kernel has '
                             'no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); use vlan_filtering=false')
    assert [c[0] for c in nl.calls] == ['link_add']


def test_bridge_created_but_missing_fails_naming_name():
    nl = FakeNetlink(lose_new_links=True)
    with pytest.raises(KernelRefused) as err:
        bridge_apply(nl, mtu=1400)
    assert err.value.param == 'name'
    assert err.value.msg == "name: creating bridge br0: the kernel reported success but there is no link called 'br0'"
    assert [c[0] for c in nl.calls] == ['link_add']


def test_bridge_absent_deletes_only_a_bridge():
    nl = FakeNetlink([BRIDGE])
    p = bridge_apply(nl, state='absent')
    assert p.changes.drift == [dict(path='link/br0', before='present', after='absent')]
    assert nl.calls == [('link_del', 'deleting bridge br0', 7)]


@pytest.mark.parametrize('mtu, detour', [(1450, 1451), (1500, 1501), (9000, 9001), (1280, 1281), (1279, 1278),
                                         (68, 69), (65535, 65534)])
def test_a_new_bridge_gets_its_mtu_by_a_change_the_kernel_keeps(mtu, detour):
    """Created with another MTU, then set: the kernel marks only a real change as set by the user."""
    nl = FakeNetlink()
    p = bridge_apply(nl, mtu=mtu, addresses=['10.0.0.2/24'])
    assert nl.calls == [
        ('link_add', 'creating bridge br0', 'br0', 'bridge', dict(mtu=detour)),
        ('link_set', 'setting mtu %d on br0' % mtu, 99, dict(mtu=mtu)),
        ('addr_add', 'adding address 10.0.0.2/24 to br0', 99, dict(address='10.0.0.2', prefixlen=24)),
        ('link_set', 'setting br0 up', 99, dict(state='up')),
    ]
    # the report (check mode's too) is as before: the detour is no change of its own
    assert p.changes.drift == [dict(path='link/br0', before='absent', after='present'),
                               dict(path='link/br0/addresses', before=[], after=['10.0.0.2/24'])]


def test_the_detour_is_never_the_mtu_and_stays_on_its_side_of_the_ipv6_minimum():
    for mtu in range(68, 65536):
        detour = _bridge.detour_mtu(mtu)
        assert detour != mtu and 68 <= detour <= 65535 and abs(detour - mtu) == 1, mtu
        assert (detour >= 1280) == (mtu >= 1280), mtu


def test_a_new_bridge_without_mtu_is_created_without_one():
    nl = FakeNetlink()
    bridge_apply(nl, stp=True)
    assert nl.calls == [('link_add', 'creating bridge br0', 'br0', 'bridge', dict(br_stp_state=1)),
                        ('link_set', 'setting br0 up', 99, dict(state='up'))]


def test_an_existing_bridge_at_its_mtu_is_left_alone():
    """The kernel does not tell whether it counts that MTU as the user's: no request on every run to make sure."""
    nl = FakeNetlink([dict(BRIDGE, up=True)])
    p = bridge_apply(nl, mtu=1500)
    assert p.changes.drift == [] and nl.calls == []


# cni_vxlan -----------------------------------------------------------------

EMPTY_VX = dict(id=None, local=None, link=None, port=None, learning=None, gbp=None)
UNDERLAY = [
    dict(index=1, name='lo', kind=None, mtu=65536, address='00:00:00:00:00:00', up=True, master=None, vxlan=None),
    dict(index=2, name='eth0', kind=None, mtu=1500, address='52:54:00:00:00:01', up=True, master=None,
         vxlan=None),
]
VX_ADDRS = [dict(index=2, family=4, address='192.168.10.11', prefixlen=24, scope=0)]
DEVICE = dict(index=10, name='vx0', kind='vxlan', mtu=1450, address='0e:04:c0:a8:0a:0b', up=True, master=None,
              vxlan=dict(id=1, local='192.168.10.11', link=2, port=4789, learning=False, gbp=False))
PEERS = [dict(remote='192.168.10.12', subnet='10.244.2.0/24'), dict(remote='198.51.100.3', subnet='10.244.3.0/24')]


def _route(dst, gateway, oif, proto=_vxlan.RTPROT_CNI_NODE, onlink=True):
    return dict(family=4, dst=dst, gateway=gateway, oif=oif, table=254, proto=proto, scope=0, type=1,
                onlink=onlink, priority=None)


# A peer no longer listed, with all three entries on the device.
STALE = dict(routes=[_route('10.244.9.0/24', '10.244.9.0', 10)],
             neighbours=[dict(index=10, family=4, dst='10.244.9.0', lladdr='0e:04:c6:33:64:09', state=128,
                              permanent=True, flags=0)],
             fdb=[dict(index=10, lladdr='0e:04:c6:33:64:09', dst='198.51.100.9', state=128, permanent=True,
                       self=True, master=None)])


def vxlan_apply(nl, **kw):
    args = dict(name='vx0', vni=1, dev='eth0', peers=[dict(p) for p in PEERS], purge_peers=True)
    args.update(kw)
    spec = _vxlan.Spec(**args)
    p = _vxlan.plan(spec, nl)
    _vxlan.apply(p, nl)
    return p


def test_vxlan_refused_peer_entries_undo_the_run_batched_first():
    def refuse(method, args, kwargs):
        if method in ('neigh_set', 'route_add') and '10.244.3.0' in args[0]:
            return KernelRefused('%s: Invalid argument (errno -22)' % args[0], errno=-22)
        return None
    nl = FakeNetlink(UNDERLAY + [DEVICE], VX_ADDRS, refuse=refuse, **STALE)
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl, mtu='1400', addresses=['10.244.1.0/32'])
    assert err.value.param == 'peers'
    assert err.value.msg == ('peers: setting neighbour 10.244.3.0 lladdr 0e:04:c6:33:64:03: Invalid argument '
                             '(errno -22) (and 1 more peer entries refused)')
    proto = dict(proto=_vxlan.RTPROT_CNI_NODE)
    assert nl.calls == [
        ('link_set', 'setting mtu 1400 on vx0', 10, dict(mtu=1400)),
        ('addr_add', 'adding address 10.244.1.0/32 to vx0', 10, '10.244.1.0', 32),
        ('batch', [
            ('route_del', ('removing route 10.244.9.0/24 via 10.244.9.0 dev vx0 onlink', '10.244.9.0/24', 10),
             dict(gateway='10.244.9.0', onlink=True, **proto)),
            ('neigh_del', ('removing neighbour 10.244.9.0', 10, '10.244.9.0')),
            ('fdb_del', ('removing fdb entry 0e:04:c6:33:64:09 dst 198.51.100.9', 10, '0e:04:c6:33:64:09',
                         '198.51.100.9')),
            ('fdb_add', ('adding fdb entry 0e:04:c0:a8:0a:0c dst 192.168.10.12', 10, '0e:04:c0:a8:0a:0c',
                         '192.168.10.12'), dict(append=False)),
            ('fdb_add', ('adding fdb entry 0e:04:c6:33:64:03 dst 198.51.100.3', 10, '0e:04:c6:33:64:03',
                         '198.51.100.3'), dict(append=False)),
            ('neigh_set', ('setting neighbour 10.244.2.0 lladdr 0e:04:c0:a8:0a:0c', 10, '10.244.2.0',
                           '0e:04:c0:a8:0a:0c')),
            ('neigh_set', ('setting neighbour 10.244.3.0 lladdr 0e:04:c6:33:64:03', 10, '10.244.3.0',
                           '0e:04:c6:33:64:03')),
            ('route_add', ('adding route 10.244.2.0/24 via 10.244.2.0 dev vx0 onlink', '10.244.2.0/24', 10),
             dict(gateway='10.244.2.0', onlink=True, **proto)),
            ('route_add', ('adding route 10.244.3.0/24 via 10.244.3.0 dev vx0 onlink', '10.244.3.0/24', 10),
             dict(gateway='10.244.3.0', onlink=True, **proto)),
        ]),
        # rollback: the peer entries that were made, newest first, in one batch ...
        ('batch', [
            ('route_del', ('undoing: adding route 10.244.2.0/24 via 10.244.2.0 dev vx0 onlink', '10.244.2.0/24',
                           10), dict(gateway='10.244.2.0', onlink=True, **proto)),
            ('neigh_del', ('undoing: setting neighbour 10.244.2.0 lladdr 0e:04:c0:a8:0a:0c', 10, '10.244.2.0')),
            ('fdb_del', ('undoing: adding fdb entry 0e:04:c6:33:64:03 dst 198.51.100.3', 10, '0e:04:c6:33:64:03',
                         '198.51.100.3')),
            ('fdb_del', ('undoing: adding fdb entry 0e:04:c0:a8:0a:0c dst 192.168.10.12', 10, '0e:04:c0:a8:0a:0c',
                         '192.168.10.12')),
            ('fdb_add', ('undoing: removing fdb entry 0e:04:c6:33:64:09 dst 198.51.100.9', 10, '0e:04:c6:33:64:09',
                         '198.51.100.9'), dict(append=False)),
            ('neigh_set', ('undoing: removing neighbour 10.244.9.0', 10, '10.244.9.0', '0e:04:c6:33:64:09')),
            ('route_add', ('undoing: removing route 10.244.9.0/24 via 10.244.9.0 dev vx0 onlink', '10.244.9.0/24',
                           10), dict(gateway='10.244.9.0', onlink=True, **proto)),
        ]),
        # ... then the device's own steps, newest first.
        ('addr_del', 'undoing: adding address 10.244.1.0/32 to vx0', 10, '10.244.1.0', 32),
        ('link_set', 'undoing: setting mtu 1400 on vx0', 10, dict(mtu=1450)),
    ]


def test_vxlan_created_then_refused_is_removed_with_its_direct_routes():
    nl = FakeNetlink(UNDERLAY, VX_ADDRS, batch_error=CniNodeError('sending the batch: broken pipe'))
    with pytest.raises(CniNodeError) as err:
        vxlan_apply(nl, direct_routing=True)
    assert err.value.msg == 'peers: sending the batch: broken pipe' and err.value.param == 'peers'
    assert nl.calls[0][:4] == ('link_add', 'creating VXLAN device vx0', 'vx0', 'vxlan')
    assert nl.calls[1] == ('link_set', 'setting vx0 up', 99, dict(state='up'))
    assert nl.calls[3:] == [
        ('link_del', 'removing VXLAN device again', 99),
        # Only the direct route via the underlay outlives the device.
        ('batch', [('route_del', ('undoing: adding route 10.244.2.0/24 via 192.168.10.12 dev eth0',
                                  '10.244.2.0/24', 2),
                    dict(gateway='192.168.10.12', onlink=False, proto=_vxlan.RTPROT_CNI_NODE))]),
    ]


def test_vxlan_created_then_refused_puts_back_the_direct_routes_the_run_deleted():
    """The device is created; a direct route with a wrong gateway and a stale direct route (purge_peers) are
    deleted through the underlay; a later entry is refused. The device goes, and with it its entries; the
    direct routes are not on it, so the run's changes to them are undone: both come back."""
    wrong = _route('10.244.2.0/24', '192.168.10.99', 2, onlink=False)
    stale = _route('10.244.8.0/24', '192.168.10.8', 2, onlink=False)
    nl = FakeNetlink(UNDERLAY, VX_ADDRS, routes=[wrong, stale],
                     refuse=refuse_when('route_add', 'adding route 10.244.3.0/24'))
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl, direct_routing=True)
    assert err.value.param == 'peers'
    assert err.value.msg == ('peers: adding route 10.244.3.0/24 via 10.244.3.0 dev vx0 onlink: Invalid argument '
                             '(errno -22)')
    proto = dict(proto=_vxlan.RTPROT_CNI_NODE)
    assert [c[0] for c in nl.calls[:3]] == ['link_add', 'link_set', 'batch']
    assert [(c[0], c[1][0]) for c in nl.calls[2][1]] == [
        ('route_del', 'removing route 10.244.2.0/24 via 192.168.10.99 dev eth0'),
        ('route_del', 'removing route 10.244.8.0/24 via 192.168.10.8 dev eth0'),
        ('fdb_add', 'adding fdb entry 0e:04:c6:33:64:03 dst 198.51.100.3'),
        ('neigh_set', 'setting neighbour 10.244.3.0 lladdr 0e:04:c6:33:64:03'),
        ('route_add', 'adding route 10.244.2.0/24 via 192.168.10.12 dev eth0'),
        ('route_add', 'adding route 10.244.3.0/24 via 10.244.3.0 dev vx0 onlink'),
    ]
    assert nl.calls[3:] == [
        ('link_del', 'removing VXLAN device again', 99),
        # Not on the device: undone, newest first, in one batch.
        ('batch', [
            ('route_del', ('undoing: adding route 10.244.2.0/24 via 192.168.10.12 dev eth0', '10.244.2.0/24', 2),
             dict(gateway='192.168.10.12', onlink=False, **proto)),
            ('route_add', ('undoing: removing route 10.244.8.0/24 via 192.168.10.8 dev eth0', '10.244.8.0/24', 2),
             dict(gateway='192.168.10.8', onlink=False, **proto)),
            ('route_add', ('undoing: removing route 10.244.2.0/24 via 192.168.10.99 dev eth0', '10.244.2.0/24',
                           2), dict(gateway='192.168.10.99', onlink=False, **proto)),
        ]),
    ]


# The old device, as a recreate finds it: an address, a master-less L3 device with one stale peer's entries.
OLD_ADDRS = VX_ADDRS + [dict(index=10, family=4, address='10.244.1.0', prefixlen=32, scope=0)]
OLD_CREATE = dict(vxlan_id=1, vxlan_port=4789, vxlan_learning=0, address='0e:04:c0:a8:0a:0b',
                  vxlan_local='192.168.10.11', vxlan_link=2)
OLD_TEXT = ('vni 1, port 4789, local 192.168.10.11, dev eth0, mtu 1450, mac 0e:04:c0:a8:0a:0b, learning off, '
            '1 address, 1 route, 1 neighbour, 1 fdb entry, up')


def restore_calls(index):
    """What putting the old device back sends, with the index the kernel gives it."""
    return [
        # The MTU is set apart: the device comes back even when the kernel refuses it.
        ('link_add', 'restoring: creating VXLAN device vx0 as it was', 'vx0', 'vxlan', OLD_CREATE),
        ('link_set', 'restoring: setting mtu 1450 on vx0', index, dict(mtu=1450)),
        ('addr_add', 'restoring: adding address 10.244.1.0/32 to vx0', index, '10.244.1.0', 32),
        ('link_set', 'restoring: setting vx0 up', index, dict(state='up')),
        ('batch', [
            ('fdb_add', ('restoring: fdb entry 0e:04:c6:33:64:09 dst 198.51.100.9', index, '0e:04:c6:33:64:09',
                         '198.51.100.9'), dict(append=False)),
            ('neigh_set', ('restoring: neighbour 10.244.9.0 lladdr 0e:04:c6:33:64:09', index, '10.244.9.0',
                           '0e:04:c6:33:64:09')),
            ('route_add', ('restoring: route 10.244.9.0/24 via 10.244.9.0 dev vx0 onlink', '10.244.9.0/24', index),
             dict(gateway='10.244.9.0', onlink=True, proto=_vxlan.RTPROT_CNI_NODE)),
        ]),
    ]


def test_vxlan_recreate_refused_by_the_kernel_restores_the_old_device():
    """The new device is refused after the old one was deleted: the old one comes back as it was."""
    nl = FakeNetlink(UNDERLAY + [DEVICE], OLD_ADDRS, refuse=refuse_exactly('link_add', 'creating VXLAN device vx0'),
                     **STALE)
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl, vni=2, peers=None)
    assert err.value.param == 'mtu'
    assert err.value.msg == ('mtu: creating VXLAN device vx0: Invalid argument (errno -22); the old VXLAN device '
                             'vx0 was restored (%s)' % OLD_TEXT)
    assert err.value.details['restored'] == dict(device=True, refused=[])
    assert nl.calls[0] == ('link_del', 'deleting VXLAN device vx0 to re-create it (vni changed)', 10)
    assert nl.calls[1][:4] == ('link_add', 'creating VXLAN device vx0', 'vx0', 'vxlan')
    assert nl.calls[1][4]['vxlan_id'] == 2
    assert nl.calls[2:] == restore_calls(99)


def test_vxlan_recreate_refused_later_deletes_the_new_device_and_restores_the_old_one():
    nl = FakeNetlink(UNDERLAY + [DEVICE], OLD_ADDRS, refuse=refuse_when('route_add', 'adding route 10.244.3.0/24'),
                     **STALE)
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl, vni=2, addresses=['10.244.1.0/32'])
    assert err.value.param == 'peers'
    assert err.value.msg == ('peers: adding route 10.244.3.0/24 via 10.244.3.0 dev vx0 onlink: Invalid argument '
                             '(errno -22); the old VXLAN device vx0 was restored (%s)' % OLD_TEXT)
    assert [c[:2] for c in nl.calls[:4]] == [
        ('link_del', 'deleting VXLAN device vx0 to re-create it (vni changed)'),
        ('link_add', 'creating VXLAN device vx0'),
        ('addr_add', 'adding address 10.244.1.0/32 to vx0'),
        ('link_set', 'setting vx0 up')]
    assert nl.calls[4][0] == 'batch'
    # The new device (99) goes with everything on it; the old one comes back as 100.
    assert nl.calls[5:] == [('link_del', 'removing VXLAN device again', 99)] + restore_calls(100)


def test_vxlan_restore_goes_on_past_a_refused_entry_and_says_so():
    def refuse(method, args, kwargs):
        if args[0] == 'creating VXLAN device vx0' or args[0].startswith('restoring: neighbour'):
            return KernelRefused('%s: Invalid argument (errno -22)' % args[0], errno=-22)
        return None
    nl = FakeNetlink(UNDERLAY + [DEVICE], OLD_ADDRS, refuse=refuse, **STALE)
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl, vni=2, peers=None)
    assert err.value.msg == (
        'mtu: creating VXLAN device vx0: Invalid argument (errno -22); the old VXLAN device vx0 was restored (%s), '
        'but 1 of its settings and entries were refused, first: restoring: neighbour 10.244.9.0 lladdr '
        '0e:04:c6:33:64:09: Invalid argument (errno -22)' % OLD_TEXT)
    assert err.value.details['restored'] == dict(device=True, refused=[
        'restoring: neighbour 10.244.9.0 lladdr 0e:04:c6:33:64:09: Invalid argument (errno -22)'])
    assert nl.calls[2:] == restore_calls(99)


def test_vxlan_restore_with_an_mtu_the_underlay_no_longer_carries_brings_the_device_back_without_it():
    """The underlay's MTU dropped since the old device was made: the kernel refuses its old MTU. The
    device is created without it, and only the MTU step is reported as refused."""
    def refuse(method, args, kwargs):
        if args[0] == 'creating VXLAN device vx0' or args[0].startswith('restoring: setting mtu'):
            return KernelRefused('%s: Invalid argument (errno -22)' % args[0], errno=-22)
        if method == 'link_add' and 'mtu' in kwargs:
            return KernelRefused('%s: Invalid argument (errno -22)' % args[0], errno=-22)
        return None
    nl = FakeNetlink(UNDERLAY + [DEVICE], OLD_ADDRS, refuse=refuse, **STALE)
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl, vni=2, peers=None)
    assert err.value.msg == (
        'mtu: creating VXLAN device vx0: Invalid argument (errno -22); the old VXLAN device vx0 was restored (%s), '
        'but 1 of its settings and entries were refused, first: restoring: setting mtu 1450 on vx0: Invalid '
        'argument (errno -22)' % OLD_TEXT)
    assert err.value.details['restored'] == dict(device=True, refused=[
        'restoring: setting mtu 1450 on vx0: Invalid argument (errno -22)'])
    assert nl.calls[2:] == restore_calls(99)


class Boom(Exception):
    """Not an adapter error: a bug, an encoder's ValueError, a KeyError."""


def test_vxlan_recreate_failing_with_any_error_still_restores_the_old_device():
    nl = FakeNetlink(UNDERLAY + [DEVICE], OLD_ADDRS, batch_error=Boom('encoding the batch'), **STALE)
    with pytest.raises(Boom) as err:
        vxlan_apply(nl, vni=2, addresses=['10.244.1.0/32'])
    assert str(err.value) == 'encoding the batch'
    assert [c[:2] for c in nl.calls[:4]] == [
        ('link_del', 'deleting VXLAN device vx0 to re-create it (vni changed)'),
        ('link_add', 'creating VXLAN device vx0'),
        ('addr_add', 'adding address 10.244.1.0/32 to vx0'),
        ('link_set', 'setting vx0 up')]
    assert nl.calls[4][0] == 'batch'
    assert nl.calls[5:] == [('link_del', 'removing VXLAN device again', 99)] + restore_calls(100)


def test_vxlan_created_then_failing_with_any_error_is_removed():
    def refuse(method, args, kwargs):
        return KeyError('state') if method == 'link_set' else None
    nl = FakeNetlink(UNDERLAY, VX_ADDRS, refuse=refuse)
    with pytest.raises(KeyError):
        vxlan_apply(nl, peers=None)
    assert [c[:2] for c in nl.calls] == [('link_add', 'creating VXLAN device vx0'), ('link_set', 'setting vx0 up'),
                                         ('link_del', 'removing VXLAN device again')]


def test_bridge_failing_with_any_error_is_rolled_back():
    def refuse(method, args, kwargs):
        return ValueError('bad attribute') if method == 'addr_add' else None
    nl = FakeNetlink(refuse=refuse)
    with pytest.raises(ValueError):
        bridge_apply(nl, mtu=1400, addresses=['10.0.0.2/24'])
    assert [c[:2] for c in nl.calls] == [('link_add', 'creating bridge br0'),
                                         ('link_set', 'setting mtu 1400 on br0'),
                                         ('addr_add', 'adding address 10.0.0.2/24 to br0'),
                                         ('link_del', 'removing bridge br0 again')]
    nl = FakeNetlink([BRIDGE], BR_ADDRS, refuse=refuse)
    with pytest.raises(ValueError):
        bridge_apply(nl, mtu=1400, addresses=['10.0.0.2/24'])
    assert [c[1] for c in nl.calls] == ['setting mtu 1400 on br0', 'removing address 10.0.0.1/24 from br0',
                                        'adding address 10.0.0.2/24 to br0',
                                        'undoing: removing address 10.0.0.1/24 from br0',
                                        'undoing: setting mtu 1400 on br0']


def test_vxlan_restore_refused_too_says_the_old_device_is_gone():
    nl = FakeNetlink(UNDERLAY + [DEVICE], OLD_ADDRS, refuse=refuse_when('link_add', 'VXLAN device vx0'), **STALE)
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl, vni=2, peers=None)
    assert err.value.msg == (
        'mtu: creating VXLAN device vx0: Invalid argument (errno -22); restoring the old VXLAN device vx0 (%s) '
        'failed too: restoring: creating VXLAN device vx0 as it was: Invalid argument (errno -22)' % OLD_TEXT)
    assert err.value.details['restored'] == dict(device=False, refused=[
        'restoring: creating VXLAN device vx0 as it was: Invalid argument (errno -22)'])
    assert [c[0] for c in nl.calls] == ['link_del', 'link_add', 'link_add']


def test_vxlan_restore_brings_back_master_gbp_learning_and_an_ipv6_local():
    bridge = dict(index=3, name='br0', kind='bridge', mtu=1500, address='02:00:00:00:00:03', up=True, master=None,
                  vxlan=None)
    old = dict(DEVICE, up=False, master=3, mtu=1400,
               vxlan=dict(id=1, local='2001:db8::11', link=None, port=4790, learning=True, gbp=True))
    nl = FakeNetlink(UNDERLAY + [bridge, old], VX_ADDRS + [dict(index=2, family=6, address='2001:db8::11',
                                                                prefixlen=64, scope=0)],
                     refuse=refuse_exactly('link_add', 'creating VXLAN device vx0'))
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl, vni=2, dev=None, local='2001:db8::11', master='br0', port=4790, learning=True, gbp=True,
                    mtu='1400', peers=None)
    assert err.value.msg.endswith('; the old VXLAN device vx0 was restored (vni 1, port 4790, local 2001:db8::11, '
                                  'gbp, mtu 1400, mac 0e:04:c0:a8:0a:0b, learning on, master br0, down)')
    assert nl.calls[2:] == [
        ('link_add', 'restoring: creating VXLAN device vx0 as it was', 'vx0', 'vxlan',
         dict(vxlan_id=1, vxlan_port=4790, vxlan_learning=1, address='0e:04:c0:a8:0a:0b',
              vxlan_local6='2001:db8::11', vxlan_gbp=True)),
        ('link_set', 'restoring: setting mtu 1400 on vx0', 99, dict(mtu=1400)),
        ('link_set', 'restoring: enslaving vx0 to br0', 99, dict(master=3)),
    ]


def test_vxlan_create_refused_names_mtu_and_changes_nothing_else():
    nl = FakeNetlink(UNDERLAY, VX_ADDRS, refuse=refuse_when('link_add', 'vx0'))
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl)
    assert err.value.param == 'mtu'
    assert err.value.msg == 'mtu: creating VXLAN device vx0: Invalid argument (errno -22)'
    assert [c[0] for c in nl.calls] == ['link_add']


def test_vxlan_recreate_delete_refused_names_the_attribute_that_forced_it():
    nl = FakeNetlink(UNDERLAY + [DEVICE], VX_ADDRS, refuse=refuse_when('link_del', 're-create'))
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl, vni=2, port=4790)
    assert err.value.param == 'vni'
    assert err.value.msg == ('vni: deleting VXLAN device vx0 to re-create it (vni, port changed): Invalid argument '
                             '(errno -22)')
    assert [c[0] for c in nl.calls] == ['link_del']


def test_vxlan_created_but_missing_fails_naming_name():
    nl = FakeNetlink(UNDERLAY, VX_ADDRS, lose_new_links=True)
    with pytest.raises(KernelRefused) as err:
        vxlan_apply(nl)
    assert err.value.param == 'name'
    assert err.value.msg == ("name: creating VXLAN device vx0: the kernel reported success but there is no link "
                             "called 'vx0'")
    assert [c[0] for c in nl.calls] == ['link_add']


def test_vxlan_absent_deletes_the_device():
    nl = FakeNetlink(UNDERLAY + [DEVICE], VX_ADDRS)
    p = vxlan_apply(nl, state='absent', vni=None, dev=None, peers=None)
    assert p.changes.drift == [dict(path='vxlan/vx0', before='present', after='absent')]
    assert nl.calls == [('link_del', 'deleting VXLAN device vx0', 10)]


@pytest.mark.parametrize('check_mode', [True, False])
@pytest.mark.parametrize('core,own', [(_vxlan, 'a VXLAN device'), (_bridge, 'a bridge')])
def test_absent_never_deletes_a_link_of_another_kind(check_mode, core, own):
    veth = dict(index=5, name='vx0', kind='veth', mtu=1500, address='02:00:00:00:00:05', up=True, master=None,
                vxlan=None, br_stp_state=None, br_vlan_filtering=None, max_mtu=65535)
    nl = FakeNetlink(UNDERLAY + [veth])
    with pytest.raises(ParameterError) as err:
        core.run(core.Spec('vx0', state='absent', netns='cnt-x'), nl, check_mode)
    assert err.value.param == 'name' and err.value.details['kind'] == 'veth'
    assert err.value.msg == (
        "name: a link called 'vx0' exists in network namespace 'cnt-x' and is a veth, not %s; state=absent "
        "removes only %s and never deletes a link of another kind: correct name, or remove that link by other "
        "means" % (own, own))
    assert nl.calls == []


@pytest.mark.parametrize('core,own', [(_vxlan, 'a VXLAN device'), (_bridge, 'a bridge')])
def test_present_refuses_a_link_of_another_kind_as_before(core, own):
    nl = FakeNetlink(UNDERLAY)
    with pytest.raises(ParameterError) as err:
        core.run(core.Spec('eth0', vni=1, dev='lo') if core is _vxlan else core.Spec('eth0'), nl)
    assert err.value.param == 'name' and err.value.details['kind'] is None
    assert err.value.msg == ("name: a link called 'eth0' exists already and is of no kind (a physical device?), "
                             "not %s; the module does not replace it" % own)
    assert nl.calls == []
