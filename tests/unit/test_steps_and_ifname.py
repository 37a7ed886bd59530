# -*- coding: utf-8 -*-
"""The shared pieces of the link cores: the interface name check and the step runner (no kernel needed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _bridge, _namedns, _steps, _vxlan
from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    NoSuchObject,
    ParameterError,
)
from ansible_collections.cni.node.plugins.module_utils._ifname import check_ifname, taken
from ansible_collections.cni.node.plugins.module_utils._steps import DEVICE, Runner, Step

# Interface names -------------------------------------------------------------


@pytest.mark.parametrize('name', ['eth0', 'cni0', 'a', 'x' * 15, 'br-1.100', u'br\u00e9' * 3, 'veth@1', '...'])
def test_valid_interface_names(name):
    assert check_ifname(name, 'dev') == name


@pytest.mark.parametrize('name,needle', [
    ('', 'dev: an interface name is required'),
    (None, 'dev: an interface name is required'),
    (7, 'dev: an interface name is required'),
    ('x' * 16, "dev 'xxxxxxxxxxxxxxxx' is 16 bytes long: a Linux interface name has at most 15"),
    (u'\u00e9' * 8, 'is 16 bytes long: a Linux interface name has at most 15'),
    ('.', "dev '.' is not a valid interface name (1 to 15 bytes of UTF-8, no NUL, '/', ':', '%' or whitespace; "
          "not '.' or '..')"),
    ('..', "not '.' or '..'"),
    ('a/b', 'is not a valid interface name'),
    ('a:b', 'is not a valid interface name'),
    ('a b', 'is not a valid interface name'),
    ('a\tb', 'is not a valid interface name'),
    ('eth0\n', 'is not a valid interface name'),
])
def test_invalid_interface_names_name_the_argument(name, needle):
    with pytest.raises(ParameterError) as err:
        check_ifname(name, 'dev')
    assert err.value.param == 'dev'
    assert needle in err.value.msg
    assert err.value.msg.startswith('dev')


# What the kernel's dev_valid_name refuses, on the UTF-8 bytes: NUL, '/', ':' and the bytes its isspace()
# matches (0x09-0x0d, 0x20, 0xa0, also inside a multi-byte character); '%' is a name template to the kernel.
@pytest.mark.parametrize('name,needle', [
    ('vx%d', "dev 'vx%d' is not a valid interface name: the kernel reads '%' as a name template (vx%d becomes vx0"),
    ('%', 'name template'),
    ('a%sb', 'name template'),
    ('a\x00b', 'it contains a NUL'),
    ('a/b', "it contains '/'"),
    ('a:b', "it contains ':'"),
    ('a b', 'it contains whitespace (byte 0x20)'),
    ('a\tb', 'it contains whitespace (byte 0x09)'),
    ('a\nb', 'it contains whitespace (byte 0x0a)'),
    ('a\x0bb', 'it contains whitespace (byte 0x0b)'),
    ('a\x0cb', 'it contains whitespace (byte 0x0c)'),
    ('a\rb', 'it contains whitespace (byte 0x0d)'),
    (u'a\u00a0b', "it contains '\\xa0', whose UTF-8 bytes c2 a0 include 0xa0, a byte the kernel reads as whitespace"),
    (u'br\u00e0', "it contains '\xe0', whose UTF-8 bytes c3 a0 include 0xa0"),
    (u'a\u0800', 'whose UTF-8 bytes e0 a0 80 include 0xa0'),
    (u'a\u2020', 'whose UTF-8 bytes e2 80 a0 include 0xa0'),
    (u'a\udc80', 'not valid UTF-8 text'),
])
def test_names_the_kernel_refuses_or_misreads_are_refused_on_their_bytes(name, needle):
    with pytest.raises(ParameterError) as err:
        check_ifname(name, 'dev')
    assert err.value.param == 'dev'
    assert err.value.msg.startswith('dev %r is not a valid interface name' % name), err.value.msg
    assert needle in err.value.msg, err.value.msg
    assert err.value.msg.endswith("(1 to 15 bytes of UTF-8, no NUL, '/', ':', '%' or whitespace; not '.' or '..')")


# Python's isspace() and \s match more than the kernel's isspace(): these the kernel takes as they are.
@pytest.mark.parametrize('name', ['a\x1cb', 'a\x1db', 'a\x1eb', 'a\x1fb', u'a\x85b', u'a\u2000b', u'a\u2028b',
                                  u'a\u3000b', u'a\u1680b', u'a\u00e9b', 'a\x7fb', 'a!#$&*b'])
def test_bytes_the_kernel_accepts_are_accepted_even_where_python_sees_whitespace(name):
    assert check_ifname(name, 'dev') == name


@pytest.mark.parametrize('make,param,required', [
    (_bridge.Spec, 'name', 'name: a bridge name is required'),
    (lambda n: _vxlan.Spec(n, vni=1, dev='eth0'), 'name', 'name: a VXLAN device name is required'),
    (lambda n: _vxlan.Spec('vx0', vni=1, dev=n or 7), 'dev', 'dev: an interface name is required'),
    (lambda n: _vxlan.Spec('vx0', vni=1, dev='eth0', master=n or 7), 'master',
     'master: an interface name is required'),
    (lambda n: _namedns.VethSpec(n, 'vh0'), 'veth.name', 'veth.name: an interface name is required'),
    (lambda n: _namedns.VethSpec('eth0', n), 'veth.peer', 'veth.peer: an interface name is required'),
    (lambda n: _namedns.VethSpec('eth0', 'vh0', master=n or 7), 'veth.master',
     'veth.master: an interface name is required'),
])
def test_every_link_name_argument_uses_the_one_check(make, param, required):
    for bad, needle in ((None, required), ('a-name-far-too-long', 'at most 15'),
                        ('br/0', 'not a valid interface name')):
        with pytest.raises(ParameterError) as err:
            make(bad)
        assert err.value.param == param, err.value.msg
        assert err.value.msg.startswith(param + (':' if bad is None else ' ')), err.value.msg
        assert needle in err.value.msg


def test_taken_says_what_the_link_is_and_what_to_do():
    err = taken('cni0', 'veth', 'a bridge')
    assert err.param == 'name' and err.details == dict(kind='veth')
    assert err.msg == "name: a link called 'cni0' exists already and is a veth, not a bridge; the module does " \
                      "not replace it"
    err = taken('eth0', None, 'a VXLAN device', state='absent', netns='ns1')
    assert err.details == dict(kind=None)
    assert "exists in network namespace 'ns1' and is of no kind (a physical device?)" in err.msg
    assert 'state=absent removes only a VXLAN device and never deletes a link of another kind' in err.msg


# The step runner -------------------------------------------------------------

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
