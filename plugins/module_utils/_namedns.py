# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cni_netns core: a named network namespace, its loopback and one veth pair.

The namespace is what ``ip netns`` lists: a bind mount under /run/netns
(made by ``_netns.create``, never by a command). The veth pair has one end
(``veth.name``) inside the namespace and the other (``veth.peer``) where the
module acts: the node, or the namespace of the ``netns`` argument, where
``veth.master`` (a bridge) lives too.

``Spec`` checks every argument before anything is read. ``read`` takes the
actual state from one link dump where the module acts and, when the
namespace exists, one link, address and route dump inside it. ``plan``
compares into a ``Changes`` object (drift paths ``netns/NAME``,
``netns/NAME/loopback``, ``netns/NAME/veth``, ``netns/NAME/veth/mtu``,
``.../veth/peer/mtu``, ``.../veth/master``, ``.../veth/addresses``,
``.../veth/up``, ``.../veth/peer/up``, ``.../veth/routes``) and the steps
that make exactly that change. ``apply`` runs them (``_steps.Runner``,
with two targets: ``outer`` where the module acts, ``inner`` the managed
namespace) and, when one fails, undoes what the run did (a namespace or
veth pair it created is removed, with everything on it).

Not managed: IPv6 link-local addresses the kernel adds (fe80::/64) unless
listed, and routes the kernel makes itself (proto kernel for addresses,
proto ra from router advertisements).

No Ansible here; pyroute2 only through ``_netlink``, namespaces only through
``_netns``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.cni.node.plugins.module_utils import _linkargs, _netns
from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    NoSuchObject,
    ParameterError,
)
from ansible_collections.cni.node.plugins.module_utils._ifname import check_ifname
from ansible_collections.cni.node.plugins.module_utils._result import Changes
from ansible_collections.cni.node.plugins.module_utils._steps import Placeholder, Runner, Step, inverse_step, tag

NAME_MAX = 255
RTPROT_KERNEL = 2
RTPROT_RA = 9
RTN_UNICAST = 1
MAIN_TABLE = 254
VETH_KEYS = ('name', 'peer', 'master', 'mtu', 'addresses', 'routes')
ROUTE_KEYS = ('dst', 'via')


def check_ns_name(name):
    """A namespace name as iproute2 accepts it (a file name under /run/netns), printable, no whitespace."""
    if not isinstance(name, str) or not name:
        raise ParameterError('name: a namespace name is required (e.g. pod-a)', param='name')
    if name in ('.', '..') or '/' in name or re.search(r'[\s\x00-\x1f\x7f]', name):
        raise ParameterError("name %r is not a valid namespace name: a file name under %s without '/', "
                             "whitespace or control characters, not '.' or '..'" % (name, _netns.NETNS_RUN_DIR),
                             param='name')
    try:
        size = len(name.encode('utf-8'))
    except UnicodeError:   # a lone surrogate ('\ud800'): no file name the kernel could be given
        raise ParameterError('name %r is not a valid namespace name: not valid UTF-8 text' % (name,), param='name')
    if size > NAME_MAX:
        raise ParameterError('name: %d bytes long, a namespace name has at most %d' % (size, NAME_MAX), param='name')
    return name


def _route(dst, via):
    return dict(dst=dst, via=via)


def _route_key(route):
    net = ipaddress.ip_network(route['dst'])
    return (net.version, int(net.network_address), net.prefixlen, route['via'] or '')


def _sorted_routes(routes):
    seen = {}
    for r in routes:
        seen[(r['dst'], r['via'])] = r
    return sorted(seen.values(), key=_route_key)


def check_routes(routes):
    """Routes as sorted ``{dst: CIDR, via: address or None}`` dicts (None: not managed).

    ``dst: default`` is 0.0.0.0/0, or ::/0 when ``via`` is an IPv6 address.
    """
    if routes is None:
        return None
    if not isinstance(routes, (list, tuple)):
        raise ParameterError('veth.routes: a list of {dst, via} items', param='veth.routes')
    out = []
    for item in routes:
        if not isinstance(item, dict):
            raise ParameterError('veth.routes: %r is not a {dst, via} item' % (item,), param='veth.routes')
        unknown = sorted(set(item) - set(ROUTE_KEYS))
        if unknown:
            raise ParameterError('veth.routes: unknown key(s) %s in %r; a route has dst and via'
                                 % (', '.join(unknown), item), param='veth.routes')
        dst, via = item.get('dst'), item.get('via')
        if dst is None or not _linkargs.text(dst).strip():
            raise ParameterError('veth.routes: %r has no dst: give a CIDR (10.96.0.0/12) or default' % (item,),
                                 param='veth.routes')
        gateway = None
        if via is not None and _linkargs.text(via).strip():
            try:
                if '%' in _linkargs.text(via):   # a scoped address (fe80::1%eth0): the kernel's parser does not take it
                    raise ValueError(via)
                gateway = ipaddress.ip_address(_linkargs.text(via).strip())
            except ValueError:
                raise ParameterError('veth.routes: via %r is not an IP address' % (via,), param='veth.routes')
            if gateway.is_multicast or gateway.is_unspecified:
                raise ParameterError('veth.routes: via %r is not a unicast address' % (via,), param='veth.routes')
        text = _linkargs.text(dst).strip()
        if text == 'default':
            text = '::/0' if gateway is not None and gateway.version == 6 else '0.0.0.0/0'
        elif '/' not in text:
            raise ParameterError('veth.routes: dst %r has no prefix length: write a CIDR (e.g. 10.96.0.0/12, '
                                 '192.0.2.7/32) or default' % (dst,), param='veth.routes')
        try:
            net = ipaddress.ip_network(text)
        except ValueError as exc:
            raise ParameterError('veth.routes: dst %r is not a valid CIDR network (%s)' % (dst, exc),
                                 param='veth.routes')
        if gateway is not None and gateway.version != net.version:
            raise ParameterError('veth.routes: dst %r is IPv%d but via %r is IPv%d'
                                 % (dst, net.version, via, gateway.version), param='veth.routes')
        out.append(_route(u'%s/%d' % (net.network_address.compressed, net.prefixlen),
                          gateway.compressed if gateway is not None else None))
    return _sorted_routes(out)


class VethSpec(object):
    """Validated ``veth`` argument."""

    def __init__(self, name, peer, master=None, mtu=None, addresses=None, routes=None):
        self.name = check_ifname(name, 'veth.name')
        self.peer = check_ifname(peer, 'veth.peer')
        self.master = None if master is None else check_ifname(master, 'veth.master')
        self.mtu = _linkargs.check_mtu(mtu, 'veth.mtu', 'a veth')
        self.addresses = _linkargs.check_addresses(addresses, 'veth.addresses', '10.244.1.2/24',
                                                   key=_linkargs.by_address)
        self.routes = check_routes(routes)


class Spec(object):
    """Validated arguments of cni_netns."""

    def __init__(self, name, state='present', loopback=True, veth=None, netns=None):
        if state not in ('present', 'absent'):
            raise ParameterError('state %r: use present or absent' % (state,), param='state')
        self.name = check_ns_name(name)
        self.state = state
        self.loopback = True if loopback is None else bool(loopback)
        if veth is not None:
            if not isinstance(veth, dict):
                raise ParameterError('veth: a dict with name, peer and optionally master, mtu, addresses, routes',
                                     param='veth')
            unknown = sorted(set(veth) - set(VETH_KEYS))
            if unknown:
                raise ParameterError('veth: unknown key(s) %s; valid keys are %s'
                                     % (', '.join(unknown), ', '.join(VETH_KEYS)), param='veth')
            veth = VethSpec(**dict((k, veth.get(k)) for k in VETH_KEYS))
        self.veth = veth
        if netns is not None:
            _netns.netns_path(netns)   # a malformed value fails here, before anything is read
            if _netns.netns_path(netns) == _netns.netns_path(name):
                raise ParameterError('netns %r is the namespace this task manages: netns is where the peer end '
                                     'and master live (leave it out for the node itself)' % (netns,),
                                     param='netns')
        self.netns = netns

    @property
    def path(self):
        return _netns.netns_path(self.name)


# Reading -----------------------------------------------------------------

def _where(netns):
    return 'network namespace %r' % netns if netns is not None else 'the node'


def read_outer(spec, nl):
    """The peer end and the master bridge where the module acts (one link dump)."""
    v = spec.veth
    links = nl.links()
    by_name = dict((link['name'], link) for link in links)
    by_index = dict((link['index'], link) for link in links)
    peer = by_name.get(v.peer)
    if peer is not None and peer['kind'] != 'veth':
        raise ParameterError('veth.peer: a link called %r exists in %s already and is %s, not a veth; the module '
                             'does not replace it' % (v.peer, _where(spec.netns), _kind(peer)), param='veth.peer')
    master_index = None
    if spec.state == 'present' and v.master is not None:
        master = by_name.get(v.master)
        if master is None:
            raise ParameterError('veth.master: there is no bridge called %r in %s; create it first (e.g. with '
                                 'cni.node.cni_bridge) or leave veth.master out' % (v.master, _where(spec.netns)),
                                 param='veth.master')
        if master['kind'] != 'bridge':
            raise ParameterError('veth.master: %r in %s is %s, not a bridge'
                                 % (v.master, _where(spec.netns), _kind(master)), param='veth.master')
        master_index = master['index']
    out = dict(peer=peer, master_index=master_index, peer_master=None)
    if peer is not None and peer['master']:
        owner = by_index.get(peer['master'])
        out['peer_master'] = owner['name'] if owner is not None else u'#%d' % peer['master']
    return out


def _kind(link):
    return 'a %s' % link['kind'] if link['kind'] else 'of no kind (a physical device or loopback?)'


def _managed_addresses(addresses, index, wanted):
    return _linkargs.managed_addresses(addresses, wanted, index=index, key=_linkargs.by_address)


def _managed_routes(routes, index):
    out = []
    for r in routes:
        if r['oif'] != index or r['proto'] in (RTPROT_KERNEL, RTPROT_RA) or r['type'] != RTN_UNICAST:
            continue
        net = ipaddress.ip_network(r['dst'], strict=False)
        gateway = ipaddress.ip_address(r['gateway']).compressed if r['gateway'] else None
        out.append(_route(u'%s/%d' % (net.network_address.compressed, net.prefixlen), gateway))
    return _sorted_routes(out)


def read_inner(spec, nl):
    """Loopback and the inside end (one link dump; address and route dumps when the end exists)."""
    links = nl.links()
    lo = [link for link in links if link['name'] == 'lo']
    out = dict(lo_index=lo[0]['index'] if lo else None, lo_up=bool(lo and lo[0]['up']), inner=None)
    if spec.veth is None:
        return out
    v = spec.veth
    inner = [link for link in links if link['name'] == v.name]
    if not inner:
        return out
    inner = inner[0]
    if inner['kind'] != 'veth':
        raise ParameterError('veth.name: a link called %r exists inside namespace %r and is %s, not a veth; the '
                             'module does not replace it' % (v.name, spec.name, _kind(inner)), param='veth.name')
    out['inner'] = inner
    out['addresses'] = _managed_addresses(nl.addresses(), inner['index'], v.addresses)
    out['routes'] = _managed_routes(nl.routes(), inner['index'])
    return out


def read(spec, outer_nl, inner_nl):
    """Actual state: a dict. ``inner_nl`` is None when the namespace does not exist."""
    actual = dict(ns=_netns.status(spec.name), lo_index=None, lo_up=False, inner=None, peer=None,
                  master_index=None, peer_master=None, addresses=[], routes=[])
    if spec.veth is not None and outer_nl is not None:
        actual.update(read_outer(spec, outer_nl))
    actual['ns_id'] = None
    if inner_nl is not None:
        actual.update(read_inner(spec, inner_nl))
        if actual['peer'] is not None and actual['inner'] is not None:
            actual['ns_id'] = _ns_id(outer_nl, spec.path)
    return actual


def _ns_id(nl, path):
    """The id the namespace where the module acts gives namespace ``path`` (RTM_GETNSID), or None."""
    return nl.nsid(path)


def paired(actual):
    """True when the inside end and the peer end are the two ends of one veth pair.

    Each end names the other's index; the peer's other end is in the managed
    namespace (its IFLA_LINK_NETNSID is the id the peer's namespace gives
    that namespace), so look-alike pairs between other namespaces with the
    same indexes do not count. Without that id (the kernel did not answer)
    the indexes decide.
    """
    inner, peer = actual['inner'], actual['peer']
    return bool(inner is not None and peer is not None and inner['link'] == peer['index']
                and peer['link'] == inner['index'] and inner['link_netnsid'] is not None
                and peer['link_netnsid'] is not None
                and (actual.get('ns_id') is None or peer['link_netnsid'] == actual['ns_id']))


# Planning ----------------------------------------------------------------

INNER = 'inner'   # the adapter of the managed namespace (lo, the inside end)
OUTER = 'outer'   # the adapter where the module acts (the peer end, the bridge)
# The links the steps act on, bound to their indexes when the run has read them (a new pair's are new).
LO = Placeholder('lo')
END = Placeholder('inner')
PEER = Placeholder('peer')


def _step(target, link, param, what, method, kwargs, undo=None):
    """A request on ``link`` through ``target``'s adapter; a setting is undone by ``undo`` (old values)."""
    return Step(param, method, [what, link], kwargs, undo=('link_set', undo) if undo else None, target=target)


class Plan(object):
    def __init__(self, spec, actual):
        self.spec = spec
        self.actual = actual
        self.changes = Changes()
        self.create_ns = False
        self.remove_stale = False
        self.delete_ns = False
        self.delete_links = []   # (side, index, what) removed before the pair is made again
        self.create_veth = None  # veth_add attributes of the peer end
        self.steps = []

    def step(self, *args, **kwargs):
        self.steps.append(_step(*args, **kwargs))


def _updown(up):
    return 'up' if up else 'down'


def plan(spec, actual):
    """Compare; return a Plan whose ``changes`` are exactly what ``apply`` does."""
    p = Plan(spec, actual)
    base = u'netns/%s' % spec.name
    v = spec.veth
    if spec.state == 'absent':
        if v is not None and actual['peer'] is not None:
            p.changes.add(base + '/veth', 'present', 'absent')
            p.delete_links.append((OUTER, actual['peer']['index'], 'deleting veth %s' % v.peer))
        if actual['ns'] != _netns.ABSENT:
            p.changes.add(base, actual['ns'], 'absent')
            p.delete_ns = True
        return p

    if actual['ns'] != _netns.PRESENT:
        p.changes.add(base, 'absent', 'present')
        p.create_ns = True
        p.remove_stale = actual['ns'] == _netns.STALE
    if p.changes.add(base + '/loopback', actual['lo_up'], spec.loopback):
        p.step(INNER, LO, 'loopback', 'setting lo %s' % _updown(spec.loopback), 'link_set',
               dict(state=_updown(spec.loopback)), undo=dict(state=_updown(actual['lo_up'])))
    if v is None:
        return p
    _plan_veth(p, spec, actual, base + '/veth')
    return p


def _plan_veth(p, spec, actual, vpath):
    v = spec.veth
    new = not paired(actual)
    if new:
        inner, peer = actual['inner'], actual['peer']
        p.changes.add(vpath, 'absent' if inner is None and peer is None else 'unpaired', 'present')
        if peer is not None:
            p.delete_links.append((OUTER, peer['index'], 'deleting veth %s (not paired with %s in %s)'
                                   % (v.peer, v.name, spec.name)))
        if inner is not None:
            p.delete_links.append((INNER, inner['index'], 'deleting veth %s in %s (not paired with %s)'
                                   % (v.name, spec.name, v.peer)))
        p.create_veth = dict(mtu=v.mtu) if v.mtu is not None else {}
        cur = dict(mtu=None, peer_mtu=None, master=None, addresses=[], routes=[], up=False, peer_up=False)
    else:
        cur = dict(mtu=actual['inner']['mtu'], peer_mtu=actual['peer']['mtu'], master=actual['peer_master'],
                   addresses=actual['addresses'], routes=actual['routes'], up=actual['inner']['up'],
                   peer_up=actual['peer']['up'])
    if v.mtu is not None:
        # A new pair gets the MTU on the peer end in the create request; the inside end is set after.
        if new or p.changes.add(vpath + '/mtu', cur['mtu'], v.mtu):
            p.step(INNER, END, 'veth.mtu', 'setting mtu %d on %s' % (v.mtu, v.name), 'link_set',
                   dict(mtu=v.mtu), undo=None if new else dict(mtu=cur['mtu']))
        if not new and p.changes.add(vpath + '/peer/mtu', cur['peer_mtu'], v.mtu):
            p.step(OUTER, PEER, 'veth.mtu', 'setting mtu %d on %s' % (v.mtu, v.peer), 'link_set',
                   dict(mtu=v.mtu), undo=dict(mtu=cur['peer_mtu']))
    if v.master is not None and p.changes.add(vpath + '/master', cur['master'], v.master):
        old = actual['peer']['master'] if not new else 0
        p.step(OUTER, PEER, 'veth.master', 'attaching %s to bridge %s' % (v.peer, v.master), 'link_set',
               dict(master=actual['master_index']), undo=dict(master=old or 0))
    if v.addresses is not None and p.changes.add(vpath + '/addresses', cur['addresses'], v.addresses):
        p.steps.extend(address_steps(v, cur['addresses']))
    # Both ends up. A new pair's "present" says so; its default down state is no drift of its own.
    if new or p.changes.add(vpath + '/peer/up', cur['peer_up'], True):
        p.step(OUTER, PEER, 'veth.peer', 'setting %s up' % v.peer, 'link_set', dict(state='up'),
               undo=None if new else dict(state='down'))
    if new or p.changes.add(vpath + '/up', cur['up'], True):
        p.step(INNER, END, 'veth.name', 'setting %s up' % v.name, 'link_set', dict(state='up'),
               undo=None if new else dict(state='down'))
    if v.routes is not None and p.changes.add(vpath + '/routes', cur['routes'], v.routes):
        p.steps.extend(route_steps(v, cur['routes']))


def address_steps(v, current):
    """Removals, then additions (removing a primary IPv4 address takes the secondaries of its subnet along)."""
    out = []
    for cidr in current:
        if cidr not in v.addresses:
            out.append(_inside('veth.addresses', 'addr_del', 'removing address %s from %s' % (cidr, v.name),
                               _addr_kwargs(cidr)))
    for cidr in v.addresses:
        if cidr not in current:
            out.append(_inside('veth.addresses', 'addr_add', 'adding address %s to %s' % (cidr, v.name),
                               _addr_kwargs(cidr)))
    return out


def route_steps(v, current):
    """Removals, then additions (a route to the same destination through another gateway must go first)."""
    out = []
    for r in current:
        if r not in v.routes:
            out.append(_inside('veth.routes', 'route_del', 'removing route %s from %s' % (_route_text(r), v.name),
                               _route_kwargs(r)))
    for r in v.routes:
        if r not in current:
            out.append(_inside('veth.routes', 'route_add', 'adding route %s on %s' % (_route_text(r), v.name),
                               _route_kwargs(r)))
    return out


def _inside(param, method, what, kwargs):
    """An address or route of the inside end, undone by its inverse (a route names the end as ``oif``)."""
    if method.startswith('route_'):
        return inverse_step(param, method, [what], dict(kwargs, oif=END), INNER)
    return inverse_step(param, method, [what, END], kwargs, INNER)


def _addr_kwargs(cidr):
    address, prefixlen = _linkargs.split_cidr(cidr)
    return dict(address=address, prefixlen=prefixlen)


def _route_kwargs(route):
    return dict(dst=route['dst'], gateway=route['via'])


def _route_text(route):
    return route['dst'] + (' via %s' % route['via'] if route['via'] else '')


# Applying ----------------------------------------------------------------

def apply(p, outer, open_inner):
    """Run the plan. ``outer``: the Netlink where the module acts (None without veth);
    ``open_inner()``: a Netlink context manager inside the namespace (exists by then)."""
    spec = p.spec
    if spec.state == 'absent':
        for side, index, what in p.delete_links:
            _delete_link(outer, what, index)
        if p.delete_ns:
            tag(lambda: _netns.remove(spec.name), 'name')
        return
    made_ns = False
    with Runner(outer, targets={OUTER: outer}, opens={INNER: open_inner}) as runner:
        try:
            if p.create_ns:
                if p.remove_stale:
                    tag(lambda: _netns.remove(spec.name), 'name')
                tag(lambda: _netns.create(spec.name), 'name')
                made_ns = True
                runner.made_target(INNER)
            runner.adapter(INNER)
            _apply_links(p, runner)
        except CniNodeError:
            # A new pair goes with everything on it, a new namespace with everything in it.
            runner.rollback('removing veth %s again' % spec.veth.peer if spec.veth is not None else '')
            if made_ns:
                try:
                    _netns.remove(spec.name)
                except CniNodeError:
                    pass
            raise


def _delete_link(nl, what, index):
    try:
        nl.link_del(what, index)
    except NoSuchObject:
        pass   # went with its other end


def _apply_links(p, runner):
    spec = p.spec
    v = spec.veth
    outer, inner = runner.adapter(OUTER), runner.adapter(INNER)
    for side, index, what in p.delete_links:
        tag(lambda s=side, i=index, w=what: _delete_link(runner.adapter(s), w, i), 'veth')
    if p.create_veth is not None:
        tag(lambda: outer.veth_add('creating veth pair %s (in %s) / %s (in %s)'
                                   % (v.peer, _where(spec.netns), v.name, spec.name),
                                   v.peer, v.name, peer_netns=spec.path, **p.create_veth),
            'veth')
        peer = outer.link(v.peer)
        if peer is None:
            raise KernelRefused('creating veth %s: the kernel reported success but the link is missing' % v.peer,
                                param='veth.peer')
        runner.made_link(peer['index'], (PEER, END), OUTER)
    runner.bind(LO, None)
    runner.bind(END, None)
    for link in inner.links():
        if link['name'] == 'lo':
            runner.bind(LO, link['index'])
        elif v is not None and link['name'] == v.name:
            runner.bind(END, link['index'])
    if v is not None:
        peer = outer.link(v.peer)
        runner.bind(PEER, peer['index'] if peer is not None else None)
    # The peer end first (mtu, master, up), then the inside end: lo, mtu, address removals, additions, up,
    # routes (a route through a gateway needs the link up and an address in the gateway's subnet).
    steps = [s for s in p.steps if s.target == OUTER] + [s for s in p.steps if s.target == INNER]
    addressed = any(s.param == 'veth.addresses' for s in steps)
    routed = v is not None and v.routes is not None and (addressed or any(s.param == 'veth.routes' for s in steps))
    for step in steps:
        if step.method == 'addr_add' or step.param == 'veth.routes':
            continue
        if step.param == 'veth.name' and addressed:
            _additions(p, runner)
            addressed = False
        runner.run([step])
    if addressed:
        _additions(p, runner)
    if routed:
        # Removing addresses can take routes along (the kernel flushes a link's IPv4 routes with its last
        # address): the route steps are worked out again from what is there now.
        runner.run(route_steps(v, _managed_routes(inner.routes(), runner.resolve(END))))


def _additions(p, runner):
    """Add the missing addresses, as they are after the removals (a removed primary takes its secondaries)."""
    v = p.spec.veth
    current = _managed_addresses(runner.adapter(INNER).addresses(), runner.resolve(END), v.addresses)
    runner.run([step for step in address_steps(v, current) if step.method == 'addr_add'])


# The whole run -----------------------------------------------------------

def public(spec, actual):
    """The namespace returned to the user (None when absent)."""
    if actual is None or actual['ns'] != _netns.PRESENT:
        return None
    out = dict(name=spec.name, path=spec.path, loopback=actual['lo_up'], veth=None)
    if spec.veth is not None and paired(actual):
        inner, peer = actual['inner'], actual['peer']
        out['veth'] = dict(name=spec.veth.name, peer=spec.veth.peer, mtu=inner['mtu'], peer_mtu=peer['mtu'],
                           master=actual['peer_master'], up=inner['up'], peer_up=peer['up'],
                           addresses=actual['addresses'], routes=actual['routes'])
    return out


class _Nothing(object):
    def __enter__(self):
        return None

    def __exit__(self, *exc_info):
        return False


def _read_all(spec, netlink, outer):
    if _netns.status(spec.name) != _netns.PRESENT:
        return read(spec, outer, None)
    with netlink(spec.name) as inner:
        return read(spec, outer, inner)


def run(spec, netlink, check_mode=False):
    """Read, plan and (unless check mode) apply and verify. Returns (plan, state after)."""
    if spec.netns is not None:
        _netns.resolve(spec.netns)   # a missing namespace fails before anything is read or made
        if _netns.status(spec.name) == _netns.PRESENT and _netns.same(spec.netns, spec.name):
            raise ParameterError('netns %r is the namespace this task manages (%s): netns is where the peer end '
                                 'and master live' % (spec.netns, spec.path), param='netns')
    outer_cm = netlink(spec.netns) if spec.veth is not None else _Nothing()
    with outer_cm as outer:
        actual = _read_all(spec, netlink, outer)
        p = plan(spec, actual)
        if check_mode or not p.changes.changed:
            return p, actual
        apply(p, outer, lambda: netlink(spec.name))
        if spec.state == 'absent':
            return p, None
        after = _read_all(spec, netlink, outer)
        left = plan(spec, after)
        if left.changes.changed:
            raise KernelRefused('namespace %s: the kernel did not keep what was set: %s'
                                % (spec.name, ', '.join('%s is %r, not %r' % (d['path'], d['before'], d['after'])
                                                        for d in left.changes.drift)),
                                param=_param_of(left.changes.drift[0]['path']))
        return p, after


def _param_of(path):
    tail = path.split('/')[2:]
    if not tail:
        return 'name'
    if tail[0] == 'loopback':
        return 'loopback'
    if len(tail) == 1:
        return 'veth'
    return 'veth.' + tail[-1] if tail[-1] in ('mtu', 'master', 'addresses', 'routes') else 'veth'
