# -*- coding: utf-8 -*-
"""cni_vxlan's tx_checksum_offload: plan, drift, check mode, apply and roll back through recording fakes.

The fake ethtool adapter records its changes into the fake netlink adapter's
list, so each test pins the order of all requests of a run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from test_link_apply import DEVICE, OLD_ADDRS, OLD_CREATE, PEERS, STALE, UNDERLAY, VX_ADDRS, FakeNetlink

from ansible_collections.cni.node.plugins.module_utils import _vxlan
from ansible_collections.cni.node.plugins.module_utils._errors import (
    KernelRefused,
    NoSuchObject,
    NotSupported,
    ParameterError,
)

FEATURE = 'tx-checksum-ip-generic'
OFF = 'setting tx checksum offload (tx-checksum-ip-generic) off on vx0'
ON = 'setting tx checksum offload (tx-checksum-ip-generic) on on vx0'
DRIFT_OFF = dict(path='vxlan/vx0/tx_checksum_offload', before='on', after='off')


class FakeEthtool(object):
    """The ethtool adapter over a dict: link index -> feature active; a new link starts with it on."""

    def __init__(self, nl, active=None, changeable=True, refuse=None, read_error=None):
        self.nl = nl
        self.active = dict(active or {})
        self.changeable = changeable
        self.refuse = refuse or (lambda what: None)
        self.read_error = read_error
        self.reads = 0

    def __call__(self, netns=None):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def feature(self, index, feature):
        assert feature == FEATURE
        self.reads += 1
        if self.read_error is not None:
            raise self.read_error
        if index not in [link['index'] for link in self.nl.links()]:
            raise NoSuchObject('reading the name of link %d: No such device (errno 19)' % index, errno=19)
        active = self.active.get(index, True)
        return dict(active=active, requested=active, changeable=self.changeable)

    def set_feature(self, what, index, feature, on):
        self.nl.calls.append(('set_feature', what, index, feature, dict(on=on)))
        error = self.refuse(what)
        if error is not None:
            raise error
        self.active[index] = on


def vx_spec(**kw):
    args = dict(name='vx0', vni=1, dev='eth0', peers=[dict(p) for p in PEERS], purge_peers=True)
    args.update(kw)
    return _vxlan.Spec(**args)


def plan_apply(nl, et, **kw):
    p = _vxlan.plan(vx_spec(**kw), nl, et)
    _vxlan.apply(p, nl, et)
    return p


def in_sync(**kw):
    """The device with all its peers' entries as the spec wants them (only the offload may differ)."""
    nl = FakeNetlink(UNDERLAY + [DEVICE], VX_ADDRS)
    p = _vxlan.plan(vx_spec(peers=None, **kw), nl)
    assert p.changes.drift == []
    return nl


def test_spec_takes_on_off_unchanged_only():
    assert vx_spec().tx_checksum_offload == 'unchanged'
    for bad in ('no', False, None, 'OFF'):
        with pytest.raises(ParameterError) as err:
            vx_spec(tx_checksum_offload=bad)
        assert err.value.param == 'tx_checksum_offload'
        assert err.value.msg == 'tx_checksum_offload %r: use on, off or unchanged' % (bad,)


def test_off_on_an_existing_device_is_one_drift_item_and_one_request_undone_to_on():
    nl = in_sync()
    et = FakeEthtool(nl)
    p = _vxlan.plan(vx_spec(peers=None, tx_checksum_offload='off'), nl, et)
    assert p.changes.drift == [DRIFT_OFF]
    assert p.actual['tx_checksum_offload'] == 'on'
    [step] = p.steps
    assert (step.param, step.method, step.target, step.kwargs, step.undo) == (
        'tx_checksum_offload', 'set_feature', 'ethtool', dict(on=False), ('set_feature', dict(on=True)))
    _vxlan.apply(p, nl, et)
    assert nl.calls == [('set_feature', OFF, 10, FEATURE, dict(on=False))]
    assert _vxlan.plan(vx_spec(peers=None, tx_checksum_offload='off'), nl, et).changes.drift == []


@pytest.mark.parametrize('want,active', [('on', True), ('off', False)])
def test_in_sync_is_no_change(want, active):
    nl = in_sync()
    et = FakeEthtool(nl, active={10: active})
    p = _vxlan.plan(vx_spec(peers=None, tx_checksum_offload=want), nl, et)
    assert p.changes.drift == [] and p.steps == [] and p.actual['tx_checksum_offload'] == want


@pytest.mark.parametrize('active', [True, False])
def test_unchanged_never_touches_it_and_still_returns_it(active):
    nl = in_sync()
    et = FakeEthtool(nl, active={10: active})
    p = plan_apply(nl, et, peers=None, mtu='1400')
    assert [c[0] for c in nl.calls] == ['link_set']
    assert p.changes.drift == [dict(path='vxlan/vx0/mtu', before=1450, after=1400)]
    assert p.actual['tx_checksum_offload'] == ('on' if active else 'off')


def test_check_mode_reports_exactly_and_sends_nothing():
    nl = in_sync()
    et = FakeEthtool(nl)
    p, after = _vxlan.run(vx_spec(peers=None, tx_checksum_offload='off'), nl, check_mode=True, ethtool=et)
    assert p.changes.drift == [DRIFT_OFF]
    assert after['tx_checksum_offload'] == 'on' and nl.calls == []
    assert _vxlan.public(p, after)['vxlan']['tx_checksum_offload'] == 'on'


def test_run_sets_verifies_and_returns_it():
    nl = in_sync()
    et = FakeEthtool(nl)
    p, after = _vxlan.run(vx_spec(peers=None, tx_checksum_offload='off'), nl, ethtool=et)
    assert p.changes.drift == [DRIFT_OFF] and after['tx_checksum_offload'] == 'off'
    assert nl.calls == [('set_feature', OFF, 10, FEATURE, dict(on=False))]
    again = _vxlan.run(vx_spec(peers=None, tx_checksum_offload='off'), nl, ethtool=et)[0]
    assert again.changes.changed is False and len(nl.calls) == 1


def test_a_kernel_that_keeps_it_fails_the_verification_naming_the_argument():
    nl = in_sync()
    et = FakeEthtool(nl)
    et.set_feature = lambda what, index, feature, on: nl.calls.append(('set_feature', what, index))
    with pytest.raises(KernelRefused) as err:
        _vxlan.run(vx_spec(peers=None, tx_checksum_offload='off'), nl, ethtool=et)
    assert err.value.param == 'tx_checksum_offload'
    assert err.value.msg == ("VXLAN device vx0: the kernel did not keep what was set: "
                             "vxlan/vx0/tx_checksum_offload is 'on', not 'off'")


def test_a_new_device_gets_it_after_its_settings_and_before_up():
    nl = FakeNetlink(UNDERLAY, VX_ADDRS)
    et = FakeEthtool(nl)
    p = plan_apply(nl, et, peers=None, tx_checksum_offload='off', addresses=['10.244.1.0/32'])
    assert dict(path='vxlan/vx0/tx_checksum_offload', before=None, after='off') in p.changes.drift
    assert [c[:2] for c in nl.calls] == [('link_add', 'creating VXLAN device vx0'), ('set_feature', OFF),
                                         ('addr_add', 'adding address 10.244.1.0/32 to vx0'),
                                         ('link_set', 'setting vx0 up')]
    assert nl.calls[1] == ('set_feature', OFF, 99, FEATURE, dict(on=False))
    assert et.active == {99: False}


def test_on_for_a_new_device_is_asked_for_too():
    nl = FakeNetlink(UNDERLAY, VX_ADDRS)
    et = FakeEthtool(nl)
    p = plan_apply(nl, et, peers=None, tx_checksum_offload='on')
    assert dict(path='vxlan/vx0/tx_checksum_offload', before=None, after='on') in p.changes.drift
    assert ('set_feature', ON, 99, FEATURE, dict(on=True)) in nl.calls


def test_unchanged_on_a_new_device_sends_nothing_to_ethtool():
    nl = FakeNetlink(UNDERLAY, VX_ADDRS)
    et = FakeEthtool(nl)
    p = plan_apply(nl, et, peers=None)
    assert [c[0] for c in nl.calls] == ['link_add', 'link_set']
    assert not [d for d in p.changes.drift if d['path'].endswith('tx_checksum_offload')]


def test_refused_on_an_existing_device_undoes_the_run_and_names_the_argument():
    nl = FakeNetlink(UNDERLAY + [DEVICE], VX_ADDRS)
    et = FakeEthtool(nl, refuse=lambda what: KernelRefused('%s: the kernel keeps tx-checksum-ip-generic on on vx0'
                                                           % what) if what == OFF else None)
    with pytest.raises(KernelRefused) as err:
        plan_apply(nl, et, peers=None, mtu='1400', tx_checksum_offload='off')
    assert err.value.param == 'tx_checksum_offload'
    assert err.value.msg == 'tx_checksum_offload: %s: the kernel keeps tx-checksum-ip-generic on on vx0' % OFF
    assert nl.calls == [
        ('link_set', 'setting mtu 1400 on vx0', 10, dict(mtu=1400)),
        ('set_feature', OFF, 10, FEATURE, dict(on=False)),
        ('link_set', 'undoing: setting mtu 1400 on vx0', 10, dict(mtu=1450)),
    ]


def test_refused_after_later_steps_is_set_back_by_the_rollback():
    nl = FakeNetlink(UNDERLAY + [DEVICE], VX_ADDRS,
                     refuse=lambda m, a, k: KernelRefused('%s: Invalid argument (errno -22)' % a[0], errno=-22)
                     if m == 'addr_add' else None)
    et = FakeEthtool(nl)
    with pytest.raises(KernelRefused) as err:
        plan_apply(nl, et, peers=None, addresses=['10.244.1.0/32'], tx_checksum_offload='off')
    assert err.value.param == 'addresses'
    assert nl.calls == [
        ('set_feature', OFF, 10, FEATURE, dict(on=False)),
        ('addr_add', 'adding address 10.244.1.0/32 to vx0', 10, '10.244.1.0', 32),
        ('set_feature', 'undoing: ' + OFF, 10, FEATURE, dict(on=True)),
    ]
    assert et.active == {10: True}


def test_refused_on_a_new_device_removes_the_device():
    nl = FakeNetlink(UNDERLAY, VX_ADDRS)
    et = FakeEthtool(nl, refuse=lambda what: NotSupported('%s: vx0 cannot change %s (fixed)' % (what, FEATURE)))
    with pytest.raises(NotSupported) as err:
        plan_apply(nl, et, tx_checksum_offload='off')
    assert err.value.param == 'tx_checksum_offload'
    assert [c[:2] for c in nl.calls] == [('link_add', 'creating VXLAN device vx0'), ('set_feature', OFF),
                                         ('link_del', 'removing VXLAN device again')]


def test_a_fixed_feature_fails_before_any_change_also_in_check_mode():
    for check in (True, False):
        nl = in_sync()
        et = FakeEthtool(nl, changeable=False)
        with pytest.raises(NotSupported) as err:
            _vxlan.run(vx_spec(peers=None, mtu='1400', tx_checksum_offload='off'), nl, check_mode=check, ethtool=et)
        assert err.value.param == 'tx_checksum_offload'
        assert err.value.msg == ('tx_checksum_offload: vx0 cannot change tx-checksum-ip-generic: it is fixed on '
                                 'by its driver')
        assert nl.calls == []
    # As it is wanted: nothing to change, nothing refused.
    assert _vxlan.plan(vx_spec(peers=None, tx_checksum_offload='on'), nl, et).changes.drift == []


def test_a_read_error_fails_naming_the_argument_unless_unchanged():
    nl = in_sync()
    et = FakeEthtool(nl, read_error=NotSupported('reading feature tx-checksum-ip-generic of vx0: no such feature'))
    with pytest.raises(NotSupported) as err:
        _vxlan.plan(vx_spec(peers=None, tx_checksum_offload='off'), nl, et)
    assert err.value.param == 'tx_checksum_offload'
    assert err.value.msg.startswith('tx_checksum_offload: reading feature')
    p = _vxlan.plan(vx_spec(peers=None), nl, et)
    assert p.changes.drift == [] and p.actual['tx_checksum_offload'] is None


def test_without_the_adapter_only_unchanged_is_possible():
    nl = in_sync()
    assert _vxlan.plan(vx_spec(peers=None), nl).actual['tx_checksum_offload'] is None
    with pytest.raises(ParameterError) as err:
        _vxlan.plan(vx_spec(peers=None, tx_checksum_offload='off'), nl)
    assert err.value.param == 'tx_checksum_offload'


def test_absent_reads_nothing():
    nl = in_sync()
    et = FakeEthtool(nl)
    p = plan_apply(nl, et, state='absent', vni=None, dev=None, peers=None, tx_checksum_offload='off')
    assert p.changes.drift == [dict(path='vxlan/vx0', before='present', after='absent')] and et.reads == 0


def test_recreate_tells_the_change_against_the_old_device_and_sets_it_on_the_new_one():
    nl = FakeNetlink(UNDERLAY + [DEVICE], VX_ADDRS)
    et = FakeEthtool(nl)
    p = plan_apply(nl, et, peers=None, vni=2, tx_checksum_offload='off')
    assert DRIFT_OFF in p.changes.drift and p.recreate == ['vni']
    assert [c[:2] for c in nl.calls] == [
        ('link_del', 'deleting VXLAN device vx0 to re-create it (vni changed)'),
        ('link_add', 'creating VXLAN device vx0'), ('set_feature', OFF), ('link_set', 'setting vx0 up')]
    assert nl.calls[2] == ('set_feature', OFF, 99, FEATURE, dict(on=False))


def test_recreate_with_unchanged_keeps_it_off_on_the_new_device_and_tells_nothing():
    nl = FakeNetlink(UNDERLAY + [DEVICE], VX_ADDRS)
    et = FakeEthtool(nl, active={10: False})
    p = plan_apply(nl, et, peers=None, vni=2)
    assert not [d for d in p.changes.drift if d['path'].endswith('tx_checksum_offload')]
    assert nl.calls[2] == ('set_feature', OFF, 99, FEATURE, dict(on=False))
    # On, it is the kernel's default for a new device: nothing to send.
    nl = FakeNetlink(UNDERLAY + [DEVICE], VX_ADDRS)
    plan_apply(nl, FakeEthtool(nl), peers=None, vni=2)
    assert 'set_feature' not in [c[0] for c in nl.calls]


def test_refused_recreate_restores_the_old_device_with_it_off():
    nl = FakeNetlink(UNDERLAY + [DEVICE], OLD_ADDRS, **STALE)
    et = FakeEthtool(nl, active={10: False}, refuse=lambda what: KernelRefused(
        '%s: the kernel keeps it on' % what) if what == OFF else None)
    with pytest.raises(KernelRefused) as err:
        plan_apply(nl, et, vni=2, peers=None)
    assert err.value.param == 'tx_checksum_offload'
    assert err.value.msg == (
        'tx_checksum_offload: %s: the kernel keeps it on; the old VXLAN device vx0 was restored (vni 1, port 4789, '
        'local 192.168.10.11, dev eth0, mtu 1450, mac 0e:04:c0:a8:0a:0b, learning off, tx checksum offload off, '
        '1 address, 1 route, 1 neighbour, 1 fdb entry, up)' % OFF)
    assert [c[:2] for c in nl.calls[:4]] == [
        ('link_del', 'deleting VXLAN device vx0 to re-create it (vni changed)'),
        ('link_add', 'creating VXLAN device vx0'), ('set_feature', OFF), ('link_del', 'removing VXLAN device again')]
    assert nl.calls[4] == ('link_add', 'restoring: creating VXLAN device vx0 as it was', 'vx0', 'vxlan', OLD_CREATE)
    assert nl.calls[5:7] == [('link_set', 'restoring: setting mtu 1450 on vx0', 100, dict(mtu=1450)),
                             ('set_feature', 'restoring: ' + OFF, 100, FEATURE, dict(on=False))]
    assert err.value.details['restored'] == dict(device=True, refused=[])
    assert et.active[100] is False
