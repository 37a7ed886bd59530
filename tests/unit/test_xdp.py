# -*- coding: utf-8 -*-
"""The cni_xdp core: arguments, the plan (tag and mode), the record, steps with undo, the run with stand-ins."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

import pytest

from ansible_collections.cni.node.plugins.module_utils import _xdp
from ansible_collections.cni.node.plugins.module_utils._errors import KernelRefused, ParameterError

TAG, OTHER = 'f7d7210978e15283', '0123456789abcdef'
WANTED = dict(tag=TAG, name='xdp_drop_icmp')


def spec(dev='eth0', **kw):
    args = dict(object='/x/prog.o', mode='generic')
    args.update(kw)
    return _xdp.Spec(dev, **args)


def link(mode=None, prog_id=None, tag=None, name=None):
    ids = {mode: prog_id} if mode and mode != 'multi' else {}
    return dict(index=2, mode=mode, id=prog_id, ids=ids, tag=tag, name=name)


def record(**attached):
    entries = dict(('\t' + dev, dict(id=prog_id)) for dev, prog_id in attached.items())
    return _xdp.Record(json.dumps(dict(boot_id='b', attached=entries)), 'b')


@pytest.mark.parametrize('kw, param', [
    (dict(dev=[]), 'dev'),
    (dict(dev='this-name-is-too-long'), 'dev'),
    (dict(mode='fast'), 'mode'),
    (dict(state='gone'), 'state'),
    (dict(object=None), 'object'),
    (dict(source='/x/p.c'), 'object'),
    (dict(object='prog.o'), 'object'),
    (dict(section=''), 'section'),
    (dict(dev=['eth0', 'eth1'], mode='offload'), 'mode'),
])
def test_bad_arguments_name_their_parameter(kw, param):
    with pytest.raises(ParameterError) as exc:
        spec(**kw)
    assert exc.value.param == param


def test_dev_is_one_name_or_a_list_without_repeats_and_absent_needs_no_program():
    assert spec(dev=['eth0', 'eth1', 'eth0']).devs == ['eth0', 'eth1']
    assert spec(object=None, state='absent').devs == ['eth0']


def test_mode_auto_matches_what_the_kernel_picks_others_only_themselves():
    assert _xdp.mode_matches('native', 'auto') and _xdp.mode_matches('generic', 'auto')
    assert not _xdp.mode_matches('offload', 'auto') and not _xdp.mode_matches(None, 'auto')
    assert _xdp.mode_matches('generic', 'generic') and not _xdp.mode_matches('native', 'generic')


def test_same_tag_same_mode_is_no_change_whoever_attached_it():
    p = _xdp.plan(spec(), {'eth0': link('generic', 7, TAG, 'xdp_drop_icmp')}, WANTED, record())
    assert not p.changes.changed and p.actions == []


def test_nothing_attached_is_an_attach_with_both_drift_items():
    p = _xdp.plan(spec(), {'eth0': link()}, WANTED, record())
    assert [a.kind for a in p.actions] == ['attach']
    assert p.changes.drift == [
        dict(path='xdp/eth0/program', before=None, after=dict(id=None, tag=TAG, name='xdp_drop_icmp')),
        dict(path='xdp/eth0/mode', before=None, after='generic')]


def test_another_mode_of_the_same_program_is_a_mode_change_only():
    p = _xdp.plan(spec(), {'eth0': link('native', 7, TAG, 'xdp_drop_icmp')}, WANTED, record(eth0=7))
    paths = [d['path'] for d in p.changes.drift]
    assert [a.kind for a in p.actions] == ['replace'] and 'xdp/eth0/mode' in paths


def test_auto_keeps_the_mode_found_when_only_the_program_differs():
    p = _xdp.plan(spec(mode='auto'), {'eth0': link('generic', 7, OTHER, 'old')}, WANTED, record(eth0=7))
    assert [d['path'] for d in p.changes.drift] == ['xdp/eth0/program']


def test_a_foreign_program_needs_force_to_be_replaced_or_removed():
    actual = {'eth0': link('generic', 9, OTHER, 'by_hand')}
    for s in (spec(), spec(object=None, state='absent')):
        with pytest.raises(ParameterError) as exc:
            _xdp.plan(s, actual, WANTED, record(eth0=8))
        assert exc.value.param == 'force' and 'by_hand' in exc.value.msg and 'id 9' in exc.value.msg
    assert [a.kind for a in _xdp.plan(spec(force=True), actual, WANTED, record()).actions] == ['replace']
    assert [a.kind for a in _xdp.plan(spec(), actual, WANTED, record(eth0=9)).actions] == ['replace']


def test_absent_detaches_only_what_is_there():
    s = spec(object=None, state='absent', dev=['eth0', 'eth1'])
    p = _xdp.plan(s, {'eth0': link('generic', 7, TAG, 'x'), 'eth1': link()}, {}, record(eth0=7))
    assert [(a.dev, a.kind) for a in p.actions] == [('eth0', 'detach')]
    assert [d['after'] for d in p.changes.drift] == [None, None]


def test_the_record_belongs_to_this_boot():
    text = json.dumps(dict(boot_id='old', attached={'\teth0': dict(id=7)}, tags={'s\txdp': [TAG, 'n']}))
    assert not _xdp.Record(text, 'new').ours(None, 'eth0', 7)
    assert _xdp.Record(text, 'new').known_tag('s', 'xdp') == (None, None)
    same = _xdp.Record(text, 'old')
    assert same.ours(None, 'eth0', 7) and not same.ours(None, 'eth0', 8) and not same.ours('ns', 'eth0', 7)
    assert same.known_tag('s', 'xdp') == (TAG, 'n')
    assert _xdp.Record('not json', 'b').attached == {} and _xdp.Record(None, 'b').text() is None


def test_steps_same_mode_swap_in_one_request_other_mode_detach_first():
    s = spec()
    same = _xdp.plan(s, {'eth0': link('generic', 7, OTHER, 'o')}, WANTED, record(eth0=7))
    (step,) = _xdp.steps(s, same, '/pin/new', {7: '/pin/7'})
    assert (step.method, step.args[3:], step.kwargs) == ('attach', ['generic', '/pin/new'], {'replace': True})
    assert step.undo[0] == 'attach' and step.undo[1][3:] == ['generic', '/pin/7']
    other = _xdp.plan(s, {'eth0': link('native', 7, OTHER, 'o')}, WANTED, record(eth0=7))
    detach, attach = _xdp.steps(s, other, '/pin/new', {7: '/pin/7'})
    assert (detach.method, detach.args[3]) == ('detach', 'native') and detach.undo[1][3:] == ['native', '/pin/7']
    assert (attach.method, attach.args[3], attach.undo[0]) == ('attach', 'generic', 'detach')


class FakeBpf(object):
    """Interfaces as a dict ifname -> (mode, id); programs by id; ``fail_on`` refuses attaching there."""

    def __init__(self, links, programs, fail_on=()):
        self.links = links
        self.programs = programs
        self.fail_on = set(fail_on)
        self.calls = []
        self.next_id = 100

    def info(self, prog_id):
        return dict(self.programs[prog_id], id=prog_id) if prog_id in self.programs else None

    def load(self, path, program, **kw):
        self.calls.append('load')
        self.next_id += 1
        self.programs[self.next_id] = dict(tag=TAG, name=program)
        return dict(id=self.next_id, tag=TAG, name=program), '/pin/%d' % self.next_id

    def pin(self, prog_id):
        return '/pin/%d' % prog_id

    def attach(self, what, netns, ifname, mode, pin, replace=True):
        self.calls.append(('attach', ifname, mode, pin))
        if ifname in self.fail_on:
            raise KernelRefused('%s: refused' % what)
        concrete = 'native' if mode == 'auto' else mode
        self.links[ifname] = (concrete, int(pin.rsplit('/', 1)[1]))

    def detach(self, what, netns, ifname, mode):
        self.calls.append(('detach', ifname, mode))
        self.links[ifname] = (None, None)


class FakeNetlink(object):
    def __init__(self, bpf):
        self.bpf = bpf

    def __call__(self, netns):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def xdp(self):
        return dict((name, dict(index=1, mode=mode, id=prog_id, ids={mode: prog_id} if mode else {}))
                    for name, (mode, prog_id) in self.bpf.links.items())


class FakeToolchain(object):
    def __init__(self, bpf):
        self.bpf = bpf

    def program(self, spec_, check_mode=False):
        return dict(path=spec_.object, sha256='s', program='xdp_drop_icmp', param='object')

    @contextlib.contextmanager
    def session(self):
        yield self.bpf


def run(bpf, tmp_path, check_mode=False, **kw):
    s = spec(state_file=str(tmp_path / 'xdp.json'), **kw)
    return _xdp.run(s, FakeNetlink(bpf), FakeToolchain(bpf), check_mode=check_mode, boot_id='b')


def test_run_attaches_then_is_not_changed_and_loads_nothing_the_second_time(tmp_path):
    bpf = FakeBpf({'eth0': (None, None), 'eth1': (None, None)}, {})
    plan = run(bpf, tmp_path, check_mode=True, dev=['eth0', 'eth1'])[0]
    assert plan.changes.changed and bpf.calls == [] and not (tmp_path / 'xdp.json').exists()
    plan, out = run(bpf, tmp_path, dev=['eth0', 'eth1'])
    assert plan.changes.changed and bpf.calls.count('load') == 1
    assert out == {'eth0': dict(id=101, tag=TAG, name='xdp_drop_icmp', mode='generic'),
                   'eth1': dict(id=101, tag=TAG, name='xdp_drop_icmp', mode='generic')}
    bpf.calls = []
    plan, again = run(bpf, tmp_path, dev=['eth0', 'eth1'])
    assert not plan.changes.changed and again == out and bpf.calls == []
    plan = run(bpf, tmp_path, dev=['eth0', 'eth1'], object=None, state='absent')[0]
    assert plan.changes.changed and bpf.links == {'eth0': (None, None), 'eth1': (None, None)}


def test_a_refusal_on_the_third_interface_puts_the_first_two_back(tmp_path):
    bpf = FakeBpf({'eth0': ('native', 5), 'eth1': (None, None), 'eth2': (None, None)},
                  {5: dict(tag=OTHER, name='old')}, fail_on=['eth2'])
    with pytest.raises(KernelRefused):
        run(bpf, tmp_path, dev=['eth0', 'eth1', 'eth2'], force=True)
    assert bpf.links == {'eth0': ('native', 5), 'eth1': (None, None), 'eth2': (None, None)}
    assert not (tmp_path / 'xdp.json').exists()


def test_a_missing_interface_fails_naming_dev_before_anything(tmp_path):
    bpf = FakeBpf({'eth0': (None, None)}, {})
    with pytest.raises(ParameterError) as exc:
        run(bpf, tmp_path, dev=['eth0', 'eth9'])
    assert exc.value.param == 'dev' and 'eth9' in exc.value.msg and bpf.calls == []


def test_check_mode_loads_only_to_compare_with_a_program_that_is_there(tmp_path):
    bpf = FakeBpf({'eth0': ('generic', 5)}, {5: dict(tag=OTHER, name='old')})
    plan = run(bpf, tmp_path, check_mode=True, force=True)[0]
    assert bpf.calls == ['load'] and plan.changes.drift[0]['after']['tag'] == TAG
    assert bpf.links == {'eth0': ('generic', 5)}


def test_check_mode_without_the_state_directory_writes_nothing(tmp_path):
    bpf = FakeBpf({'eth0': (None, None)}, {})
    s = spec(state_file=str(tmp_path / 'missing' / 'xdp.json'))
    plan = _xdp.run(s, FakeNetlink(bpf), FakeToolchain(bpf), check_mode=True, boot_id='b')[0]
    assert plan.changes.changed and not (tmp_path / 'missing').exists()


def test_the_record_remembers_the_latest_tags_only():
    rec = _xdp.Record(None, 'b')
    for i in range(_xdp.MAX_TAGS + 5):
        rec.learn('sha%d' % i, 'xdp', 'tag%d' % i, 'n')
    again = _xdp.Record(rec.text(), 'b')
    assert len(again.tags) == _xdp.MAX_TAGS and again.known_tag('sha0', 'xdp') == (None, None)
    assert again.known_tag('sha%d' % (_xdp.MAX_TAGS + 4), 'xdp') == ('tag%d' % (_xdp.MAX_TAGS + 4), 'n')
    again.learn('sha5', 'xdp', 'tag5', 'n')      # learnt again: the newest now
    assert list(again.tags)[-1] == 'sha5\txdp'


def test_a_run_removes_the_state_files_stale_temporaries_check_mode_keeps_them(tmp_path):
    # What a run killed between writing the state file's temporary and renaming it leaves (issue 13 item 4).
    stale = tmp_path / '.xdp.json.abcd1234.tmp'
    stale.write_text('{}')
    other = tmp_path / '.other.json.abcd1234.tmp'
    other.write_text('{}')
    bpf = FakeBpf({'eth0': (None, None)}, {})
    run(bpf, tmp_path, check_mode=True)
    assert stale.exists()
    run(bpf, tmp_path)
    assert not stale.exists() and other.exists()
