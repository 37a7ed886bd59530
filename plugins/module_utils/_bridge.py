# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cni_bridge core: a Linux bridge and its exact set of addresses.

``Spec`` checks and normalises the module arguments (nothing is read or
changed before they are all valid). ``read`` takes the actual state from one
link dump and one address dump through the netlink adapter. ``plan``
compares both into a ``Changes`` object and a list of steps; ``apply`` runs
the steps and, when the kernel refuses one, undoes the steps already done,
so a failed run leaves the bridge as it was.

IPv6 link-local addresses (fe80::/64) that the kernel adds by itself are
neither reported nor removed unless they are listed.

No Ansible here; pyroute2 only through ``_netlink``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    ParameterError,
)
from ansible_collections.cni.node.plugins.module_utils._result import Changes

IFNAMSIZ = 16
MIN_MTU = 68
MAX_MTU = 65535
LINK_LOCAL = ipaddress.ip_network(u'fe80::/64')
_MAC = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')


def _text(value):
    try:
        return u'%s' % (value,)
    except (TypeError, ValueError):  # pragma: no cover - defensive
        return repr(value)


def check_name(name):
    if not isinstance(name, str) or not name:
        raise ParameterError('name: a bridge name is required', param='name')
    if len(name.encode('utf-8')) >= IFNAMSIZ:
        raise ParameterError('name %r is %d bytes long: a Linux interface name has at most %d'
                             % (name, len(name.encode('utf-8')), IFNAMSIZ - 1), param='name')
    if name in ('.', '..') or re.search(r'[/:\s]', name):
        raise ParameterError("name %r is not a valid interface name (no '/', ':' or whitespace; not '.' or '..')"
                             % name, param='name')
    return name


def check_mtu(mtu):
    if mtu is None:
        return None
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not MIN_MTU <= mtu <= MAX_MTU:
        raise ParameterError('mtu %r is out of range: a bridge takes %d to %d' % (mtu, MIN_MTU, MAX_MTU),
                             param='mtu')
    return mtu


def check_mac(mac):
    if mac is None:
        return None
    norm = _text(mac).strip().lower().replace('-', ':')
    if not _MAC.match(norm):
        raise ParameterError('mac %r is not a MAC address (six hex octets, e.g. 02:42:ac:11:00:01)' % (mac,),
                             param='mac')
    if int(norm[:2], 16) & 1:
        raise ParameterError('mac %r is a multicast address: a bridge needs a unicast MAC' % (mac,), param='mac')
    if norm == '00:00:00:00:00:00':
        raise ParameterError('mac %r is the zero address' % (mac,), param='mac')
    return norm


def check_addresses(addresses):
    """Normalised, sorted, de-duplicated ``address/prefix`` strings, or None."""
    if addresses is None:
        return None
    out = set()
    for item in addresses:
        text = _text(item).strip()
        if '/' not in text:
            raise ParameterError('addresses: %r has no prefix length: write it in CIDR form, e.g. 10.244.1.1/24'
                                 % (item,), param='addresses')
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError as exc:
            raise ParameterError('addresses: %r is not a valid CIDR address (%s)' % (item, exc), param='addresses')
        if iface.ip.is_multicast or iface.ip.is_unspecified:
            raise ParameterError('addresses: %r is not a unicast host address' % (item,), param='addresses')
        out.add(_fmt(iface))
    return sorted(out)


def _fmt(iface):
    return u'%s/%d' % (iface.ip.compressed, iface.network.prefixlen)


class Spec(object):
    """Validated arguments of cni_bridge."""

    def __init__(self, name, state='present', mtu=None, addresses=None, mac=None, stp=None,
                 vlan_filtering=None, up=True, netns=None):
        if state not in ('present', 'absent'):
            raise ParameterError('state %r: use present or absent' % (state,), param='state')
        self.name = check_name(name)
        self.state = state
        self.mtu = check_mtu(mtu)
        self.addresses = check_addresses(addresses)
        self.mac = check_mac(mac)
        self.stp = None if stp is None else bool(stp)
        self.vlan_filtering = None if vlan_filtering is None else bool(vlan_filtering)
        self.up = True if up is None else bool(up)
        self.netns = netns


def managed_addresses(addresses, wanted):
    """Addresses that count: kernel-made IPv6 link-local ones only when listed."""
    wanted = set(wanted or ())
    out = []
    for a in addresses:
        iface = ipaddress.ip_interface(u'%s/%d' % (a['address'], a['prefixlen']))
        text = _fmt(iface)
        if (iface.version == 6 and iface.network.prefixlen == 64 and iface.ip in LINK_LOCAL
                and text not in wanted):
            continue
        out.append(text)
    return sorted(set(out))


def read(nl, name, wanted_addresses=None):
    """Actual state of link ``name``: a dict, or None when there is no such link.

    One link dump and one address dump. A link of another kind under that
    name is refused (ParameterError naming ``name``).
    """
    link = nl.link(name)
    if link is None:
        return None
    if link['kind'] != 'bridge':
        raise ParameterError('name: a link called %r exists already and is %s, not a bridge; '
                             'the module does not replace it' % (name, 'a %s' % link['kind'] if link['kind']
                                                                 else 'of no kind (a physical device?)'),
                             param='name', kind=link['kind'])
    addrs = [a for a in nl.addresses() if a['index'] == link['index']]
    return dict(
        name=name,
        index=link['index'],
        mtu=link['mtu'],
        mac=(link['address'] or '').lower() or None,
        up=link['up'],
        stp=bool(link['br_stp_state']),
        vlan_filtering=bool(link['br_vlan_filtering']),
        addresses=managed_addresses(addrs, wanted_addresses),
        max_mtu=link.get('max_mtu'),
    )


class Step(object):
    """One netlink request, the argument it is about, and how to undo it."""

    def __init__(self, param, what, method, kwargs, undo=None):
        self.param = param
        self.what = what
        self.method = method
        self.kwargs = kwargs
        self.undo = undo


class Plan(object):
    def __init__(self, spec, actual):
        self.spec = spec
        self.actual = actual
        self.changes = Changes()
        self.create = None      # link_add kwargs when the bridge is to be made
        self.delete = False
        self.steps = []         # on an existing (or just created) bridge


def _split(cidr):
    iface = ipaddress.ip_interface(cidr)
    return iface.ip.compressed, iface.network.prefixlen


def plan(spec, actual):
    """Compare; return a Plan whose ``changes`` is exactly what ``apply`` does."""
    p = Plan(spec, actual)
    path = u'link/%s' % spec.name
    if spec.state == 'absent':
        if actual is not None:
            p.changes.add(path, 'present', 'absent')
            p.delete = True
        return p
    if actual is None:
        p.changes.add(path, 'absent', 'present')
        attrs = {}
        if spec.mtu is not None:
            attrs['mtu'] = spec.mtu
        if spec.mac is not None:
            attrs['address'] = spec.mac
        if spec.stp:
            attrs['br_stp_state'] = 1
        if spec.vlan_filtering:
            attrs['br_vlan_filtering'] = 1
        p.create = attrs
        if spec.addresses:
            p.changes.add(path + '/addresses', [], list(spec.addresses))
            for cidr in spec.addresses:
                addr, plen = _split(cidr)
                p.steps.append(Step('addresses', 'adding address %s to %s' % (cidr, spec.name), 'addr_add',
                                    dict(address=addr, prefixlen=plen)))
        if spec.up:
            p.steps.append(Step('up', 'setting %s up' % spec.name, 'link_set', dict(state='up')))
        return p

    if spec.mtu is not None and actual.get('max_mtu') and spec.mtu > actual['max_mtu']:
        raise ParameterError('mtu %d is above the largest MTU bridge %s takes now (%d)'
                             % (spec.mtu, spec.name, actual['max_mtu']), param='mtu')
    # Bridge options first: the step the kernel most likely refuses (no
    # VLAN filtering support) comes before anything else changes.
    for param, attr in (('stp', 'br_stp_state'), ('vlan_filtering', 'br_vlan_filtering')):
        want = getattr(spec, param)
        if want is not None and p.changes.add('%s/%s' % (path, param), actual[param], want):
            p.steps.append(Step(param, 'setting %s=%s on bridge %s' % (param, str(want).lower(), spec.name),
                                'link_set', {'kind': 'bridge', attr: int(want)},
                                undo={'kind': 'bridge', attr: int(actual[param])}))
    if spec.mtu is not None and p.changes.add(path + '/mtu', actual['mtu'], spec.mtu):
        p.steps.append(Step('mtu', 'setting mtu %d on %s' % (spec.mtu, spec.name), 'link_set',
                            dict(mtu=spec.mtu), undo=dict(mtu=actual['mtu'])))
    if spec.mac is not None and p.changes.add(path + '/mac', actual['mac'], spec.mac):
        p.steps.append(Step('mac', 'setting mac %s on %s' % (spec.mac, spec.name), 'link_set',
                            dict(address=spec.mac), undo=dict(address=actual['mac'])))
    if spec.addresses is not None and p.changes.add(path + '/addresses', actual['addresses'], spec.addresses):
        for cidr in actual['addresses']:
            if cidr not in spec.addresses:
                addr, plen = _split(cidr)
                p.steps.append(Step('addresses', 'removing address %s from %s' % (cidr, spec.name), 'addr_del',
                                    dict(address=addr, prefixlen=plen)))
        for cidr in spec.addresses:
            if cidr not in actual['addresses']:
                addr, plen = _split(cidr)
                p.steps.append(Step('addresses', 'adding address %s to %s' % (cidr, spec.name), 'addr_add',
                                    dict(address=addr, prefixlen=plen)))
    if p.changes.add(path + '/up', actual['up'], spec.up):
        p.steps.append(Step('up', 'setting %s %s' % (spec.name, 'up' if spec.up else 'down'), 'link_set',
                            dict(state='up' if spec.up else 'down'),
                            undo=dict(state='up' if actual['up'] else 'down')))
    return p


_UNDO = {'addr_add': 'addr_del', 'addr_del': 'addr_add'}


def _run(nl, method, what, index, kwargs):
    getattr(nl, method)(what, index, **kwargs)


def apply(p, nl):
    """Run the plan; on a kernel error undo what this run did and raise, naming the argument."""
    spec = p.spec
    if p.delete:
        nl.link_del('deleting bridge %s' % spec.name, p.actual['index'])
        return
    done = []
    created = None
    try:
        if p.create is not None:
            _tag(lambda: nl.link_add('creating bridge %s' % spec.name, spec.name, 'bridge', **p.create),
                 _create_param(p.create))
            link = nl.link(spec.name)
            if link is None:
                raise KernelRefused('creating bridge %s: the kernel reported success but the link is missing'
                                    % spec.name, param='name')
            created = link['index']
        index = created if created is not None else p.actual['index']
        for step in p.steps:
            _tag(lambda s=step: _run(nl, s.method, s.what, index, s.kwargs), step.param)
            done.append(step)
    except CniNodeError:
        _rollback(nl, spec, done, created, p.actual)
        raise


def _create_param(attrs):
    if 'br_vlan_filtering' in attrs:
        return 'vlan_filtering'
    return 'name'


def _tag(fn, param):
    try:
        fn()
    except CniNodeError as exc:
        if not exc.param:
            exc.param = param
        exc.msg = u'%s: %s' % (param, exc.msg)
        if param == 'vlan_filtering' and exc.details.get('errno') in (95, -95):
            exc.msg += (' - this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); '
                        'use vlan_filtering=false')
        raise


def _rollback(nl, spec, done, created, actual):
    if created is not None:
        try:
            nl.link_del('removing bridge %s again' % spec.name, created)
        except CniNodeError:
            pass
        return
    for step in reversed(done):
        try:
            if step.method in _UNDO:
                _run(nl, _UNDO[step.method], 'undoing: ' + step.what, actual['index'], step.kwargs)
            elif step.undo:
                _run(nl, step.method, 'undoing: ' + step.what, actual['index'], step.undo)
        except CniNodeError:
            pass


def public(actual):
    """The state returned to the user (None when absent)."""
    if actual is None:
        return None
    return dict((k, actual[k]) for k in ('name', 'mtu', 'mac', 'up', 'stp', 'vlan_filtering', 'addresses'))


def run(spec, netlink, check_mode=False):
    """Read, plan and (unless check mode) apply and verify. Returns (plan, state after)."""
    with netlink(spec.netns) as nl:
        actual = read(nl, spec.name, spec.addresses)
        p = plan(spec, actual)
        if check_mode or not p.changes.changed:
            return p, actual
        apply(p, nl)
        after = read(nl, spec.name, spec.addresses)
        left = plan(spec, after)
        if left.changes.changed:
            raise KernelRefused('bridge %s: the kernel did not keep what was set: %s'
                                % (spec.name, ', '.join('%s is %r, not %r' % (d['path'], d['before'], d['after'])
                                                        for d in left.changes.drift)),
                                param=left.changes.drift[0]['path'].rsplit('/', 1)[-1])
        return p, after
