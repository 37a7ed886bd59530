# -*- coding: utf-8 -*-
"""The step runner of the link cores: steps run in order, refusals named, rollback newest first (no kernel
needed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _steps
from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    NoSuchObject,
    ObjectExists,
)
from ansible_collections.cni.node.plugins.module_utils._steps import DEVICE, Runner, Step


class Recorder(object):
    """An adapter that records calls; ``refuse`` holds what-texts to refuse, ``broken`` breaks ``batch``."""

    def __init__(self, refuse=(), broken=False, links=None):
        self.calls = []
        self.refuse = set(refuse)
        self.broken = broken
        self.links = links if links is not None else {}

    def _error(self, method, args):
        if args[0] in self.refuse:
            return KernelRefused('%s: Invalid argument (errno -22)' % args[0], errno=-22)
        return None

    def __getattr__(self, method):
        if method.startswith('_'):
            raise AttributeError(method)

        def call(*args, **kwargs):
            self.calls.append((method,) + args)
            error = self._error(method, args)
            if error is not None:
                raise error
        return call

    def link_add(self, what, name, kind, **attrs):
        self.calls.append(('link_add', what, name, kind))
        error = self._error('link_add', (what,))
        if error is not None:
            raise error
        self.links.setdefault(name, 42)

    def link(self, name):
        return dict(index=self.links[name]) if name in self.links else None

    def batch(self, calls):
        self.calls.append(('batch', [(m,) + tuple(a) for m, a, k in calls]))
        if self.broken:
            raise CniNodeError('batch: broken pipe')
        return [self._error(m, a) for m, a, k in calls]


def step(name, param='p', method='link_set', undo=True):
    return Step(param, method, [name, DEVICE], {}, undo=(method + '_undo', {}) if undo else None)


def test_steps_run_in_order_with_the_device_resolved():
    nl = Recorder()
    runner = Runner(nl, device=7)
    runner.run([step('a'), step('b')])
    assert nl.calls == [('link_set', 'a', 7), ('link_set', 'b', 7)]
    assert [s.what for s in runner.done] == ['a', 'b']


def test_a_refused_step_names_its_argument_and_the_rollback_goes_newest_first():
    nl = Recorder(refuse=['c', 'undoing: b'])
    runner = Runner(nl, device=7)
    steps = [step('a', 'mtu'), step('b', 'mac'), step('n', undo=False),
             Step('addresses', 'addr_add', ['x', DEVICE, '10.0.0.1', 24], {}, undo=('addr_del', ['u', 9], {})),
             step('c', 'up'), step('d')]
    with pytest.raises(KernelRefused) as err:
        runner.run(steps)
    assert err.value.param == 'up' and err.value.msg == 'up: c: Invalid argument (errno -22)'
    assert [s.what for s in runner.done] == ['a', 'b', 'n', 'x']
    del nl.calls[:]
    runner.rollback('removing it again')
    # Refused undo of b does not stop the undo of a; n has no undo; x's undo has its own arguments.
    assert nl.calls == [('addr_del', 'undoing: x', 9), ('link_set_undo', 'undoing: b', 7),
                        ('link_set_undo', 'undoing: a', 7)]


def test_an_error_that_names_its_argument_keeps_it_and_a_hint_can_add_advice():
    def fail():
        raise NoSuchObject('no such device', param='dev')

    def hint(exc, param):
        exc.msg += ' (hint for %s)' % param

    with pytest.raises(NoSuchObject) as err:
        _steps.tag(fail, 'mtu', hint)
    assert err.value.param == 'dev' and err.value.msg == 'mtu: no such device (hint for mtu)'
    assert _steps.tag(lambda: 5, 'mtu') == 5


def test_a_created_link_is_removed_on_rollback_and_only_what_outlives_it_is_undone():
    nl = Recorder(refuse=['d'])
    runner = Runner(nl)
    link = runner.create('creating x0', 'x0', 'dummy', {}, 'name')
    assert link == dict(index=42) and runner.device == 42 and runner.created == 42
    keep = Step('peers', 'route_add', ['r', '10.1.0.0/16', 3], {}, undo=('route_del', {}))
    with pytest.raises(KernelRefused):
        runner.run([step('a'), keep, step('d')])
    del nl.calls[:]
    runner.rollback('removing x0 again')
    assert nl.calls == [('link_del', 'removing x0 again', 42), ('route_del', 'undoing: r', '10.1.0.0/16', 3)]


def test_by_default_the_rollback_of_a_created_link_undoes_every_step_not_on_it():
    """Steps that name DEVICE go with the deleted link; any other one (a route through another link,
    added or deleted by the run) is undone, newest first, bulk ones in one request."""
    nl = Recorder(refuse=['d'])
    runner = Runner(nl, batched=('route_add', 'route_del'))
    runner.create('creating x0', 'x0', 'dummy', {}, 'name')
    gone = Step('peers', 'route_del', ['old', '10.2.0.0/16', 3], dict(gateway='192.0.2.9'),
                undo=('route_add', dict(gateway='192.0.2.9')))
    added = Step('peers', 'route_add', ['new', '10.3.0.0/16', 3], {}, undo=('route_del', {}))
    tunnel = Step('peers', 'route_add', ['tun', '10.4.0.0/16', DEVICE], {}, undo=('route_del', {}))
    assert [s.on_device for s in (gone, added, tunnel, step('a'))] == [False, False, True, True]
    with pytest.raises(KernelRefused):
        runner.run([step('a'), gone, added, tunnel, step('d')])
    del nl.calls[:]
    runner.rollback('removing x0 again')
    assert nl.calls == [('link_del', 'removing x0 again', 42),
                        ('batch', [('route_del', 'undoing: new', '10.3.0.0/16', 3),
                                   ('route_add', 'undoing: old', '10.2.0.0/16', 3)])]


def test_create_refused_names_the_param_and_a_missing_link_names_name():
    runner = Runner(Recorder(refuse=['creating x0']))
    with pytest.raises(KernelRefused) as err:
        runner.create('creating x0', 'x0', 'dummy', {}, 'mtu')
    assert err.value.param == 'mtu' and err.value.msg.startswith('mtu: creating x0: ')
    assert runner.created is None

    class Lost(Recorder):
        def link(self, name):
            return None
    nl = Lost()
    runner = Runner(nl)
    with pytest.raises(KernelRefused) as err:
        runner.create('creating x0', 'x0', 'dummy', {}, 'mtu')
    assert err.value.param == 'name'
    assert err.value.msg == "name: creating x0: the kernel reported success but there is no link called 'x0'"
    assert runner.created is None and runner.device is None
    del nl.calls[:]
    runner.rollback('removing x0 again')
    assert nl.calls == []


class Flaky(Recorder):
    """Reading a link fails once (after the link was made); later reads see ``found``."""

    def __init__(self, found, error=None):
        super(Flaky, self).__init__()
        self.found = found
        self.error = error or CniNodeError('listing links: No buffer space available (errno -105)')
        self.reads = 0

    def link(self, name):
        self.reads += 1
        if self.reads == 1:
            raise self.error
        return self.found


@pytest.mark.parametrize('error', [CniNodeError('listing links: No buffer space available (errno -105)'),
                                   KeyError('ifname')])
def test_a_link_made_but_not_read_is_deleted_by_the_rollback_when_found_by_name_and_kind(error):
    nl = Flaky(dict(index=42, name='x0', kind='dummy'), error)
    runner = Runner(nl)
    with pytest.raises(type(error)) as err:
        runner.create('creating x0', 'x0', 'dummy', {}, 'mtu')
    if isinstance(error, CniNodeError):
        assert err.value.param == 'name'
        assert err.value.msg == 'name: listing links: No buffer space available (errno -105)'
    assert runner.created is None and runner.made == ('x0', 'dummy')
    del nl.calls[:]
    runner.rollback('removing x0 again')
    assert nl.calls == [('link_del', 'removing x0 again', 42)]


@pytest.mark.parametrize('found', [None, dict(index=43, name='x0', kind='veth')])
def test_a_link_made_but_not_read_is_never_deleted_unless_found_as_made(found):
    """Not there, or of another kind: not the run's link, nothing is deleted."""
    nl = Flaky(found)
    runner = Runner(nl)
    with pytest.raises(CniNodeError):
        runner.create('creating x0', 'x0', 'dummy', {}, 'mtu')
    del nl.calls[:]
    runner.rollback('removing x0 again')
    assert nl.calls == []


def test_the_rollback_goes_on_past_any_error_while_undoing():
    class Broken(Recorder):
        def link_del(self, what, index):
            self.calls.append(('link_del', what, index))
            raise ValueError('not an adapter error')

        def batch(self, calls):
            super(Broken, self).batch(calls)
            raise KeyError('dst')
    nl = Broken()
    runner = Runner(nl, batched=BATCHED)
    runner.create('creating x0', 'x0', 'dummy', {}, 'name')
    runner.done = [Step('peers', 'route_add', ['r', '10.1.0.0/16', 3], {}, undo=('route_del', {})),
                   Step('mtu', 'link_set', ['m', 3], {}, undo=('link_set', dict(mtu=1500)))]
    del nl.calls[:]
    runner.rollback('removing x0 again')
    assert nl.calls == [('link_del', 'removing x0 again', 42), ('batch', [('route_del', 'undoing: r', '10.1.0.0/16', 3)]),
                        ('link_set', 'undoing: m', 3)]


BATCHED = ('route_add', 'route_del')


def test_batch_keeps_what_the_kernel_took_and_raises_the_first_refusal_with_a_count():
    nl = Recorder(refuse=['r2', 'r3'])
    runner = Runner(nl, device=5, batched=BATCHED)
    steps = [Step('peers', 'route_add', ['r%d' % i, 'dst%d' % i, DEVICE], {}, undo=('route_del', {}))
             for i in range(1, 5)]
    with pytest.raises(KernelRefused) as err:
        runner.run_batch(steps, 'peers', 'peer entries')
    assert err.value.param == 'peers'
    assert err.value.msg == 'peers: r2: Invalid argument (errno -22) (and 1 more peer entries refused)'
    assert [s.what for s in runner.done] == ['r1', 'r4']
    del nl.calls[:]
    runner.rollback('unused')
    assert nl.calls == [('batch', [('route_del', 'undoing: r4', 'dst4', 5), ('route_del', 'undoing: r1', 'dst1', 5)])]


def test_one_refusal_in_a_batch_has_no_count():
    runner = Runner(Recorder(refuse=['r1']), batched=BATCHED)
    with pytest.raises(KernelRefused) as err:
        runner.run_batch([Step('peers', 'route_add', ['r1'], {})], 'peers', 'peer entries')
    assert err.value.msg == 'peers: r1: Invalid argument (errno -22)'


def test_a_broken_batch_counts_as_done_and_its_error_names_the_param():
    nl = Recorder(broken=True)
    runner = Runner(nl, device=5, batched=BATCHED)
    runner.run([step('a')])
    steps = [Step('peers', 'route_add', ['r1', 'dst1', DEVICE], {}, undo=('route_del', {}))]
    with pytest.raises(CniNodeError) as err:
        runner.run_batch(steps, 'peers')
    assert err.value.msg == 'peers: batch: broken pipe' and err.value.param == 'peers'
    assert runner.done[-1] is steps[0]
    del nl.calls[:]
    runner.rollback('unused')   # the broken batch of undos is ignored; single undos still run after it
    assert nl.calls == [('batch', [('route_del', 'undoing: r1', 'dst1', 5)]), ('link_set_undo', 'undoing: a', 5)]


def test_steps_print_readably():
    assert repr(step('a')) == "Step('p', 'link_set', ['a', DEVICE], {}, undo=('link_set_undo', {}))"


def test_replay_goes_on_past_refusals_single_steps_first_then_one_bulk_request():
    nl = Recorder(refuse=['b'])
    runner = Runner(nl, device=7, batched=('route_add',))
    route = Step('peers', 'route_add', ['r', '10.1.0.0/16', DEVICE], {})
    refused = runner.replay([step('a'), route, step('b'), step('c')])
    assert refused == ['b: Invalid argument (errno -22)']
    assert nl.calls == [('link_set', 'a', 7), ('link_set', 'b', 7), ('link_set', 'c', 7),
                        ('batch', [('route_add', 'r', '10.1.0.0/16', 7)])]


# Named targets: more than one adapter -----------------------------------------

class Opener(object):
    """A callable that opens ``adapter`` as a context manager, counting opens and closes."""

    def __init__(self, adapter):
        self.adapter = adapter
        self.opened = self.closed = 0

    def __call__(self):
        self.opened += 1
        return self

    def __enter__(self):
        return self.adapter

    def __exit__(self, *exc_info):
        self.closed += 1
        return False


LO, END, PEER = _steps.Placeholder('lo'), _steps.Placeholder('inner'), _steps.Placeholder('peer')


def on(target, name, link, undo=True, param='p'):
    return Step(param, 'link_set', [name, link], {}, undo=('link_set_undo', {}) if undo else None, target=target)


def test_steps_go_through_their_targets_adapter_opened_when_first_needed_and_closed_at_the_end():
    host, inside = Recorder(), Recorder()
    opener = Opener(inside)
    with Runner(host, targets={'host': host}, opens={'ns': opener}) as runner:
        runner.bind(LO, 1)
        runner.bind(PEER, 7)
        runner.run([on('host', 'a', PEER)])
        assert opener.opened == 0
        runner.run([on('ns', 'b', LO), on(None, 'c', PEER), on('ns', 'd', LO)])
        assert runner.adapter('ns') is inside and opener.opened == 1 and opener.closed == 0
    assert opener.closed == 1
    assert host.calls == [('link_set', 'a', 7), ('link_set', 'c', 7)]
    assert inside.calls == [('link_set', 'b', 1), ('link_set', 'd', 1)]


def test_placeholders_stand_in_args_and_kwargs_and_an_unbound_one_is_a_gone_link():
    nl = Recorder()
    runner = Runner(nl)
    runner.bind(END, 4)
    route = _steps.inverse_step('veth.routes', 'route_add', ['r'], dict(dst='10.0.0.0/8', oif=END))
    assert route.placeholders == set([END]) and not route.on_device
    runner.run([route])
    assert runner.done == [route]
    runner.bind(END, None)
    with pytest.raises(NoSuchObject) as err:
        runner.run([on(None, 'setting mtu on eth0', END, param='veth.mtu')])
    assert err.value.param == 'veth.mtu' and err.value.msg == 'setting mtu on eth0: link inner is gone'
    with pytest.raises(NoSuchObject) as err:
        runner.run([on(None, 'x', PEER)])      # never bound
    assert err.value.msg == 'x: link peer is gone'
    assert nl.calls == [('route_add', 'r')] and runner.done == [route]
    del nl.calls[:]
    runner.bind(END, 4)
    runner.rollback('unused')
    assert nl.calls == [('route_del', 'undoing: r')]


def test_a_made_link_takes_the_steps_on_any_of_its_placeholders_along():
    """A veth pair the run made: deleting one end (through its target's adapter) takes both ends' steps."""
    host, inside = Recorder(), Recorder()
    runner = Runner(None, targets={'outer': host, 'inner': inside})
    runner.made_link(20, (PEER, END), 'outer')
    for placeholder, index in ((LO, 1), (END, 21), (PEER, 20)):
        runner.bind(placeholder, index)
    runner.run([on('outer', 'peer up', PEER), on('inner', 'lo up', LO), on('inner', 'end up', END)])
    runner.rollback('removing veth vh0 again')
    assert host.calls == [('link_set', 'peer up', 20), ('link_del', 'removing veth vh0 again', 20)]
    assert inside.calls == [('link_set', 'lo up', 1), ('link_set', 'end up', 21), ('link_set_undo', 'undoing: lo up', 1)]


def test_the_steps_through_a_target_the_run_made_are_not_undone():
    """A namespace the run made goes with everything in it; the steps elsewhere are undone."""
    host, inside = Recorder(), Recorder()
    runner = Runner(host, opens={'inner': Opener(inside)})
    runner.made_target('inner')
    runner.bind(LO, 1)
    runner.bind(PEER, 7)
    runner.run([on(None, 'peer up', PEER), on('inner', 'lo up', LO)])
    del host.calls[:], inside.calls[:]
    runner.rollback('unused')
    assert host.calls == [('link_set_undo', 'undoing: peer up', 7)] and inside.calls == []


def test_undos_newest_first_across_targets_bulk_ones_per_target_first():
    host, inside = Recorder(), Recorder()
    runner = Runner(host, batched=BATCHED, targets={'inner': inside})
    runner.done = [
        _steps.inverse_step('peers', 'route_add', ['r1', '10.1.0.0/16', 3]),
        on('inner', 'a', 5),
        _steps.inverse_step('peers', 'route_del', ['r2', '10.2.0.0/16', 4], target='inner'),
        on(None, 'b', 3),
        _steps.inverse_step('peers', 'route_add', ['r3', '10.3.0.0/16', 3]),
    ]
    runner.rollback('unused')
    assert host.calls == [('batch', [('route_del', 'undoing: r3', '10.3.0.0/16', 3),
                                     ('route_del', 'undoing: r1', '10.1.0.0/16', 3)]),
                          ('link_set_undo', 'undoing: b', 3)]
    assert inside.calls == [('batch', [('route_add', 'undoing: r2', '10.2.0.0/16', 4)]),
                            ('link_set_undo', 'undoing: a', 5)]


def test_an_error_that_starts_with_its_argument_already_is_not_named_twice():
    def fail():
        raise KernelRefused('name: cannot access /run/netns/x')
    with pytest.raises(KernelRefused) as err:
        _steps.tag(fail, 'name')
    assert err.value.msg == 'name: cannot access /run/netns/x' and err.value.param == 'name'


def test_inverse_steps_and_targets_print_readably():
    step = _steps.inverse_step('veth.addresses', 'addr_add', ['x', END], dict(address='10.0.0.1', prefixlen=24),
                               'inner')
    assert step.undo == ('addr_del', dict(address='10.0.0.1', prefixlen=24))
    assert repr(step) == ("Step('veth.addresses', 'addr_add', ['x', inner], {'address': '10.0.0.1', "
                          "'prefixlen': 24}, undo=('addr_del', {'address': '10.0.0.1', 'prefixlen': 24}), "
                          "target='inner')")


class Existing(Recorder):
    """Refuses the what-texts of ``exists`` as the kernel refuses an object that is there already."""

    def __init__(self, exists=(), **kwargs):
        super(Existing, self).__init__(**kwargs)
        self.exists = set(exists)

    def _error(self, method, args):
        if args[0] in self.exists:
            return ObjectExists('%s: File exists (errno 17)' % args[0], errno=17)
        return super(Existing, self)._error(method, args)


def test_an_add_refused_as_existing_is_skipped_only_when_exists_ok_and_never_undone():
    steps = [Step('addresses', 'addr_add', ['a1', DEVICE, '10.0.0.1', 24], {}, undo=('addr_del', {})),
             Step('addresses', 'addr_add', ['a2', DEVICE, '10.0.0.2', 24], {}, undo=('addr_del', {})),
             step('up', 'up')]
    runner = Runner(Existing(exists=['a1']), device=3, exists_ok=('addr_add',))
    runner.run(steps)
    assert [s.what for s in runner.done] == ['a2', 'up']   # a1: another agent's, so not undone
    with pytest.raises(ObjectExists) as err:
        Runner(Existing(exists=['a1']), device=3).run(steps)
    assert err.value.param == 'addresses'
    # Only the methods named: a link_set refused as existing still fails.
    with pytest.raises(ObjectExists):
        Runner(Existing(exists=['up']), device=3, exists_ok=('addr_add',)).run(steps)


def test_a_batch_add_refused_as_existing_is_skipped_other_refusals_still_raise():
    steps = [Step('peers', 'route_add', ['r%d' % i, 'dst%d' % i, DEVICE], {}, undo=('route_del', {}))
             for i in range(1, 4)]
    runner = Runner(Existing(exists=['r1']), device=5, batched=BATCHED, exists_ok=('route_add',))
    runner.run_batch(steps, 'peers', 'peer entries')
    assert [s.what for s in runner.done] == ['r2', 'r3']
    runner = Runner(Existing(exists=['r1'], refuse=['r3']), device=5, batched=BATCHED, exists_ok=('route_add',))
    with pytest.raises(KernelRefused) as err:
        runner.run_batch(steps, 'peers', 'peer entries')
    assert err.value.msg == 'peers: r3: Invalid argument (errno -22)'
