# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cni_vxlan core: a VXLAN device and all its static peers in one pass.

``Spec`` checks and normalises the arguments (nothing is read before they are
valid). ``read`` takes the actual state from one dump per object kind
(links, addresses, routes, neighbours, forwarding database). ``plan``
compares and returns the exact list of steps with a ``Changes`` record;
``apply`` runs them (``_steps.Runner``: device steps one by one, peer
entries in bulk) and undoes the run's steps when the kernel refuses one; a
device deleted to be re-created is then created again as it was
(``_restore``). With only ``dev``, ``resolve_underlay`` takes the link's
first global IPv4 address, else an IPv6 one that is not temporary,
deprecated, tentative or dadfailed, permanent ones first, the lowest of a
kind (``choose_ipv6``).

``tx_checksum_offload`` is the device's ``tx-checksum-ip-generic`` feature
(what ``ethtool -K <dev> tx-checksum-ip-generic off`` turns), read and set
through the ethtool adapter (``_ethtool``, the runner's target ``ethtool``),
the one feature of transmit checksums a VXLAN device lets change.

The peers (their checks, entries and the steps reconciling them) are
``_vxlanpeers``'s.

No Ansible here; pyroute2 only through ``_netlink``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ipaddress

from ansible_collections.cni.node.plugins.module_utils import _ifname, _linkargs, _overlay, _persist, _vxlanpeers
from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    NotSupported,
    ParameterError,
)
from ansible_collections.cni.node.plugins.module_utils._result import Changes
from ansible_collections.cni.node.plugins.module_utils._steps import DEVICE, Runner, Step, error_text, tag

RTPROT_CNI_NODE = _vxlanpeers.RTPROT_CNI_NODE   # protocol number of the routes cni_vxlan creates
BATCHED = _vxlanpeers.BATCHED
DEFAULT_PORT = 4789
MAX_VNI = 16777215
RECREATE = ('vni', 'port', 'local', 'dev', 'gbp')
TX_CHECKSUM = 'tx-checksum-ip-generic'   # the feature tx_checksum_offload turns (ETH_SS_FEATURES name)
ETHTOOL = 'ethtool'                      # the runner's target of the ethtool adapter
# Adds that count as done when the kernel has the object already: a running systemd-networkd configures a
# device it has persist's .network for as it appears, concurrently with the run (_steps.Runner).
EXISTS_OK = ('addr_add', 'route_add')
# IPv6 address flags (IFA_F_*, linux/if_addr.h) that make an address no tunnel source: it may
# vanish (temporary: privacy extensions), should not start anything new (deprecated), or may
# not be used at all (tentative: duplicate address detection running; dadfailed).
IFA_F_TEMPORARY = 0x01
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80   # configured by hand (not autoconfigured): preferred
UNUSABLE_V6 = ((IFA_F_TEMPORARY, 'temporary'), (IFA_F_DADFAILED, 'dadfailed'), (IFA_F_DEPRECATED, 'deprecated'),
               (IFA_F_TENTATIVE, 'tentative'))


class Spec(object):
    """Validated arguments of cni_vxlan (the parts that need no kernel state)."""

    def __init__(self, name, state='present', vni=None, port=DEFAULT_PORT, dev=None, local=None, mtu='auto',
                 learning=False, gbp=False, mac='auto', addresses=None, master=None, peers=None,
                 direct_routing=False, purge_peers=False, netns=None, tx_checksum_offload='unchanged'):
        if state not in ('present', 'absent'):
            raise ParameterError('state %r: use present or absent' % (state,), param='state')
        self.name = _ifname.check_ifname(name, 'name', 'a VXLAN device name')
        self.state = state
        self.netns = netns
        self.purge_peers = bool(purge_peers)
        self.direct_routing = bool(direct_routing)
        self.dev = _ifname.check_ifname(dev, 'dev') if dev not in (None, '') else None
        if self.dev is not None and self.dev == self.name:
            raise ParameterError('dev %r is the VXLAN device itself: name the underlay link' % dev, param='dev')
        self.local = _overlay.underlay_address(local, 'local') if local not in (None, '') else None
        self.master = _ifname.check_ifname(master, 'master') if master not in (None, '') else None
        if self.master is not None and self.master == self.name:
            raise ParameterError('master %r is the VXLAN device itself: name a bridge' % master, param='master')
        if tx_checksum_offload not in ('on', 'off', 'unchanged'):
            raise ParameterError('tx_checksum_offload %r: use on, off or unchanged' % (tx_checksum_offload,),
                                 param='tx_checksum_offload')
        self.tx_checksum_offload = tx_checksum_offload
        if state == 'absent':
            return
        if vni is None:
            raise ParameterError('vni is required with state=present: the VXLAN network identifier, 1 to %d'
                                 % MAX_VNI, param='vni')
        self.vni = _linkargs.check_int(vni, 'vni', 1, MAX_VNI, 'a VXLAN network identifier')
        self.port = _linkargs.check_int(DEFAULT_PORT if port is None else port, 'port', 1, 65535, 'a UDP port')
        if self.dev is None and self.local is None:
            raise ParameterError('dev or local is required: the underlay link or the local underlay address',
                                 param='dev')
        if mtu in (None, '', 'auto'):
            self.mtu = 'auto'
        else:
            self.mtu = _linkargs.check_int(mtu, 'mtu', _linkargs.MIN_MTU, _linkargs.MAX_MTU,
                                           "a VXLAN device's MTU ('auto' or a number)")
        self.learning = bool(learning)
        self.gbp = bool(gbp)
        self.mac = 'auto' if mac in (None, '', 'auto') else _linkargs.check_mac(mac, 'mac', 'a VXLAN device')
        self.addresses = _linkargs.check_addresses(addresses, 'addresses', '10.244.1.0/32')
        if self.master is not None and self.direct_routing:
            raise ParameterError('direct_routing is for L3 mode: with master set (L2 mode) peers are reached '
                                 'through the bridge', param='direct_routing')
        self.peers_raw = peers
        self.peers = None   # resolved with the local address (see resolve)

    @property
    def l2_mode(self):
        return self.master is not None


class Underlay(object):
    """The local underlay: address, link (may be None), its MTU and subnet."""

    def __init__(self, local, link, network):
        self.local = local
        self.link = link
        self.network = network

    @property
    def family(self):
        return 'ipv%d' % self.local.version


def resolve_underlay(spec, links, addresses):
    """Local underlay address and link from ``dev``/``local`` and the dumps; raises ParameterError."""
    by_name = dict((l['name'], l) for l in links)
    by_index = dict((l['index'], l) for l in links)
    dev = None
    if spec.dev is not None:
        dev = by_name.get(spec.dev)
        if dev is None:
            raise ParameterError('dev: there is no link called %r%s' % (
                spec.dev, ' in network namespace %r' % spec.netns if spec.netns else ''), param='dev')
    candidates = []
    flags = {}
    for a in addresses:
        if a['scope'] != 0:
            continue
        iface = ipaddress.ip_interface(u'%s/%d' % (a['address'], a['prefixlen']))
        candidates.append((a['index'], iface))
        flags[(a['index'], iface)] = a.get('flags')
    if spec.local is not None:
        local = spec.local
        owners = [(idx, iface) for idx, iface in candidates if iface.ip == local]
        if dev is not None:
            network = next((iface.network for idx, iface in owners if idx == dev['index']), None)
            if network is None and owners:
                network = owners[0][1].network
            return Underlay(local, dev, network)
        if owners:
            return Underlay(local, by_index.get(owners[0][0]), owners[0][1].network)
        return Underlay(local, None, None)
    on_dev = [(iface, flags[(idx, iface)]) for idx, iface in candidates if idx == dev['index']]
    for iface, _flags in on_dev:
        if iface.version == 4:
            return Underlay(iface.ip, dev, iface.network)
    chosen, waiting = choose_ipv6([(iface, fl) for iface, fl in on_dev if iface.version == 6])
    if waiting is not None:
        raise ParameterError('dev: link %r: its IPv6 address %s, which comes before %s as the local underlay address, '
                             'is still tentative (duplicate address detection running); the choice would change '
                             'once it ends, so nothing was changed: run again in a few seconds, or give local'
                             % (spec.dev, waiting.ip, chosen.ip), param='dev')
    if chosen is not None:
        return Underlay(chosen.ip, dev, chosen.network)
    skipped = ['%s (%s)' % (iface.ip, ', '.join(unusable_v6(fl))) for iface, fl in on_dev if iface.version == 6]
    raise ParameterError('dev: link %r has no global IPv4 or usable IPv6 address to use as the local underlay '
                         'address%s; give local' % (spec.dev, ': skipped %s' % ', '.join(skipped) if skipped else ''),
                         param='dev')


def unusable_v6(flags):
    """Why an IPv6 address with IFA_F_* ``flags`` is no tunnel source (a list of words; empty: usable)."""
    return [word for bit, word in UNUSABLE_V6 if (flags or 0) & bit]


def choose_ipv6(addresses):
    """``(chosen, waiting)``: the local underlay address among ``(ip_interface, IFA_F_* flags)`` pairs of one link.

    Temporary (privacy), deprecated, tentative and dadfailed addresses are
    skipped. Of the rest, permanent ones (configured, not autoconfigured)
    come first, then the others; within each group the lowest address
    (``ipaddress`` order), whatever the order given (the kernel's: newest
    first), so the choice does not change from run to run. Flags of None
    (not known) count as permanent. ``chosen`` is None when none is left.

    ``waiting`` is an address only tentative (duplicate address detection
    running) that would come before ``chosen`` once usable: the choice is
    about to change (e.g. a configured address added a moment ago, while an
    autoconfigured one is usable), and the caller fails rather than create
    a device it would re-create on the next run. Else None.
    """
    def key(item):
        iface, flags = item
        return (0 if flags is None or flags & IFA_F_PERMANENT else 1, iface.ip)
    usable = sorted((item for item in addresses if not unusable_v6(item[1])), key=key)
    if not usable:
        return None, None
    chosen = usable[0]
    waiting = sorted((item for item in addresses if unusable_v6(item[1]) == ['tentative']), key=key)
    if waiting and key(waiting[0]) < key(chosen):
        return chosen[0], waiting[0][0]
    return chosen[0], None


class Desired(_vxlanpeers.Entries):
    """What the device and its peers should look like, given the underlay."""

    def __init__(self, spec, underlay, links):
        self.spec = spec
        self.underlay = underlay
        family = underlay.family
        if spec.mtu == 'auto':
            if underlay.link is None:
                raise ParameterError("mtu 'auto' needs the underlay link: local %s is on no link here; give dev "
                                     "or a number" % underlay.local, param='mtu')
            self.mtu = _overlay.vxlan_mtu(underlay.link['mtu'], family)
        else:
            self.mtu = spec.mtu
            if underlay.link is not None:
                limit = underlay.link['mtu'] - _overlay.VXLAN_OVERHEAD[family]
                if self.mtu > limit:
                    raise ParameterError('mtu %d is above what a VXLAN over %s can carry: %d (the link\'s MTU %d '
                                         'minus %d bytes of %s encapsulation)' % (
                                             self.mtu, underlay.link['name'], limit, underlay.link['mtu'],
                                             _overlay.VXLAN_OVERHEAD[family], family), param='mtu')
        self.mac = _overlay.vtep_mac(underlay.local) if spec.mac == 'auto' else spec.mac
        self.link_index = underlay.link['index'] if (spec.dev is not None) else None
        if spec.master is not None:
            master = dict((l['name'], l) for l in links).get(spec.master)
            if master is None:
                raise ParameterError('master: there is no bridge called %r' % spec.master, param='master')
            if master['kind'] != 'bridge':
                raise ParameterError('master: %r is a %s, not a bridge' % (spec.master, master['kind'] or 'link'),
                                     param='master')
            self.master_index = master['index']
        else:
            self.master_index = None
        peers = _vxlanpeers.check_peers(spec.peers_raw, underlay.local, spec.l2_mode)
        for i, peer in enumerate(peers or ()):
            if not spec.l2_mode and peer.vtep_mac == self.mac:
                raise ParameterError('peers[%d].vtep_mac %s is this device\'s own MAC' % (i, peer.vtep_mac),
                                     param='peers')
        if spec.direct_routing and underlay.link is None:
            raise ParameterError('direct_routing needs the underlay link and subnet: local %s is on no link here'
                                 % underlay.local, param='direct_routing')
        self.tx_checksum = None if spec.tx_checksum_offload == 'unchanged' else spec.tx_checksum_offload
        super(Desired, self).__init__(spec, underlay, peers)


def read(nl, spec):
    """Links, addresses and the device (a dict, or None): one dump each (the peer tables: ``_vxlanpeers``)."""
    links = nl.links()
    addresses = nl.addresses()
    device = None
    for link in links:
        if link['name'] == spec.name:
            device = link
    if device is not None and device['kind'] != 'vxlan':
        raise _ifname.taken(spec.name, device['kind'], 'a VXLAN device', spec.state, spec.netns)
    return links, addresses, device


def read_tx_checksum(spec, et, device):
    """``(value, changeable)`` of the device's ``tx-checksum-ip-generic``: ``'on'``/``'off'``, a bool.

    ``(None, None)`` without an adapter or a device, and with
    ``tx_checksum_offload=unchanged`` when the kernel does not tell (it is
    returned, not managed); else a refusal fails naming the argument.
    """
    if et is None or device is None:
        return None, None
    try:
        feature = tag(lambda: et.feature(device['index'], TX_CHECKSUM), 'tx_checksum_offload')
    except CniNodeError:
        if spec.tx_checksum_offload == 'unchanged':
            return None, None
        raise
    return 'on' if feature['active'] else 'off', feature['changeable']


def device_state(device, links, addresses, wanted_addresses=None, tx_checksum=None):
    """The device as the user sees it (names, not indexes)."""
    if device is None:
        return None
    names = dict((l['index'], l['name']) for l in links)
    vx = device.get('vxlan') or {}
    local = vx.get('local')
    return dict(
        name=device['name'],
        index=device['index'],
        vni=vx.get('id'),
        port=vx.get('port'),
        local=ipaddress.ip_address(local).compressed if local else None,
        dev=names.get(vx.get('link')) if vx.get('link') else None,
        learning=vx.get('learning'),
        gbp=vx.get('gbp'),
        mtu=device['mtu'],
        mac=(device['address'] or '').lower() or None,
        master=names.get(device['master']) if device['master'] else None,
        master_index=device['master'] or None,
        up=device['up'],
        addresses=_linkargs.managed_addresses(addresses, wanted_addresses, index=device['index']),
        tx_checksum_offload=tx_checksum,
    )


class Plan(object):
    def __init__(self, spec):
        self.spec = spec
        self.changes = Changes()
        self.delete = None          # index of the device to delete first
        self.create = None          # link_add kwargs
        self.recreate = []          # attributes that force re-creation
        self.restore = None         # (link_add kwargs, steps): the old device again, when re-creation fails
        self.steps = []
        self.stale = []             # entries of unlisted peers, kept (purge_peers false)
        self.actual = None
        self.desired = None


def plan(spec, nl, et=None):
    """Read the actual state and compare; the returned Plan's changes are exactly what ``apply`` does.

    ``et``: the ethtool adapter (None: ``tx_checksum_offload`` is not read,
    and only ``unchanged`` may be asked for).
    """
    p = Plan(spec)
    links, addresses, device = read(nl, spec)
    path = u'vxlan/%s' % spec.name
    tx, changeable = read_tx_checksum(spec, et, device) if spec.state == 'present' else (None, None)
    actual = device_state(device, links, addresses, getattr(spec, 'addresses', None), tx)
    p.actual = actual
    if spec.state == 'absent':
        if device is not None:
            p.changes.add(path, 'present', 'absent')
            p.delete = device['index']
        return p
    underlay = resolve_underlay(spec, links, addresses)
    want = Desired(spec, underlay, links)
    p.desired = want
    if want.tx_checksum is not None:
        if et is None:
            raise ParameterError('tx_checksum_offload %s needs the ethtool adapter' % want.tx_checksum,
                                 param='tx_checksum_offload')
        if changeable is False and tx != want.tx_checksum:
            raise NotSupported('tx_checksum_offload: %s cannot change %s: it is fixed %s by its driver'
                               % (spec.name, TX_CHECKSUM, tx), param='tx_checksum_offload')
    ul_index = underlay.link['index'] if underlay.link is not None else None
    tables = _vxlanpeers.peer_tables(nl, device, links, ul_index, set(want.routes))
    wanted_attrs = dict(vni=spec.vni, port=spec.port, local=underlay.local.compressed,
                        dev=underlay.link['name'] if spec.dev is not None else None, gbp=spec.gbp)
    for link in links:
        vx = link.get('vxlan') or {}
        if (link['kind'] == 'vxlan' and link['name'] != spec.name and vx.get('id') == spec.vni
                and vx.get('port') == spec.port):
            raise ParameterError('vni: VXLAN device %s already uses VNI %d on port %d; the kernel allows one device '
                                 'per VNI and port' % (link['name'], spec.vni, spec.port), param='vni')
    if device is not None:
        p.recreate = [k for k in RECREATE if actual[k] != wanted_attrs[k]]
    fresh = device is None or bool(p.recreate)
    if device is None:
        p.changes.add(path, 'absent', 'present')
    elif p.recreate:
        for k in p.recreate:
            p.changes.add(u'%s/%s' % (path, k), actual[k], wanted_attrs[k])
        p.changes.add(path + '/recreate', [], list(p.recreate))
        p.delete = device['index']
    if fresh:
        create = dict(vxlan_id=spec.vni, vxlan_port=spec.port, vxlan_learning=int(spec.learning),
                      mtu=want.mtu, address=want.mac)
        create['vxlan_local' if underlay.local.version == 4 else 'vxlan_local6'] = underlay.local.compressed
        if want.link_index is not None:
            create['vxlan_link'] = want.link_index
        if spec.gbp:
            create['vxlan_gbp'] = True
        p.create = create
        before = dict(mtu=None, mac=None, learning=None, master=None, addresses=[], up=False,
                      tx_checksum_offload=None)
    else:
        before = actual
    if p.recreate:
        # What changes is told against the device as it is (values), the
        # steps are made for the new device (everything added again). What
        # the module keeps but does not manage (addresses and peers left
        # out, stale peers without purge_peers) goes onto the new device too.
        told = _vxlanpeers.View(spec, p.changes)
        _device_steps(told, path, actual, want, False)
        _vxlanpeers.peer_steps(told, path, tables, want, underlay, False, ul_index)
        work = _vxlanpeers.View(spec, Changes())
        _device_steps(work, path, before, want, True,
                      addresses=actual['addresses'] if spec.addresses is None else spec.addresses,
                      tx=want.tx_checksum or ('off' if actual['tx_checksum_offload'] == 'off' else None))
        _vxlanpeers.peer_steps(work, path, tables, _vxlanpeers.carry_over(spec, want, tables, device['index']),
                               underlay, True, ul_index)
        p.steps, p.stale = work.steps, told.stale
        p.restore = _restore_plan(spec, device, actual, tables)
        return p
    view = _vxlanpeers.View(spec, p.changes)
    _device_steps(view, path, before, want, fresh)
    _vxlanpeers.peer_steps(view, path, tables, want, underlay, fresh, ul_index)
    p.steps, p.stale = view.steps, view.stale
    return p


def _restore_plan(spec, device, actual, tables):
    """How to put the old device back when its re-creation fails: ``(link_add kwargs, steps)``.

    The attributes cni_vxlan reads (VNI, port, local address, underlay
    link, GBP, learning, MAC), then its MTU, master, addresses and up state,
    then the module's entries on it (permanent neighbours and FDB entries,
    routes of protocol 152 through it). The MTU is a step of its own: when
    the underlay's MTU has dropped since, the kernel refuses the old MTU,
    and only that step fails, not the device. Attributes the module does
    not read (TTL, TOS, a multicast group, ...) come back at the kernel's
    defaults.
    """
    vx = device.get('vxlan') or {}
    create = dict(vxlan_id=actual['vni'], vxlan_port=actual['port'], vxlan_learning=int(bool(actual['learning'])))
    if actual['mac']:
        create['address'] = actual['mac']
    if actual['local']:
        create['vxlan_local6' if ':' in actual['local'] else 'vxlan_local'] = actual['local']
    if vx.get('link'):
        create['vxlan_link'] = vx['link']
    if actual['gbp']:
        create['vxlan_gbp'] = True
    name = spec.name
    steps = [Step('mtu', 'link_set', ['restoring: setting mtu %s on %s' % (actual['mtu'], name), DEVICE],
                  dict(mtu=actual['mtu']))]
    if actual['tx_checksum_offload'] == 'off':   # a new VXLAN device has it on
        steps.append(tx_checksum_step('restoring: ', name, False))
    if actual['master_index']:
        steps.append(Step('master', 'link_set', ['restoring: enslaving %s to %s' % (name, actual['master']),
                                                 DEVICE], dict(master=actual['master_index'])))
    for cidr in actual['addresses']:
        steps.append(Step('addresses', 'addr_add', ['restoring: adding address %s to %s' % (cidr, name), DEVICE]
                          + list(_linkargs.split_cidr(cidr)), {}))
    if actual['up']:
        steps.append(Step('up', 'link_set', ['restoring: setting %s up' % name, DEVICE], dict(state='up')))
    steps.extend(_vxlanpeers.restore_steps(name, device['index'], tables))
    return create, steps


def tx_checksum_step(prefix, name, on, before=None):
    """Turn the device's ``tx-checksum-ip-generic`` on or off (undone to ``before``, when given)."""
    return Step('tx_checksum_offload', 'set_feature',
                ['%ssetting tx checksum offload (%s) %s on %s' % (prefix, TX_CHECKSUM, 'on' if on else 'off', name),
                 DEVICE, TX_CHECKSUM], dict(on=on),
                undo=None if before is None else ('set_feature', dict(on=before)), target=ETHTOOL)


def _device_steps(v, path, before, want, fresh, addresses=False, tx=False):
    """The device's own steps; ``addresses``/``tx`` (given on a re-creation) stand for the spec's."""
    spec = v.spec
    addresses = spec.addresses if addresses is False else addresses
    tx = want.tx_checksum if tx is False else tx
    if v.changes.add(path + '/mtu', before['mtu'], want.mtu) and not fresh:
        v.steps.append(Step('mtu', 'link_set', ['setting mtu %d on %s' % (want.mtu, spec.name), DEVICE],
                            dict(mtu=want.mtu), undo=('link_set', dict(mtu=before['mtu']))))
    if v.changes.add(path + '/mac', before['mac'], want.mac) and not fresh:
        v.steps.append(Step('mac', 'link_set', ['setting mac %s on %s' % (want.mac, spec.name), DEVICE],
                            dict(address=want.mac), undo=('link_set', dict(address=before['mac']))))
    if v.changes.add(path + '/learning', before['learning'], spec.learning) and not fresh:
        v.steps.append(Step('learning', 'link_set', ['setting learning %s on %s' % (spec.learning, spec.name),
                                                     DEVICE],
                            dict(kind='vxlan', vxlan_learning=int(spec.learning)),
                            undo=('link_set', dict(kind='vxlan', vxlan_learning=int(bool(before['learning']))))))
    if tx is not None and (v.changes.add(path + '/tx_checksum_offload', before['tx_checksum_offload'], tx)
                           or fresh):
        v.steps.append(tx_checksum_step('', spec.name, tx == 'on',
                                        None if fresh else before['tx_checksum_offload'] == 'on'))
    if v.changes.add(path + '/master', before['master'], spec.master):
        what = '%s %s %s' % ('enslaving to' if spec.master else 'releasing from', spec.master or before['master'],
                             spec.name)
        v.steps.append(Step('master', 'link_set', [what, DEVICE], dict(master=want.master_index or 0),
                            undo=('link_set', dict(master=before.get('master_index') or 0))))
    if addresses is not None and v.changes.add(path + '/addresses', before['addresses'], addresses):
        for cidr in before['addresses']:
            if cidr not in addresses:
                v.steps.append(Step('addresses', 'addr_del', ['removing address %s from %s' % (cidr, spec.name),
                                                              DEVICE] + list(_linkargs.split_cidr(cidr)), {},
                                    undo=('addr_add', {})))
        for cidr in addresses:
            if cidr not in before['addresses']:
                v.steps.append(Step('addresses', 'addr_add', ['adding address %s to %s' % (cidr, spec.name),
                                                              DEVICE] + list(_linkargs.split_cidr(cidr)), {},
                                    undo=('addr_del', {})))
    if v.changes.add(path + '/up', before['up'], True):
        v.steps.append(Step('up', 'link_set', ['setting %s up' % spec.name, DEVICE], dict(state='up'),
                            undo=('link_set', dict(state='down'))))


def apply(p, nl, et=None):
    """Run the plan; when the kernel refuses a step, undo the run's steps and raise naming the argument."""
    spec = p.spec
    targets = {ETHTOOL: et} if et is not None else {}
    if spec.state == 'absent':
        if p.delete is not None:
            nl.link_del('deleting VXLAN device %s' % spec.name, p.delete)
        return
    runner = Runner(nl, device=p.actual['index'] if p.actual else None, batched=BATCHED, targets=targets,
                    exists_ok=EXISTS_OK)
    deleted = False
    try:
        if p.delete is not None:
            runner.call(lambda: nl.link_del('deleting VXLAN device %s to re-create it (%s changed)'
                                            % (spec.name, ', '.join(p.recreate)), p.delete), p.recreate[0])
            deleted = True
        if p.create is not None:
            runner.create('creating VXLAN device %s' % spec.name, spec.name, 'vxlan', p.create,
                          _create_param(p.create))
        runner.run([s for s in p.steps if s.method not in BATCHED])
        peer_steps = [s for s in p.steps if s.method in BATCHED]
        if peer_steps:
            # All peer entries in bulk, in plan order (deletions first).
            runner.run_batch(peer_steps, 'peers', 'peer entries')
    except Exception as exc:
        # Any error, not only the kernel's (a bug, an encoder's ValueError):
        # a device the run created goes with its entries; what the run did
        # elsewhere (direct routes via the underlay, added or deleted) is
        # undone. A device deleted to be re-created comes back as it was;
        # only the adapter's errors carry what came back (msg, details).
        runner.rollback('removing VXLAN device again')
        if deleted and p.restore is not None:
            _restore(p, nl, exc if isinstance(exc, CniNodeError) else None, targets)
        raise


def _restore(p, nl, exc, targets=None):
    """Create the old device again (``p.restore``) after a failed re-creation; tell in ``exc`` what came back.

    Goes on past a refused step (a partly restored device is better than
    none); ``exc.details['restored']`` holds the summary and what was refused.
    ``exc`` None (the run failed with an error that is not the adapter's):
    restore all the same, tell nothing.
    """
    create, steps = p.restore
    name = p.spec.name
    what = _restore_text(p, create, steps)
    try:
        nl.link_add('restoring: creating VXLAN device %s as it was' % name, name, 'vxlan', **create)
        link = nl.link(name)
        if link is None:
            raise KernelRefused('restoring: creating VXLAN device %s: the kernel reported success but the link '
                                'is missing' % name)
    except Exception as error:  # pylint: disable=broad-exception-caught
        if exc is not None:
            exc.msg += '; restoring the old VXLAN device %s (%s) failed too: %s' % (name, what, error_text(error))
            exc.details['restored'] = dict(device=False, refused=[error_text(error)])
        return
    refused = Runner(nl, device=link['index'], batched=BATCHED, targets=targets).replay(steps)
    if exc is None:
        return
    if refused:
        exc.msg += ('; the old VXLAN device %s was restored (%s), but %d of its settings and entries were refused, '
                    'first: %s' % (name, what, len(refused), refused[0]))
    else:
        exc.msg += '; the old VXLAN device %s was restored (%s)' % (name, what)
    exc.details['restored'] = dict(device=True, refused=refused)


def _restore_text(p, create, steps):
    """``vni 42, port 4789, local ..., 1 address, up, 2 routes, ...``: what a restore puts back."""
    actual = p.actual
    parts = ['vni %s' % actual['vni'], 'port %s' % actual['port']]
    if actual['local']:
        parts.append('local %s' % actual['local'])
    if actual['dev']:
        parts.append('dev %s' % actual['dev'])
    if actual['gbp']:
        parts.append('gbp')
    parts.append('mtu %s' % actual['mtu'])
    if 'address' in create:
        parts.append('mac %s' % create['address'])
    parts.append('learning %s' % ('on' if actual['learning'] else 'off'))
    if actual['tx_checksum_offload'] == 'off':
        parts.append('tx checksum offload off')
    if actual['master']:
        parts.append('master %s' % actual['master'])
    counts = {}
    for step in steps:
        counts[step.method] = counts.get(step.method, 0) + 1
    for method, one, many in (('addr_add', 'address', 'addresses'), ('route_add', 'route', 'routes'),
                              ('neigh_set', 'neighbour', 'neighbours'), ('fdb_add', 'fdb entry', 'fdb entries')):
        if counts.get(method):
            parts.append('%d %s' % (counts[method], one if counts[method] == 1 else many))
    parts.append('up' if actual['up'] else 'down')
    return ', '.join(parts)


def _create_param(attrs):
    return 'mtu' if 'mtu' in attrs else 'name'


def public(p, after):
    """What the module returns about the device and its peers."""
    out = dict(vxlan=dict((k, v) for k, v in after.items() if k != 'master_index') if after else after)
    if p.desired is not None and p.desired.peers is not None:
        peers = []
        for peer in p.desired.peers:
            item = dict(remote=peer.remote.compressed, vtep_mac=peer.vtep_mac,
                        subnet=peer.subnet.with_prefixlen if peer.subnet is not None else None,
                        vtep_address=peer.vtep_address.compressed if peer.vtep_address is not None else None,
                        direct=peer.remote.compressed in p.desired.direct)
            peers.append(item)
        out['peers'] = peers
        out['mode'] = 'l2' if p.spec.l2_mode else 'l3'
    out['stale'] = p.stale
    out['recreated'] = list(p.recreate)
    return out


def _param_of(path):
    parts = path.split('/')
    if len(parts) < 3:
        return 'name'
    return 'peers' if parts[2] in ('routes', 'neighbours', 'fdb') else parts[2]


def run(spec, netlink, check_mode=False, ethtool=None, persist=None):
    """Read, plan and (unless check mode) apply and verify. Returns (plan, device state after).

    ``netlink`` and ``ethtool`` (may be None) open the adapters in ``spec.netns``; ``persist`` (a
    ``_persist.Files``, or None): the device's networkd files and boot unit, staged before the
    kernel changes, put in place after them.
    """
    with netlink(spec.netns) as nl, _opened(ethtool, spec.netns) as et:
        p = plan(spec, nl, et)
        kernel = p.changes.changed
        if persist is not None:
            persist.plan(p.changes, *_persist.vxlan_items(spec, p.desired, RTPROT_CNI_NODE))
        if check_mode or not p.changes.changed:
            return p, p.actual

        def apply_kernel():
            return _apply_verified(p, nl, et) if kernel else p.actual
        return p, (persist.around(apply_kernel) if persist is not None else apply_kernel())


def _apply_verified(p, nl, et):
    """Apply ``p``, plan again and fail when the kernel did not keep it; the device after (None: absent)."""
    spec = p.spec
    apply(p, nl, et)
    if spec.state == 'absent':
        return None
    left = plan(spec, nl, et)
    if left.changes.changed:
        raise KernelRefused('VXLAN device %s: the kernel did not keep what was set: %s'
                            % (spec.name, ', '.join('%s is %r, not %r' % (d['path'], d['before'], d['after'])
                                                    for d in left.changes.drift[:5])),
                            param=_param_of(left.changes.drift[0]['path']))
    return left.actual


@contextlib.contextmanager
def _opened(factory, netns):
    """``factory(netns)`` entered, or None without a factory."""
    if factory is None:
        yield None
        return
    with factory(netns) as adapter:
        yield adapter
