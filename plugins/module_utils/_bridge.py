# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cni_bridge core: a Linux bridge and its exact set of addresses.

``Spec`` checks and normalises the module arguments (nothing is read or
changed before they are all valid). ``read`` takes the actual state from one
link dump and one address dump through the netlink adapter. ``plan``
compares both into a ``Changes`` object and a list of steps; ``apply`` runs
the steps (``_steps.Runner``) and, when the kernel refuses one, undoes the
steps already done, so a failed run leaves the bridge as it was.

IPv6 link-local addresses (fe80::/64) that the kernel adds by itself are
neither reported nor removed unless they are listed.

A managed MTU is set so that the kernel keeps it when ports join, leave or
change theirs (``detour_mtu``).

No Ansible here; pyroute2 only through ``_netlink``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.cni.node.plugins.module_utils import _ifname, _linkargs, _persist
from ansible_collections.cni.node.plugins.module_utils._errors import (
    KernelRefused,
    ParameterError,
)
from ansible_collections.cni.node.plugins.module_utils._result import Changes
from ansible_collections.cni.node.plugins.module_utils._steps import DEVICE, INVERSE, Runner, Step, inverse_step


class Spec(object):
    """Validated arguments of cni_bridge."""

    def __init__(self, name, state='present', mtu=None, addresses=None, mac=None, stp=None,
                 vlan_filtering=None, up=True, netns=None):
        if state not in ('present', 'absent'):
            raise ParameterError('state %r: use present or absent' % (state,), param='state')
        self.name = _ifname.check_ifname(name, 'name', 'a bridge name')
        self.state = state
        self.mtu = _linkargs.check_mtu(mtu, 'mtu', 'a bridge')
        self.addresses = _linkargs.check_addresses(addresses, 'addresses', '10.244.1.1/24')
        self.mac = _linkargs.check_mac(mac, 'mac', 'a bridge')
        self.stp = None if stp is None else bool(stp)
        self.vlan_filtering = None if vlan_filtering is None else bool(vlan_filtering)
        self.up = True if up is None else bool(up)
        self.netns = netns


def read(nl, name, wanted_addresses=None, state='present', netns=None):
    """Actual state of link ``name``: a dict, or None when there is no such link.

    One link dump and one address dump. A link of another kind under that
    name is refused (ParameterError naming ``name``), also with
    state=absent: the module never deletes it.
    """
    link = nl.link(name)
    if link is None:
        return None
    if link['kind'] != 'bridge':
        raise _ifname.taken(name, link['kind'], 'a bridge', state, netns)
    addrs = [a for a in nl.addresses() if a['index'] == link['index']]
    return dict(
        name=name,
        index=link['index'],
        mtu=link['mtu'],
        mac=(link['address'] or '').lower() or None,
        up=link['up'],
        stp=bool(link['br_stp_state']),
        vlan_filtering=bool(link['br_vlan_filtering']),
        addresses=_linkargs.managed_addresses(addrs, wanted_addresses),
        max_mtu=link.get('max_mtu'),
    )


class Plan(object):
    def __init__(self, spec, actual):
        self.spec = spec
        self.actual = actual
        self.changes = Changes()
        self.create = None      # link_add kwargs when the bridge is to be made
        self.delete = False
        self.steps = []         # on an existing (or just created) bridge


IPV6_MIN_MTU = 1280   # below it the kernel takes IPv6 off a link
# Adds that count as done when the kernel has the object already: with
# persist, systemd-networkd (when it runs) configures a bridge it has a
# .network file for as soon as the link appears, concurrently with the run
# (see _steps.Runner; the read after the run checks the result).
EXISTS_OK = ('addr_add',)


def detour_mtu(mtu):
    """The MTU a new bridge is created with when ``mtu`` is wanted: one next to it, never ``mtu`` itself.

    The kernel keeps a bridge's MTU when ports join, leave or change theirs
    only when it counts the MTU as set by the user (``BROPT_MTU_SET_BY_USER``),
    and it sets that mark only in the bridge's MTU change handler. An MTU in
    the create request (IFLA_MTU) bypasses the handler, and so does a set to
    the MTU the bridge already has (the kernel returns early on an equal
    value); an unmarked bridge follows the smallest MTU of its ports, so its
    MTU flaps between the first port that joins and the next run.

    So a new bridge is created with this detour MTU and then set to ``mtu``
    in a step of its own: a real change, which the handler marks. The detour
    is in the create request rather than a third request (create, set the
    detour, set ``mtu``): one request fewer, and it does not depend on the
    kernel's default MTU for a new bridge. The new bridge is down, without
    ports or addresses, until the step that follows, so the detour carries
    no traffic; it never appears in the result (the plan's changes know only
    ``mtu``, and the bridge returned is read after the run). It stays on the
    same side of IPV6_MIN_MTU as ``mtu`` (up from 1280 and more, down from
    less), so the kernel's IPv6 state of the link is as for ``mtu`` alone.
    """
    if mtu >= IPV6_MIN_MTU:
        return mtu + 1 if mtu < _linkargs.MAX_MTU else mtu - 1
    return mtu - 1 if mtu > _linkargs.MIN_MTU else mtu + 1


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
            # Created with another MTU, then set to the wanted one: see detour_mtu.
            attrs['mtu'] = detour_mtu(spec.mtu)
            p.steps.append(_step('mtu', 'setting mtu %d on %s' % (spec.mtu, spec.name), 'link_set',
                                 dict(mtu=spec.mtu)))
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
                addr, plen = _linkargs.split_cidr(cidr)
                p.steps.append(_step('addresses', 'adding address %s to %s' % (cidr, spec.name), 'addr_add',
                                     dict(address=addr, prefixlen=plen)))
        if spec.up:
            p.steps.append(_step('up', 'setting %s up' % spec.name, 'link_set', dict(state='up')))
        return p

    if spec.mtu is not None and actual.get('max_mtu') and spec.mtu > actual['max_mtu']:
        raise ParameterError('mtu %d is above the largest MTU bridge %s takes now (%d)'
                             % (spec.mtu, spec.name, actual['max_mtu']), param='mtu')
    # Bridge options first: the step the kernel most likely refuses (no
    # VLAN filtering support) comes before anything else changes.
    for param, attr in (('stp', 'br_stp_state'), ('vlan_filtering', 'br_vlan_filtering')):
        want = getattr(spec, param)
        if want is not None and p.changes.add('%s/%s' % (path, param), actual[param], want):
            p.steps.append(_step(param, 'setting %s=%s on bridge %s' % (param, str(want).lower(), spec.name),
                                 'link_set', {'kind': 'bridge', attr: int(want)},
                                 undo={'kind': 'bridge', attr: int(actual[param])}))
    # An existing bridge whose MTU already is spec.mtu is left alone, even
    # when the kernel does not count that MTU as set by the user (a bridge
    # created with IFLA_MTU by a version before detour_mtu, or by another
    # tool): no netlink attribute (IFLA_BR_*, IFLA_BR_MULTI_BOOLOPT) or sysfs
    # file tells, and making sure (another MTU, then this one) would change
    # a live bridge on every run. If a port moves it later, the next run
    # sees the drift and sets it back with a real change, which the kernel
    # marks: one repair, not a flap.
    if spec.mtu is not None and p.changes.add(path + '/mtu', actual['mtu'], spec.mtu):
        p.steps.append(_step('mtu', 'setting mtu %d on %s' % (spec.mtu, spec.name), 'link_set',
                             dict(mtu=spec.mtu), undo=dict(mtu=actual['mtu'])))
    if spec.mac is not None and p.changes.add(path + '/mac', actual['mac'], spec.mac):
        p.steps.append(_step('mac', 'setting mac %s on %s' % (spec.mac, spec.name), 'link_set',
                             dict(address=spec.mac), undo=dict(address=actual['mac'])))
    if spec.addresses is not None and p.changes.add(path + '/addresses', actual['addresses'], spec.addresses):
        for cidr in actual['addresses']:
            if cidr not in spec.addresses:
                addr, plen = _linkargs.split_cidr(cidr)
                p.steps.append(_step('addresses', 'removing address %s from %s' % (cidr, spec.name), 'addr_del',
                                     dict(address=addr, prefixlen=plen)))
        for cidr in spec.addresses:
            if cidr not in actual['addresses']:
                addr, plen = _linkargs.split_cidr(cidr)
                p.steps.append(_step('addresses', 'adding address %s to %s' % (cidr, spec.name), 'addr_add',
                                     dict(address=addr, prefixlen=plen)))
    if p.changes.add(path + '/up', actual['up'], spec.up):
        p.steps.append(_step('up', 'setting %s %s' % (spec.name, 'up' if spec.up else 'down'), 'link_set',
                             dict(state='up' if spec.up else 'down'),
                             undo=dict(state='up' if actual['up'] else 'down')))
    return p


def _step(param, what, method, kwargs, undo=None):
    """A request on the bridge. An address is undone by its inverse; a setting by ``undo`` (old values)."""
    if method in INVERSE:
        return inverse_step(param, method, [what, DEVICE], kwargs)
    return Step(param, method, [what, DEVICE], kwargs, undo=(method, undo) if undo else None)


def apply(p, nl):
    """Run the plan; on a kernel error undo what this run did and raise, naming the argument."""
    spec = p.spec
    if p.delete:
        nl.link_del('deleting bridge %s' % spec.name, p.actual['index'])
        return
    runner = Runner(nl, device=p.actual['index'] if p.actual else None, hint=_hint, exists_ok=EXISTS_OK)
    try:
        if p.create is not None:
            runner.create('creating bridge %s' % spec.name, spec.name, 'bridge', p.create, _create_param(p.create))
        runner.run(p.steps)
    except Exception:
        # Any error, not only the kernel's (a bug, an encoder's ValueError):
        # a bridge the run created goes with everything done on it.
        runner.rollback('removing bridge %s again' % spec.name)
        raise


def _create_param(attrs):
    if 'br_vlan_filtering' in attrs:
        return 'vlan_filtering'
    return 'name'


def _hint(exc, param):
    if param == 'vlan_filtering' and exc.details.get('errno') in (95, -95):
        exc.msg += (' - this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); '
                    'use vlan_filtering=false')


def public(actual):
    """The state returned to the user (None when absent)."""
    if actual is None:
        return None
    return dict((k, actual[k]) for k in ('name', 'mtu', 'mac', 'up', 'stp', 'vlan_filtering', 'addresses'))


def run(spec, netlink, check_mode=False, persist=None):
    """Read, plan and (unless check mode) apply and verify. Returns (plan, state after).

    ``persist`` (a ``_persist.Files``, or None): the bridge's networkd
    files, planned with the kernel's changes, staged before them and put in
    place after them.
    """
    with netlink(spec.netns) as nl:
        actual = read(nl, spec.name, spec.addresses, spec.state, spec.netns)
        p = plan(spec, actual)
        kernel = p.changes.changed
        if persist is not None:
            persist.plan(p.changes, _persist.bridge_items(spec))
        if check_mode or not p.changes.changed:
            return p, actual

        def apply_kernel():
            return _apply_verified(p, nl) if kernel else actual
        return p, (persist.around(apply_kernel) if persist is not None else apply_kernel())


def _apply_verified(p, nl):
    """Apply ``p``, read the bridge again and fail when the kernel did not keep it; the bridge after."""
    spec = p.spec
    apply(p, nl)
    after = read(nl, spec.name, spec.addresses)
    left = plan(spec, after)
    if left.changes.changed:
        raise KernelRefused('bridge %s: the kernel did not keep what was set: %s'
                            % (spec.name, ', '.join('%s is %r, not %r' % (d['path'], d['before'], d['after'])
                                                    for d in left.changes.drift)),
                            param=left.changes.drift[0]['path'].rsplit('/', 1)[-1])
    return after
