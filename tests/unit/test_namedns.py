# -*- coding: utf-8 -*-
"""cni_netns's core: plan, apply and roll back through a recording fake kernel (no kernel needed).

Two fake adapters stand for the two sides: ``outer`` (where the module acts:
the node, or the namespace of ``netns``, with the peer end and the bridge)
and ``inner`` (the managed namespace, with lo and the inside end). Both
record every change into one log, in order, next to the namespace's own
creation and removal (``_netns``, patched), so each test pins the exact
requests a run sends, the order in which a refused run undoes them, and the
error the user sees.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _namedns, _netns
from ansible_collections.cni.node.plugins.module_utils._errors import (
    KernelRefused,
    NamespaceNotFound,
    NoSuchObject,
    ParameterError,
)

POD = 'cnt-pod'
NODE = 'cnt-node'
NSID = 3          # the id the node's side gives the pod's namespace


class Side(object):
    """The links, addresses and routes of one namespace, as the adapter shows them; changes go into ``log``."""

    def __init__(self, kernel, name):
        self.kernel = kernel
        self.name = name
        self.links_ = []
        self.addresses_ = []
        self.routes_ = []

    # The context manager the core's run() and apply() open.
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    # Reads.
    def links(self):
        return [dict(link) for link in self.links_]

    def link(self, name):
        return next((dict(link) for link in self.links_ if link['name'] == name), None)

    def addresses(self):
        return [dict(a) for a in self.addresses_]

    def routes(self):
        return [dict(r) for r in self.routes_]

    def nsid(self, path):
        return NSID if path == _netns.netns_path(POD) else None

    # Changes.
    def _record(self, method, what, **args):
        self.kernel.log.append((self.name, method, what, args))
        error = self.kernel.refuse(self.name, method, what, args)
        if error is not None:
            raise error

    def _by_index(self, index):
        found = [link for link in self.links_ if link['index'] == index]
        if not found:
            raise NoSuchObject('no such device (errno -19)', errno=-19)
        return found[0]

    def link_set(self, what, index, **attrs):
        self._record('link_set', what, index=index, **attrs)
        link = self._by_index(index)
        if 'state' in attrs:
            link['up'] = attrs['state'] == 'up'
        if 'mtu' in attrs:
            link['mtu'] = attrs['mtu']
        if 'master' in attrs:
            link['master'] = attrs['master'] or None

    def link_del(self, what, index):
        self._record('link_del', what, index=index)
        link = self._by_index(index)
        self.kernel.drop(self, link)

    def addr_add(self, what, index, address, prefixlen):
        self._record('addr_add', what, index=index, address=address, prefixlen=prefixlen)
        self.addresses_.append(dict(index=index, address=address, prefixlen=prefixlen))

    def addr_del(self, what, index, address, prefixlen):
        self._record('addr_del', what, index=index, address=address, prefixlen=prefixlen)
        self.addresses_ = [a for a in self.addresses_ if (a['index'], a['address'], a['prefixlen'])
                           != (index, address, prefixlen)]

    def route_add(self, what, dst, oif, gateway=None, onlink=False, proto=None, table=254, replace=False):
        self._record('route_add', what, dst=dst, oif=oif, gateway=gateway)
        self.routes_.append(route(dst, gateway, oif))

    def route_del(self, what, dst, oif, gateway=None, onlink=False, proto=None, table=254):
        self._record('route_del', what, dst=dst, oif=oif, gateway=gateway)
        self.routes_ = [r for r in self.routes_ if (r['dst'], r['oif']) != (dst, oif)]

    def veth_add(self, what, name, peer, peer_netns=None, **attrs):
        self._record('veth_add', what, name=name, peer=peer, peer_netns=peer_netns, **attrs)
        inner = self.kernel.inner
        mine = veth(self.kernel.next_index, name, mtu=attrs.get('mtu', 1500))
        other = veth(self.kernel.next_index + 1, peer, mtu=attrs.get('mtu', 1500))
        self.kernel.next_index += 2
        pair(mine, other)
        if not self.kernel.lose_new_links:
            self.links_.append(mine)
        inner.links_.append(other)


class Kernel(object):
    """The node's side, the pod's namespace (``inner``, None when absent) and the log of every change."""

    def __init__(self, ns=_netns.PRESENT, refuse=None, lose_new_links=False):
        self.log = []
        self.refuse = refuse or (lambda side, method, what, args: None)
        self.lose_new_links = lose_new_links
        self.next_index = 20
        self.ns = ns
        self.outer = Side(self, 'outer')
        self.inner = Side(self, 'inner') if ns == _netns.PRESENT else None
        if self.inner is not None:
            self.inner.links_.append(dict(index=1, name='lo', kind=None, mtu=65536, up=False, master=None,
                                          link=None, link_netnsid=None))

    def drop(self, side, link):
        """A deleted veth end takes its other end along."""
        side.links_.remove(link)
        other = self.inner if side is self.outer else self.outer
        if link['kind'] == 'veth' and other is not None:
            other.links_ = [end for end in other.links_ if not (end['index'] == link['link'] and end['link'] == link['index'])]

    # _netns, patched.
    def status(self, name):
        assert name == POD
        return self.ns

    def create(self, name):
        self.log.append(('ns', 'create', name))
        error = self.refuse('ns', 'create', name, {})
        if error is not None:
            raise error
        self.ns = _netns.PRESENT
        self.inner = Side(self, 'inner')
        self.inner.links_.append(dict(index=1, name='lo', kind=None, mtu=65536, up=False, master=None, link=None,
                                      link_netnsid=None))
        return _netns.netns_path(name)

    def remove(self, name):
        self.log.append(('ns', 'remove', name))
        if self.inner is not None:
            for link in list(self.inner.links_):
                if link['kind'] == 'veth':
                    self.drop(self.inner, link)
        self.ns, self.inner = _netns.ABSENT, None

    def open_inner(self):
        if self.inner is None:
            raise NamespaceNotFound("network namespace %r does not exist" % POD, param='netns')
        return self.inner

    def netlink(self, netns):
        """The adapter factory of run(): the node's side, or the pod's namespace."""
        if netns == POD:
            return self.open_inner()
        assert netns in (None, NODE)
        return self.outer


@pytest.fixture
def patched(monkeypatch):
    """Install a Kernel's namespace operations in place of _netns's; returns a factory of kernels."""
    def make(**kw):
        kernel = Kernel(**kw)
        monkeypatch.setattr(_netns, 'status', kernel.status)
        monkeypatch.setattr(_netns, 'create', kernel.create)
        monkeypatch.setattr(_netns, 'remove', kernel.remove)
        monkeypatch.setattr(_netns, 'resolve', _netns.netns_path)
        monkeypatch.setattr(_netns, 'same', lambda a, b: a == b)
        return kernel
    return make


def veth(index, name, mtu=1500, up=False, master=None):
    return dict(index=index, name=name, kind='veth', mtu=mtu, up=up, master=master, link=None, link_netnsid=None)


def pair(peer, inner, nsid=NSID):
    """Make two veth dicts the two ends of one pair (the peer end sees the pod's namespace as ``nsid``)."""
    peer['link'], inner['link'] = inner['index'], peer['index']
    peer['link_netnsid'], inner['link_netnsid'] = nsid, 0


def route(dst, gateway, oif, proto=3):
    return dict(dst=dst, gateway=gateway, oif=oif, proto=proto, type=1)


BRIDGE = dict(index=5, name='cni0', kind='bridge', mtu=1500, up=True, master=None, link=None, link_netnsid=None)


def veth_args(**kw):
    args = dict(name='eth0', peer='vh0', master='cni0', mtu=1450, addresses=['10.244.1.2/24', 'fd00::2/64'],
                routes=[dict(dst='default', via='10.244.1.1'), dict(dst='10.96.0.0/12', via='10.244.1.1')])
    args.update(kw)
    return args


def spec(state='present', **kw):
    return _namedns.Spec(POD, state=state, veth=veth_args(**kw) if kw.get('veth', True) else None, netns=NODE)


ROUTES = (('0.0.0.0/0', '10.244.1.1'), ('10.96.0.0/12', '10.244.1.1'))


def existing(kernel, mtu=1450, peer_mtu=1450, up=True, peer_up=True, master=5, lo_up=True,
             addresses=('10.244.1.2/24', 'fd00::2/64'), routes=ROUTES):
    """A paired veth vh0 (7, on the node's side) / eth0 (2, in the pod), as it is after a run, then drifted."""
    kernel.outer.links_.append(dict(BRIDGE))
    peer, inner = veth(7, 'vh0', peer_mtu, peer_up, master), veth(2, 'eth0', mtu, up)
    pair(peer, inner)
    kernel.outer.links_.append(peer)
    kernel.inner.links_.append(inner)
    kernel.inner.links_[0]['up'] = lo_up
    for cidr in addresses:
        address, prefixlen = cidr.split('/')
        kernel.inner.addresses_.append(dict(index=2, address=address, prefixlen=int(prefixlen)))
    # The kernel's own routes and link-local address are never managed.
    kernel.inner.addresses_.append(dict(index=2, address='fe80::1', prefixlen=64))
    kernel.inner.routes_.append(route('10.244.1.0/24', None, 2, proto=2))
    for dst, gateway in routes:
        kernel.inner.routes_.append(route(dst, gateway, 2))
    return kernel


# Every setting of an existing pair drifted: mtu, peer mtu, master, addresses, up, peer up, lo, routes.
DRIFTED = dict(mtu=1300, peer_mtu=1400, up=False, peer_up=False, master=None, lo_up=False,
               addresses=('10.244.1.2/24', '192.0.2.7/32'), routes=(('0.0.0.0/0', '10.244.1.9'),))


def planned(kernel, s):
    with kernel.outer as outer:
        inner = kernel.inner
        return _namedns.plan(s, _namedns.read(s, outer, inner))


def apply(kernel, s):
    p = planned(kernel, s)
    _namedns.apply(p, kernel.outer, kernel.open_inner)
    return p


def steps(p):
    return [(s.param, s.method, s.what) for s in p.steps]


def refuse_what(needle, side=None):
    """Refuse every change whose what-text contains ``needle`` (on ``side`` only, when given)."""
    def refuse(where, method, what, args):
        if needle in what and side in (None, where):
            return KernelRefused('%s: Invalid argument (errno -22)' % what, errno=-22)
        return None
    return refuse


# Plans ---------------------------------------------------------------------

def test_plan_for_nothing_yet_makes_the_namespace_the_pair_and_every_setting(patched):
    kernel = patched(ns=_netns.ABSENT)
    kernel.outer.links_.append(dict(BRIDGE))
    p = planned(kernel, spec())
    base = 'netns/' + POD
    assert p.changes.drift == [
        dict(path=base, before='absent', after='present'),
        dict(path=base + '/loopback', before=False, after=True),
        dict(path=base + '/veth', before='absent', after='present'),
        dict(path=base + '/veth/master', before=None, after='cni0'),
        dict(path=base + '/veth/addresses', before=[], after=['10.244.1.2/24', 'fd00::2/64']),
        dict(path=base + '/veth/routes', before=[], after=[dict(dst='0.0.0.0/0', via='10.244.1.1'),
                                                           dict(dst='10.96.0.0/12', via='10.244.1.1')]),
    ]
    assert (p.create_ns, p.remove_stale, p.delete_ns, p.delete_links) == (True, False, False, [])
    assert p.create_veth == dict(mtu=1450)
    assert steps(p) == [
        ('loopback', 'link_set', 'setting lo up'),
        ('veth.mtu', 'link_set', 'setting mtu 1450 on eth0'),
        ('veth.master', 'link_set', 'attaching vh0 to bridge cni0'),
        ('veth.addresses', 'addr_add', 'adding address 10.244.1.2/24 to eth0'),
        ('veth.addresses', 'addr_add', 'adding address fd00::2/64 to eth0'),
        ('veth.peer', 'link_set', 'setting vh0 up'),
        ('veth.name', 'link_set', 'setting eth0 up'),
        ('veth.routes', 'route_add', 'adding route 0.0.0.0/0 via 10.244.1.1 on eth0'),
        ('veth.routes', 'route_add', 'adding route 10.96.0.0/12 via 10.244.1.1 on eth0'),
    ]


def test_plan_for_a_drifted_pair_changes_exactly_what_drifted(patched):
    kernel = existing(patched(), **DRIFTED)
    p = planned(kernel, spec())
    base = 'netns/%s/veth' % POD
    assert p.changes.drift == [
        dict(path='netns/%s/loopback' % POD, before=False, after=True),
        dict(path=base + '/mtu', before=1300, after=1450),
        dict(path=base + '/peer/mtu', before=1400, after=1450),
        dict(path=base + '/master', before=None, after='cni0'),
        dict(path=base + '/addresses', before=['10.244.1.2/24', '192.0.2.7/32'],
             after=['10.244.1.2/24', 'fd00::2/64']),
        dict(path=base + '/peer/up', before=False, after=True),
        dict(path=base + '/up', before=False, after=True),
        dict(path=base + '/routes', before=[dict(dst='0.0.0.0/0', via='10.244.1.9')],
             after=[dict(dst='0.0.0.0/0', via='10.244.1.1'), dict(dst='10.96.0.0/12', via='10.244.1.1')]),
    ]
    assert (p.create_ns, p.create_veth, p.delete_links) == (False, None, [])
    assert steps(p) == [
        ('loopback', 'link_set', 'setting lo up'),
        ('veth.mtu', 'link_set', 'setting mtu 1450 on eth0'),
        ('veth.mtu', 'link_set', 'setting mtu 1450 on vh0'),
        ('veth.master', 'link_set', 'attaching vh0 to bridge cni0'),
        ('veth.addresses', 'addr_del', 'removing address 192.0.2.7/32 from eth0'),
        ('veth.addresses', 'addr_add', 'adding address fd00::2/64 to eth0'),
        ('veth.peer', 'link_set', 'setting vh0 up'),
        ('veth.name', 'link_set', 'setting eth0 up'),
        ('veth.routes', 'route_del', 'removing route 0.0.0.0/0 via 10.244.1.9 from eth0'),
        ('veth.routes', 'route_add', 'adding route 0.0.0.0/0 via 10.244.1.1 on eth0'),
        ('veth.routes', 'route_add', 'adding route 10.96.0.0/12 via 10.244.1.1 on eth0'),
    ]


def test_plan_for_a_pair_as_wanted_is_empty(patched):
    p = planned(existing(patched()), spec())
    assert p.changes.drift == [] and p.steps == [] and not p.changes.changed


def test_plan_for_unpaired_ends_deletes_both_and_makes_the_pair_again(patched):
    kernel = existing(patched())
    kernel.outer.links_[-1]['link_netnsid'] = NSID + 1     # the peer end's other end is elsewhere
    p = planned(kernel, spec())
    assert p.changes.drift[0] == dict(path='netns/%s/veth' % POD, before='unpaired', after='present')
    assert p.delete_links == [('outer', 7, 'deleting veth vh0 (not paired with eth0 in %s)' % POD),
                              ('inner', 2, 'deleting veth eth0 in %s (not paired with vh0)' % POD)]
    assert p.create_veth == dict(mtu=1450)


def test_plan_for_a_stale_namespace_file_removes_it_first(patched):
    kernel = patched(ns=_netns.STALE)
    kernel.outer.links_.append(dict(BRIDGE))
    p = planned(kernel, spec())
    assert (p.create_ns, p.remove_stale) == (True, True)


def test_plan_absent_deletes_the_peer_end_then_the_namespace(patched):
    p = planned(existing(patched()), spec('absent'))
    assert p.changes.drift == [dict(path='netns/%s/veth' % POD, before='present', after='absent'),
                               dict(path='netns/%s' % POD, before='present', after='absent')]
    assert p.delete_links == [('outer', 7, 'deleting veth vh0')] and p.delete_ns and p.steps == []


# Applying ------------------------------------------------------------------

NEW_PAIR = [
    ('ns', 'create', POD),
    ('outer', 'veth_add', 'creating veth pair vh0 (in network namespace %r) / eth0 (in %s)' % (NODE, POD),
     dict(name='vh0', peer='eth0', peer_netns='/run/netns/' + POD, mtu=1450)),
    # The peer end first (master, up), then the inside end: lo, mtu, addresses, up, routes.
    ('outer', 'link_set', 'attaching vh0 to bridge cni0', dict(index=20, master=5)),
    ('outer', 'link_set', 'setting vh0 up', dict(index=20, state='up')),
    ('inner', 'link_set', 'setting lo up', dict(index=1, state='up')),
    ('inner', 'link_set', 'setting mtu 1450 on eth0', dict(index=21, mtu=1450)),
    ('inner', 'addr_add', 'adding address 10.244.1.2/24 to eth0', dict(index=21, address='10.244.1.2', prefixlen=24)),
    ('inner', 'addr_add', 'adding address fd00::2/64 to eth0', dict(index=21, address='fd00::2', prefixlen=64)),
    ('inner', 'link_set', 'setting eth0 up', dict(index=21, state='up')),
    ('inner', 'route_add', 'adding route 0.0.0.0/0 via 10.244.1.1 on eth0',
     dict(dst='0.0.0.0/0', oif=21, gateway='10.244.1.1')),
    ('inner', 'route_add', 'adding route 10.96.0.0/12 via 10.244.1.1 on eth0',
     dict(dst='10.96.0.0/12', oif=21, gateway='10.244.1.1')),
]


def test_apply_from_nothing_sends_the_peer_side_first_then_the_inside(patched):
    kernel = patched(ns=_netns.ABSENT)
    kernel.outer.links_.append(dict(BRIDGE))
    apply(kernel, spec())
    assert kernel.log == NEW_PAIR


def test_refused_step_in_a_new_namespace_removes_the_pair_and_the_namespace(patched):
    kernel = patched(ns=_netns.ABSENT, refuse=refuse_what('adding route 10.96.0.0/12'))
    kernel.outer.links_.append(dict(BRIDGE))
    with pytest.raises(KernelRefused) as err:
        apply(kernel, spec())
    assert err.value.param == 'veth.routes'
    assert err.value.msg == ('veth.routes: adding route 10.96.0.0/12 via 10.244.1.1 on eth0: Invalid argument '
                             '(errno -22)')
    # Nothing is undone one by one: the pair and the namespace go with everything on them.
    assert kernel.log == NEW_PAIR + [('outer', 'link_del', 'removing veth vh0 again', dict(index=20)),
                                     ('ns', 'remove', POD)]
    assert kernel.ns == _netns.ABSENT and kernel.outer.link('vh0') is None


def test_refused_step_on_an_existing_pair_undoes_the_run_newest_first(patched):
    kernel = existing(patched(), **DRIFTED)
    kernel.refuse = refuse_what('adding route 10.96.0.0/12')
    with pytest.raises(KernelRefused) as err:
        apply(kernel, spec())
    assert err.value.param == 'veth.routes'
    assert kernel.log == [
        ('outer', 'link_set', 'setting mtu 1450 on vh0', dict(index=7, mtu=1450)),
        ('outer', 'link_set', 'attaching vh0 to bridge cni0', dict(index=7, master=5)),
        ('outer', 'link_set', 'setting vh0 up', dict(index=7, state='up')),
        ('inner', 'link_set', 'setting lo up', dict(index=1, state='up')),
        ('inner', 'link_set', 'setting mtu 1450 on eth0', dict(index=2, mtu=1450)),
        ('inner', 'addr_del', 'removing address 192.0.2.7/32 from eth0',
         dict(index=2, address='192.0.2.7', prefixlen=32)),
        # The additions as they are after the removals, before the link goes up.
        ('inner', 'addr_add', 'adding address fd00::2/64 to eth0', dict(index=2, address='fd00::2', prefixlen=64)),
        ('inner', 'link_set', 'setting eth0 up', dict(index=2, state='up')),
        # The route steps worked out again from the routes there now.
        ('inner', 'route_del', 'removing route 0.0.0.0/0 via 10.244.1.9 from eth0',
         dict(dst='0.0.0.0/0', oif=2, gateway='10.244.1.9')),
        ('inner', 'route_add', 'adding route 0.0.0.0/0 via 10.244.1.1 on eth0',
         dict(dst='0.0.0.0/0', oif=2, gateway='10.244.1.1')),
        ('inner', 'route_add', 'adding route 10.96.0.0/12 via 10.244.1.1 on eth0',
         dict(dst='10.96.0.0/12', oif=2, gateway='10.244.1.1')),
        # rollback, newest first, each on its own side
        ('inner', 'route_del', 'undoing: adding route 0.0.0.0/0 via 10.244.1.1 on eth0',
         dict(dst='0.0.0.0/0', oif=2, gateway='10.244.1.1')),
        ('inner', 'route_add', 'undoing: removing route 0.0.0.0/0 via 10.244.1.9 from eth0',
         dict(dst='0.0.0.0/0', oif=2, gateway='10.244.1.9')),
        ('inner', 'link_set', 'undoing: setting eth0 up', dict(index=2, state='down')),
        ('inner', 'addr_del', 'undoing: adding address fd00::2/64 to eth0',
         dict(index=2, address='fd00::2', prefixlen=64)),
        ('inner', 'addr_add', 'undoing: removing address 192.0.2.7/32 from eth0',
         dict(index=2, address='192.0.2.7', prefixlen=32)),
        ('inner', 'link_set', 'undoing: setting mtu 1450 on eth0', dict(index=2, mtu=1300)),
        ('inner', 'link_set', 'undoing: setting lo up', dict(index=1, state='down')),
        ('outer', 'link_set', 'undoing: setting vh0 up', dict(index=7, state='down')),
        ('outer', 'link_set', 'undoing: attaching vh0 to bridge cni0', dict(index=7, master=0)),
        ('outer', 'link_set', 'undoing: setting mtu 1450 on vh0', dict(index=7, mtu=1400)),
    ]


def test_rollback_goes_on_when_an_undo_is_refused(patched):
    kernel = existing(patched(), mtu=1300, peer_mtu=1400)

    def refuse(side, method, what, args):
        if what in ('setting mtu 1450 on eth0', 'undoing: setting mtu 1450 on vh0'):
            return KernelRefused('%s: no' % what)
        return None
    kernel.refuse = refuse
    with pytest.raises(KernelRefused) as err:
        apply(kernel, spec())
    assert err.value.param == 'veth.mtu' and err.value.msg == 'veth.mtu: setting mtu 1450 on eth0: no'
    assert [entry[2] for entry in kernel.log] == ['setting mtu 1450 on vh0', 'setting mtu 1450 on eth0',
                                                  'undoing: setting mtu 1450 on vh0']


def test_new_pair_in_an_existing_namespace_is_removed_and_only_lo_is_undone(patched):
    kernel = patched(refuse=refuse_what('adding address fd00::2/64'))
    kernel.outer.links_.append(dict(BRIDGE))
    with pytest.raises(KernelRefused) as err:
        apply(kernel, spec())
    assert err.value.param == 'veth.addresses'
    assert kernel.log == NEW_PAIR[1:8] + [
        ('outer', 'link_del', 'removing veth vh0 again', dict(index=20)),
        # The steps on the pair went with it; lo stays, and is put back.
        ('inner', 'link_set', 'undoing: setting lo up', dict(index=1, state='down')),
    ]
    assert kernel.ns == _netns.PRESENT and [link['name'] for link in kernel.inner.links_] == ['lo']


def test_ends_not_paired_are_deleted_before_the_pair_is_made_again(patched):
    kernel = existing(patched())
    kernel.outer.links_[-1]['link_netnsid'] = NSID + 1
    apply(kernel, spec(master=None, mtu=None, addresses=None, routes=None))
    assert kernel.log == [
        ('outer', 'link_del', 'deleting veth vh0 (not paired with eth0 in %s)' % POD, dict(index=7)),
        # The inside end went with its pair (as far as the fake knows): deleting it again is fine.
        ('inner', 'link_del', 'deleting veth eth0 in %s (not paired with vh0)' % POD, dict(index=2)),
        ('outer', 'veth_add', 'creating veth pair vh0 (in network namespace %r) / eth0 (in %s)' % (NODE, POD),
         dict(name='vh0', peer='eth0', peer_netns='/run/netns/' + POD)),
        ('outer', 'link_set', 'setting vh0 up', dict(index=20, state='up')),
        ('inner', 'link_set', 'setting eth0 up', dict(index=21, state='up')),
    ]


def test_a_refused_deletion_of_an_unpaired_end_names_veth_and_undoes_nothing(patched):
    kernel = existing(patched(), lo_up=False)
    kernel.outer.links_[-1]['link_netnsid'] = NSID + 1
    kernel.refuse = refuse_what('deleting veth vh0')
    with pytest.raises(KernelRefused) as err:
        apply(kernel, spec())
    assert err.value.param == 'veth'
    assert err.value.msg == ('veth: deleting veth vh0 (not paired with eth0 in %s): Invalid argument (errno -22)'
                             % POD)
    assert [entry[1] for entry in kernel.log] == ['link_del']


def test_a_new_pair_the_kernel_does_not_show_fails_naming_the_peer(patched):
    kernel = patched(ns=_netns.ABSENT, lose_new_links=True)
    kernel.outer.links_.append(dict(BRIDGE))
    with pytest.raises(KernelRefused) as err:
        apply(kernel, spec())
    assert err.value.param == 'veth.peer'
    assert err.value.msg == 'creating veth vh0: the kernel reported success but the link is missing'
    assert kernel.log == NEW_PAIR[:2] + [('ns', 'remove', POD)]


def test_a_step_on_a_link_that_is_gone_fails_naming_its_argument(patched):
    """The inside end vanished between the read and the run: its steps fail before any request."""
    kernel = existing(patched(), mtu=1300, peer_mtu=1400)
    p = planned(kernel, spec())
    kernel.inner.links_ = [link for link in kernel.inner.links_ if link['name'] != 'eth0']
    with pytest.raises(NoSuchObject) as err:
        _namedns.apply(p, kernel.outer, kernel.open_inner)
    assert err.value.param == 'veth.mtu'
    assert err.value.msg == 'setting mtu 1450 on eth0: link inner is gone'
    assert kernel.log == [
        ('outer', 'link_set', 'setting mtu 1450 on vh0', dict(index=7, mtu=1450)),
        ('outer', 'link_set', 'undoing: setting mtu 1450 on vh0', dict(index=7, mtu=1400)),
    ]


def test_a_refused_namespace_fails_naming_name_and_changes_nothing_else(patched):
    kernel = patched(ns=_netns.ABSENT)
    kernel.refuse = lambda side, method, what, args: (KernelRefused('creating network namespace: no')
                                                      if side == 'ns' else None)
    kernel.outer.links_.append(dict(BRIDGE))
    with pytest.raises(KernelRefused) as err:
        apply(kernel, spec())
    assert err.value.param == 'name' and err.value.msg == 'name: creating network namespace: no'
    assert kernel.log == [('ns', 'create', POD)]


def test_a_stale_namespace_file_is_removed_before_the_namespace_is_made(patched):
    kernel = patched(ns=_netns.STALE)
    kernel.outer.links_.append(dict(BRIDGE))
    apply(kernel, spec())
    assert kernel.log[:2] == [('ns', 'remove', POD), ('ns', 'create', POD)]
    assert kernel.log[2:] == NEW_PAIR[1:]


def test_absent_deletes_the_peer_end_then_the_namespace_and_a_gone_end_is_fine(patched):
    kernel = existing(patched())
    apply(kernel, spec('absent'))
    assert kernel.log == [('outer', 'link_del', 'deleting veth vh0', dict(index=7)), ('ns', 'remove', POD)]
    kernel = existing(patched())
    p = planned(kernel, spec('absent'))
    kernel.outer.links_ = [link for link in kernel.outer.links_ if link['name'] != 'vh0']
    _namedns.apply(p, kernel.outer, kernel.open_inner)
    assert [entry[:2] for entry in kernel.log] == [('outer', 'link_del'), ('ns', 'remove')]


# The whole run -----------------------------------------------------------

def test_run_makes_everything_verifies_it_and_then_has_nothing_to_do(patched):
    kernel = patched(ns=_netns.ABSENT)
    kernel.outer.links_.append(dict(BRIDGE))
    p, after = _namedns.run(spec(), kernel.netlink)
    assert p.changes.changed and kernel.log == NEW_PAIR
    assert _namedns.public(spec(), after) == dict(
        name=POD, path='/run/netns/' + POD, loopback=True,
        veth=dict(name='eth0', peer='vh0', mtu=1450, peer_mtu=1450, master='cni0', up=True, peer_up=True,
                  addresses=['10.244.1.2/24', 'fd00::2/64'],
                  routes=[dict(dst='0.0.0.0/0', via='10.244.1.1'), dict(dst='10.96.0.0/12', via='10.244.1.1')]))
    del kernel.log[:]
    p, _after = _namedns.run(spec(), kernel.netlink)
    assert not p.changes.changed and kernel.log == []


def test_run_in_check_mode_changes_nothing(patched):
    kernel = patched(ns=_netns.ABSENT)
    kernel.outer.links_.append(dict(BRIDGE))
    p, after = _namedns.run(spec(), kernel.netlink, check_mode=True)
    assert p.changes.changed and kernel.log == [] and _namedns.public(spec(), after) is None


def test_run_fails_when_the_kernel_does_not_keep_a_setting(patched):
    kernel = existing(patched(), mtu=1300)
    real = kernel.inner.link_set

    def clamp(what, index, **attrs):
        real(what, index, **attrs)
        if attrs.get('mtu') == 1450:
            kernel.inner.links_[1]['mtu'] = 1400
    kernel.inner.link_set = clamp
    with pytest.raises(KernelRefused) as err:
        _namedns.run(spec(), kernel.netlink)
    assert err.value.param == 'veth.mtu'
    assert err.value.msg == ('namespace %s: the kernel did not keep what was set: netns/%s/veth/mtu is 1400, not 1450'
                             % (POD, POD))


def test_a_bad_master_is_refused_before_anything_changes(patched):
    kernel = patched(ns=_netns.ABSENT)
    with pytest.raises(ParameterError) as err:
        _namedns.run(spec(), kernel.netlink)
    assert err.value.param == 'veth.master' and "no bridge called 'cni0'" in err.value.msg
    assert kernel.log == []
