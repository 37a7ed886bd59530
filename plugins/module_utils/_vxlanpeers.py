# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_vxlan's peers: their checks, the entries they need, and the steps that reconcile those.

``check_peers`` normalises the ``peers`` argument (``Peer``); ``Entries``
works out the routes, neighbours and FDB entries they need; ``peer_tables``
reads the ones the module owns from the dumps; ``peer_steps`` compares both
into steps (all of them bulk requests, ``BATCHED``); ``carry_over`` and
``restore_steps`` keep the entries on a device that is re-created or put
back. The device itself is ``_vxlan``'s (which imports this room, never
the other way round).

Per peer, in L3 mode (no ``master``, as flannel's vxlan backend):

- route ``<subnet> via <vtep address> dev <vxlan> onlink`` (protocol
  ``RTPROT_CNI_NODE``), where the vtep address is the network address of
  the peer's subnet;
- permanent neighbour ``<vtep address> lladdr <vtep mac>`` on the device;
- FDB entry ``<vtep mac> dst <remote>`` on the device.

With ``direct_routing`` a peer whose underlay address is on the local
underlay subnet gets only ``<subnet> via <remote> dev <underlay>`` instead.
In L2 mode (``master`` set) each peer is one FDB flood entry
``00:00:00:00:00:00 dst <remote>``.

Ownership, for purging: routes are ours when they carry our protocol number
and leave through the VXLAN device or the underlay device; neighbours and
FDB entries are ours when they are permanent and on the VXLAN device (the
module owns the device). Anything else is never touched.

Pure Python: no Ansible, no pyroute2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import socket

from ansible_collections.cni.node.plugins.module_utils import _linkargs, _overlay
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._steps import DEVICE, Step

RTPROT_CNI_NODE = 152   # protocol number of the routes cni_vxlan creates (ip route ... proto 152)
ZERO_MAC = _linkargs.ZERO_MAC
# The adapter methods of the peer entries: sent in bulk (the adapter's batch).
BATCHED = frozenset(('route_add', 'route_del', 'neigh_set', 'neigh_del', 'fdb_add', 'fdb_del'))


class Peer(object):
    """One normalised peer: remote underlay address, subnet (L3), vtep mac and address."""

    def __init__(self, index, item, family, l2_mode):
        where = 'peers[%d]' % index
        if not isinstance(item, dict):
            raise ParameterError('%s: %r is not a dict with remote, subnet and vtep_mac' % (where, item),
                                 param='peers')
        unknown = sorted(set(item) - set(('remote', 'subnet', 'vtep_mac')))
        if unknown:
            raise ParameterError('%s: unknown key(s) %s; valid keys are remote, subnet, vtep_mac'
                                 % (where, ', '.join(unknown)), param='peers')
        if item.get('remote') in (None, ''):
            raise ParameterError('%s.remote is required: the peer\'s underlay address' % where, param='peers')
        self.remote = _overlay.underlay_address(item['remote'], 'peers', '%s.remote' % where)
        if self.remote.version != family:
            raise ParameterError('%s.remote %s is IPv%d but the local underlay address is IPv%d: one VXLAN '
                                 'device has one underlay family' % (where, self.remote, self.remote.version,
                                                                     family), param='peers')
        mac = item.get('vtep_mac')
        if mac in (None, '', 'auto'):
            self.vtep_mac = _overlay.vtep_mac(self.remote)
        else:
            self.vtep_mac = _linkargs.check_mac(mac, '%s.vtep_mac' % where, 'a VXLAN tunnel endpoint', arg='peers')
        subnet = item.get('subnet')
        self.subnet = None
        self.vtep_address = None
        if l2_mode:
            if subnet not in (None, ''):
                raise ParameterError('%s.subnet: subnets are for L3 mode; with master set (L2 mode) a peer is '
                                     'only its remote' % where, param='peers')
            return
        if subnet in (None, ''):
            raise ParameterError('%s.subnet is required in L3 mode (no master): the peer\'s pod subnet, '
                                 'e.g. 10.244.2.0/24' % where, param='peers')
        try:
            net = ipaddress.ip_network(_linkargs.text(subnet).strip())
        except ValueError as exc:
            raise ParameterError('%s.subnet %r is not a valid CIDR network (%s)' % (where, subnet, exc),
                                 param='peers')
        self.subnet = net
        self.vtep_address = net.network_address


def check_peers(peers, local, l2_mode):
    if peers is None:
        return None
    if not isinstance(peers, (list, tuple)):
        raise ParameterError('peers must be a list of {remote, subnet, vtep_mac}', param='peers')
    out = []
    seen_remote = {}
    for i, item in enumerate(peers):
        peer = Peer(i, item, local.version, l2_mode)
        if peer.remote == local:
            raise ParameterError('peers[%d].remote %s is this node\'s own underlay address (local): list only '
                                 'the other nodes' % (i, peer.remote), param='peers')
        if peer.remote in seen_remote:
            raise ParameterError('peers[%d] and peers[%d] have the same remote %s'
                                 % (seen_remote[peer.remote], i, peer.remote), param='peers')
        seen_remote[peer.remote] = i
        out.append(peer)
    if not l2_mode:
        seen_mac = {}
        for i, peer in enumerate(out):
            if peer.vtep_mac in seen_mac:
                raise ParameterError('peers[%d] and peers[%d] have the same vtep_mac %s: one MAC is one FDB entry'
                                     % (seen_mac[peer.vtep_mac], i, peer.vtep_mac), param='peers')
            seen_mac[peer.vtep_mac] = i
    _check_overlaps(out)
    return out


def _check_overlaps(peers):
    """Fail when two peers' subnets overlap: one sort, then a sweep (not every pair)."""
    spans = sorted((p.subnet.version, int(p.subnet.network_address), int(p.subnet.broadcast_address), i)
                   for i, p in enumerate(peers) if p.subnet is not None)
    reach = None   # (version, highest end so far, index of its peer)
    for version, start, end, i in spans:
        if reach is not None and reach[0] == version and start <= reach[1]:
            j = reach[2]
            a, b = sorted((i, j))
            raise ParameterError('peers[%d].subnet %s overlaps peers[%d].subnet %s'
                                 % (b, peers[b].subnet, a, peers[a].subnet), param='peers')
        if reach is None or reach[0] != version or end > reach[1]:
            reach = (version, end, i)


class Entries(object):
    """The peers (``Peer``) and the entries they need, as ``peer_steps`` compares them.

    ``routes``: dst -> {gateway, dev, onlink}; ``neighbours``: ip -> mac;
    ``fdb``: set of (mac, remote); ``direct``: the remotes routed directly;
    ``peer_remotes``: every listed remote; ``peer_macs``: the MACs of the
    peers reached through the tunnel (L3), whose FDB entries and neighbours
    belong to listed peers.
    """

    def __init__(self, spec, underlay, peers):
        """The entries of ``peers`` (None: not managed) of device ``spec.name`` over ``underlay``."""
        self.peers = peers
        self.routes = {}      # dst -> {gateway, dev, onlink}
        self.neighbours = {}  # ip -> mac
        self.fdb = set()      # (mac, remote)
        self.direct = set()   # remotes routed directly
        for peer in peers or ():
            remote = peer.remote.compressed
            if spec.l2_mode:
                self.fdb.add((ZERO_MAC, remote))
                continue
            dst = peer.subnet.with_prefixlen
            if spec.direct_routing and underlay.network is not None and peer.remote in underlay.network:
                self.direct.add(remote)
                self.routes[dst] = dict(gateway=remote, dev=underlay.link['name'], onlink=False)
                continue
            vtep = peer.vtep_address.compressed
            self.routes[dst] = dict(gateway=vtep, dev=spec.name, onlink=True)
            self.neighbours[vtep] = peer.vtep_mac
            self.fdb.add((peer.vtep_mac, remote))
        self.peer_remotes = set(p.remote.compressed for p in peers or ())
        self.peer_macs = set(mac for mac, _remote in self.fdb if mac != ZERO_MAC)


def route_text(route):
    if route is None:
        return None
    text = u'via %s dev %s' % (route['gateway'], route['dev'])
    return text + ' onlink' if route.get('onlink') else text


def _ip_text(text):
    """``text`` as ipaddress writes it (the desired side's form).

    The adapter's dumps print addresses with inet_ntop, which writes IPv4
    and IPv6 as ipaddress does, except IPv6 addresses it prints with a
    dotted IPv4 tail (``::ffff:10.0.0.1``): only those are parsed, so
    10,000 peers' entries cost no 40,000 ipaddress objects.
    """
    if ':' in text and '.' in text or text != text.lower():
        return ipaddress.ip_address(text).compressed
    return text


def _net_text(text):
    """A dumped route's ``dst`` as ipaddress writes it (host bits cleared, as the kernel keeps them)."""
    addr, _sep, plen = text.partition('/')
    if ':' in addr or not plen.isdigit() or int(plen) > 32:
        return ipaddress.ip_network(text, strict=False).with_prefixlen
    bits = int(plen)
    value = int.from_bytes(socket.inet_aton(addr), 'big')
    if value & ((1 << (32 - bits)) - 1):
        return ipaddress.ip_network(text, strict=False).with_prefixlen
    return text


def peer_tables(nl, device, links, underlay_index, wanted_dsts=()):
    """Routes, neighbours and FDB entries owned by the module (see the module docstring)."""
    names = dict((l['index'], l['name']) for l in links)
    tables = dict(routes={}, neighbours={}, fdb=set(), foreign_routes={})
    index = device['index'] if device is not None else None
    for r in nl.routes():
        # The same text as the desired side (ipaddress), whatever the dump printed.
        r = dict(r, dst=_net_text(r['dst']), gateway=_ip_text(r['gateway']) if r['gateway'] else None)
        if r['oif'] is None or r['oif'] not in (index, underlay_index):
            # Routes elsewhere matter only as obstacles (a dst we need, taken),
            # except ours through a former underlay link (dev changed).
            if r['proto'] == RTPROT_CNI_NODE and r['gateway'] is not None and r['dst'] in wanted_dsts:
                tables['routes'][r['dst']] = dict(gateway=r['gateway'], dev=names.get(r['oif'], r['oif']),
                                                  onlink=r['onlink'], oif=r['oif'])
                continue
            tables['foreign_routes'].setdefault(r['dst'], r)
            continue
        if r['proto'] == RTPROT_CNI_NODE and r['gateway'] is not None:
            tables['routes'][r['dst']] = dict(gateway=r['gateway'], dev=names.get(r['oif'], r['oif']),
                                              onlink=r['onlink'], oif=r['oif'])
        else:
            tables['foreign_routes'].setdefault(r['dst'], r)
    if index is None:
        return tables
    for n in nl.neighbours():
        if n['index'] == index and n['permanent'] and n['dst'] and n['lladdr']:
            tables['neighbours'][_ip_text(n['dst'])] = n['lladdr']
    for f in nl.fdb():
        if f['index'] == index and f['self'] and f['permanent'] and f['dst'] and f['lladdr']:
            tables['fdb'].add((f['lladdr'], _ip_text(f['dst'])))
    return tables


def carry_over(spec, want, tables, index):
    """``want`` plus the entries on the old device the module keeps (re-created with the device)."""
    carry = copy.copy(want)
    carry.peers = list(want.peers or ())
    carry.routes, carry.neighbours, carry.fdb = dict(want.routes), dict(want.neighbours), set(want.fdb)
    if want.peers is not None and spec.purge_peers:
        return carry
    for dst, route in tables['routes'].items():
        if route['oif'] == index and dst not in carry.routes:
            carry.routes[dst] = dict(gateway=route['gateway'], dev=spec.name, onlink=route['onlink'])
    for ip, mac in tables['neighbours'].items():
        carry.neighbours.setdefault(ip, mac)
    for mac, remote in tables['fdb']:
        listed = (mac == ZERO_MAC and remote in want.peer_remotes) if spec.l2_mode else mac in want.peer_macs
        if want.peers is None or not listed:
            carry.fdb.add((mac, remote))
    return carry


class View(object):
    """Where the planners record: the changes told, the steps to run, stale entries kept."""

    def __init__(self, spec, changes):
        self.spec = spec
        self.changes = changes
        self.steps = []
        self.stale = []


def peer_steps(v, path, tables, want, underlay, fresh, ul_index):
    spec = v.spec
    if want.peers is None:
        return
    have_routes = {} if fresh else dict(tables['routes'])
    if fresh:
        # The device's own routes go with it; direct routes (via any underlay link) stay.
        have_routes = dict((d, r) for d, r in tables['routes'].items() if r['dev'] != spec.name)
    have_neigh = {} if fresh else tables['neighbours']
    have_fdb = set() if fresh else tables['fdb']

    adds, dels = [], []
    # Routes.
    for dst, route in sorted(have_routes.items()):
        wanted = want.routes.get(dst)
        if wanted is not None and all(route[k] == wanted[k] for k in ('gateway', 'dev', 'onlink')):
            continue
        if wanted is None and not spec.purge_peers:
            v.stale.append(dict(kind='route', dst=dst, route=route_text(route)))
            continue
        if wanted is None:
            v.changes.add(u'%s/routes/%s' % (path, dst), route_text(route), None)
        dels.append(Step('peers', 'route_del', ['removing route %s %s' % (dst, route_text(route)), dst,
                                                route['oif']],
                         dict(gateway=route['gateway'], onlink=route['onlink'], proto=RTPROT_CNI_NODE),
                         undo=('route_add', dict(gateway=route['gateway'], onlink=route['onlink'],
                                                 proto=RTPROT_CNI_NODE))))
    for dst, wanted in sorted(want.routes.items()):
        have = have_routes.get(dst)
        if have is not None and all(have[k] == wanted[k] for k in ('gateway', 'dev', 'onlink')):
            continue
        foreign = tables['foreign_routes'].get(dst)
        if foreign is not None and have is None:
            raise ParameterError('peers: a route to %s exists that cni.node did not create (protocol %s, via %s, '
                                 'link index %s); remove it or leave this subnet out'
                                 % (dst, foreign['proto'], foreign['gateway'], foreign['oif']), param='peers')
        v.changes.add(u'%s/routes/%s' % (path, dst), route_text(have), route_text(wanted))
        oif = DEVICE if wanted['dev'] == spec.name else ul_index
        adds.append(Step('peers', 'route_add', ['adding route %s %s' % (dst, route_text(wanted)), dst, oif],
                         dict(gateway=wanted['gateway'], onlink=wanted['onlink'], proto=RTPROT_CNI_NODE),
                         undo=('route_del', dict(gateway=wanted['gateway'], onlink=wanted['onlink'],
                                                 proto=RTPROT_CNI_NODE))))
    # Neighbours.
    for ip, mac in sorted(have_neigh.items()):
        wanted = want.neighbours.get(ip)
        if wanted == mac:
            continue
        if wanted is None and not spec.purge_peers:
            v.stale.append(dict(kind='neighbour', dst=ip, lladdr=mac))
            continue
        if wanted is None:
            v.changes.add(u'%s/neighbours/%s' % (path, ip), mac, None)
            dels.append(Step('peers', 'neigh_del', ['removing neighbour %s' % ip, DEVICE, ip], {},
                             undo=('neigh_set', ['undo', DEVICE, ip, mac], {})))
    for ip, mac in sorted(want.neighbours.items()):
        if have_neigh.get(ip) == mac:
            continue
        v.changes.add(u'%s/neighbours/%s' % (path, ip), have_neigh.get(ip), mac)
        adds.append(Step('peers', 'neigh_set', ['setting neighbour %s lladdr %s' % (ip, mac), DEVICE, ip, mac], {},
                         undo=('neigh_del', ['undo', DEVICE, ip], {}) if have_neigh.get(ip) is None
                         else ('neigh_set', ['undo', DEVICE, ip, have_neigh[ip]], {})))
    # Forwarding database.
    for mac, remote in sorted(have_fdb - want.fdb):
        if spec.l2_mode:
            listed = mac == ZERO_MAC and remote in want.peer_remotes
        else:
            listed = mac in want.peer_macs
        if not listed and not spec.purge_peers:
            v.stale.append(dict(kind='fdb', lladdr=mac, dst=remote))
            continue
        v.changes.add(u'%s/fdb/%s/%s' % (path, mac, remote), 'present', 'absent')
        dels.append(Step('peers', 'fdb_del', ['removing fdb entry %s dst %s' % (mac, remote), DEVICE, mac, remote],
                         {}, undo=('fdb_add', dict(append=mac == ZERO_MAC))))
    for mac, remote in sorted(want.fdb - have_fdb):
        v.changes.add(u'%s/fdb/%s/%s' % (path, mac, remote), 'absent', 'present')
        adds.append(Step('peers', 'fdb_add', ['adding fdb entry %s dst %s' % (mac, remote), DEVICE, mac, remote],
                         dict(append=mac == ZERO_MAC), undo=('fdb_del', {})))
    # Deletions first (a route moving between the tunnel and the underlay
    # frees its destination), routes before neighbours before FDB entries;
    # additions the other way round.
    order = {'route_del': 0, 'neigh_del': 1, 'fdb_del': 2, 'fdb_add': 3, 'neigh_set': 4, 'route_add': 5}
    v.steps.extend(sorted(dels, key=lambda s: order[s.method]))
    v.steps.extend(sorted(adds, key=lambda s: order[s.method]))


def restore_steps(name, index, tables):
    """The module's entries on the old device ``name`` (``index``), in the order a run adds them: FDB,
    neighbours, routes through it (``tables``: see ``peer_tables``) - to put them back on it."""
    steps = []
    for mac, remote in sorted(tables['fdb']):
        steps.append(Step('peers', 'fdb_add', ['restoring: fdb entry %s dst %s' % (mac, remote), DEVICE, mac,
                                               remote], dict(append=mac == ZERO_MAC)))
    for ip, mac in sorted(tables['neighbours'].items()):
        steps.append(Step('peers', 'neigh_set', ['restoring: neighbour %s lladdr %s' % (ip, mac), DEVICE, ip, mac]))
    for dst, route in sorted(tables['routes'].items()):
        if route['oif'] == index:
            steps.append(Step('peers', 'route_add', ['restoring: route %s %s' % (dst, route_text(route)), dst,
                                                     DEVICE],
                              dict(gateway=route['gateway'], onlink=route['onlink'], proto=RTPROT_CNI_NODE)))
    return steps
