# -*- coding: utf-8 -*-
"""Pure logic of cni_sysctl: keys, values, shapes, files, plan and apply.

The runtime side uses a dictionary-backed /proc/sys so that edge cases the
real kernel cannot be made to show on demand (a value that is clamped, a
module that fails to load) are covered; the same paths run against the real
kernel in tests/integration.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _fileutil, _sysctl
from ansible_collections.cni.node.plugins.module_utils._errors import (
    KernelRefused,
    ParameterError,
    StateFileError,
)
from ansible_collections.cni.node.plugins.module_utils._procsys import canonical_key, key_path


@pytest.mark.parametrize('key, want', [
    ('net.ipv4.ip_forward', 'net.ipv4.ip_forward'),
    ('  net.ipv4.ip_forward ', 'net.ipv4.ip_forward'),
    ('net/ipv4/ip_forward', 'net.ipv4.ip_forward'),
    ('net.ipv4.conf.eth0/100.rp_filter', 'net.ipv4.conf.eth0/100.rp_filter'),
    ('net/ipv4/conf/eth0.100/rp_filter', 'net.ipv4.conf.eth0/100.rp_filter'),
    ('net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-iptables'),
])
def test_canonical_key(key, want):
    assert canonical_key(key) == want


@pytest.mark.parametrize('key', ['', ' ', 'ip_forward', 'net..ipv4', 'net.ipv4.', '/net/ipv4', 'net.ipv4 x',
                                 '../etc/passwd', 'net/../../etc', 'net/./ipv4/ip_forward', None, 3])
def test_canonical_key_refuses(key):
    with pytest.raises(ParameterError) as exc:
        canonical_key(key)
    assert exc.value.param == 'params'


def test_key_path_keeps_dots_inside_components():
    assert key_path('net.ipv4.conf.eth0/100.rp_filter', '/p') == '/p/net/ipv4/conf/eth0.100/rp_filter'


@pytest.mark.parametrize('value, want', [
    (1, '1'), (0, '0'), (True, '1'), (False, '0'), ('yes', '1'), ('False', '0'),
    ('32768   60999', '32768 60999'), ('32768\t60999', '32768 60999'), ([32768, 60999], '32768 60999'),
    ('4096 87380 6291456', '4096 87380 6291456'), ('007', '7'), ('cubic', 'cubic'), (' fq_codel ', 'fq_codel'),
    (-1, '-1'), ('', ''),
])
def test_normalise_value(value, want):
    assert _sysctl.normalise_value('net.x.y', value) == want


@pytest.mark.parametrize('value', [None, 1.5, [], 'a\nb', {'a': 1}])
def test_normalise_value_refuses(value):
    with pytest.raises(ParameterError) as exc:
        _sysctl.normalise_value('net.x.y', value)
    assert 'params.net.x.y' in str(exc.value)


@pytest.mark.parametrize('current, desired, ok', [
    ('1', '0', True), ('1', 'abc', False), ('1', '1 2', False), ('32768 60999', '1 2', True),
    ('32768 60999', '1', False), ('cubic', 'reno', True), ('-1', '5', True), ('0', '-7', True),
])
def test_shape(current, desired, ok):
    assert (_sysctl.shape_error('k.x', current, desired) is None) == ok


def test_parse_and_render_roundtrip():
    text = ('# comment\n; other comment\n\nnet.ipv4.ip_forward=1\n'
            '-net.core.somaxconn =  4096\nnet/ipv4/ip_local_port_range = 1000\t2000\n')
    entries = _sysctl.parse_conf(text)
    assert entries == {'net.ipv4.ip_forward': '1', 'net.core.somaxconn': '4096',
                       'net.ipv4.ip_local_port_range': '1000 2000'}
    rendered = _sysctl.render_conf(entries)
    assert rendered.splitlines()[1:] == ['net.ipv4.ip_forward = 1', 'net.core.somaxconn = 4096',
                                         'net.ipv4.ip_local_port_range = 1000 2000']
    assert _sysctl.parse_conf(rendered) == entries


def test_parse_conf_names_the_bad_line():
    with pytest.raises(StateFileError) as exc:
        _sysctl.parse_conf('net.ipv4.ip_forward = 1\ngarbage\n', '/x.conf')
    assert '/x.conf line 2' in str(exc.value)


@pytest.mark.parametrize('kwargs, param', [
    (dict(params={'net.a.b': 1}, netns='ns', persist=True), 'persist'),
    (dict(params={'kernel.pid_max': 1}, netns='ns'), 'params'),
    (dict(params={'net.a.b': 1}, file='../evil.conf'), 'file'),
    (dict(params={'net.a.b': 1}, file='x.txt'), 'file'),
    (dict(params={'net.a.b': 1}, sysctl_dir='relative'), 'sysctl_dir'),
    (dict(params={}), 'params'),
    (dict(params=['net.a.b']), 'params'),
    (dict(params={'net.a.b': 1, 'net/a/b': 2}), 'params'),
    (dict(params={'net.a.b': 1}, state='gone'), 'state'),
    (dict(params={'net.a.b': 1}, sysctl_dir='/etc/x', modules_load_dir='/etc/x/'), 'modules_load_dir'),
    (dict(params={'net.a.b': None}, state='absent', persist=False), 'state'),
    (dict(params={'net.a.b': None}, state='absent', netns='pod'), 'state'),
    (dict(params={'net.a.b': 1}, exclusive=True, persist=False), 'exclusive'),
])
def test_spec_refuses(kwargs, param):
    with pytest.raises(ParameterError) as exc:
        _sysctl.Spec(**kwargs)
    assert exc.value.param == param


def test_spec_persist_defaults():
    assert _sysctl.Spec({'net.a.b': 1}).persist is True
    assert _sysctl.Spec({'net.a.b': 1}, netns='x').persist is False
    assert _sysctl.Spec({}, exclusive=True).params == {}
    assert list(_sysctl.Spec({'net.z': 1, 'net.a': 2, 'net.m': 3}).params) == ['net.z', 'net.a', 'net.m']


class FakeProcSys(object):
    """/proc/sys as a dict; ``clamp`` and ``refuse`` model kernel behaviour."""

    def __init__(self, values, clamp=None, refuse=(), readonly=(), effects=None):
        self.values = dict(values)
        self.effects = effects or {}
        self.clamp = clamp or {}
        self.refuse = set(refuse)
        self.readonly = set(readonly)
        self.writes = []

    def exists(self, key):
        return key in self.values

    def writable(self, key):
        return key not in self.readonly

    def read(self, key):
        return self.values.get(key)

    def write(self, key, value):
        if key in self.refuse:
            raise KernelRefused('params: the kernel refused %s' % key, param='params')
        self.writes.append((key, value))
        self.values[key] = self.clamp.get((key, value), value)
        if key in self.effects:
            self.effects[key](self.values, value)


class FakeModules(object):
    def __init__(self, loaded=(), builtin=(), fail=(), provides=None, procsys=None, unloadable=()):
        self.unloadable = set(unloadable)
        self._loaded = set(loaded)
        self._builtin = set(builtin)
        self.fail = set(fail)
        self.provides = provides or {}
        self.procsys = procsys
        self.calls = []

    def loaded(self, name):
        return name in self._loaded or name in self._builtin

    def builtin(self, name):
        return name in self._builtin

    def load_problem(self, name):
        return 'modprobe --dry-run %s failed' % name if name in self.unloadable else None

    def load(self, name):
        self.calls.append(name)
        if name in self.fail:
            raise KernelRefused('load_modules: modprobe %s failed' % name, param='load_modules')
        self._loaded.add(name)
        self.procsys.values.update(self.provides.get(name, {}))


def no_files(path):
    return None


def test_plan_and_apply_runtime():
    ps = FakeProcSys({'net.a.x': '0', 'net.a.y': '1', 'net.a.r': '10 20'})
    spec = _sysctl.Spec({'net.a.x': 1, 'net.a.y': True, 'net.a.r': '30   40'}, persist=False)
    plan = _sysctl.plan(spec, ps, FakeModules(), no_files)
    assert plan.changes.drift == [   # in the order given
        dict(path='sysctl/net.a.x', before='0', after='1'),
        dict(path='sysctl/net.a.r', before='10 20', after='30 40'),
    ]
    _sysctl.apply(plan, ps, FakeModules())
    assert ps.values == {'net.a.x': '1', 'net.a.y': '1', 'net.a.r': '30 40'}
    again = _sysctl.plan(spec, ps, FakeModules(), no_files)
    assert not again.changes.changed and again.writes == []


def test_unknown_key_refused_before_any_write():
    ps = FakeProcSys({'net.a.x': '0'})
    spec = _sysctl.Spec({'net.a.x': 1, 'net.zzz': 1}, persist=False)
    with pytest.raises(ParameterError) as exc:
        _sysctl.plan(spec, ps, FakeModules(), no_files)
    assert 'params.net.zzz: unknown key' in str(exc.value)
    assert ps.writes == []


def test_global_key_in_namespace_is_named():
    spec = _sysctl.Spec({'net.core.netdev_max_backlog': 5000}, netns='pod')
    with pytest.raises(ParameterError) as exc:
        _sysctl.plan(spec, FakeProcSys({}), FakeModules(), no_files, host_exists={'net.core.netdev_max_backlog'})
    assert 'global key' in str(exc.value)


def test_readonly_key_refused():
    ps = FakeProcSys({'net.a.x': '0'}, readonly={'net.a.x'})
    with pytest.raises(ParameterError) as exc:
        _sysctl.plan(_sysctl.Spec({'net.a.x': 1}, persist=False), ps, FakeModules(), no_files)
    assert 'read-only' in str(exc.value)
    # Asking for the value it has already is fine: nothing to write.
    assert not _sysctl.plan(_sysctl.Spec({'net.a.x': 0}, persist=False), ps, FakeModules(), no_files).writes


def test_clamped_value_rolls_back_everything():
    ps = FakeProcSys({'net.a.a': '1', 'net.a.b': '5'}, clamp={('net.a.b', '999'): '100'})
    spec = _sysctl.Spec({'net.a.a': 2, 'net.a.b': 999}, persist=False)
    plan = _sysctl.plan(spec, ps, FakeModules(), no_files)
    with pytest.raises(KernelRefused) as exc:
        _sysctl.apply(plan, ps, FakeModules())
    assert "params.net.a.b: the kernel changed '999' to '100'" in str(exc.value)
    assert ps.values == {'net.a.a': '1', 'net.a.b': '5'}


def test_refused_value_rolls_back_earlier_writes():
    ps = FakeProcSys({'net.a.a': '1', 'net.a.b': '5'}, refuse={'net.a.b'})
    plan = _sysctl.plan(_sysctl.Spec({'net.a.a': 2, 'net.a.b': 6}, persist=False), ps, FakeModules(), no_files)
    with pytest.raises(KernelRefused):
        _sysctl.apply(plan, ps, FakeModules())
    assert ps.values == {'net.a.a': '1', 'net.a.b': '5'}


def test_module_loading_is_planned_then_done_first():
    ps = FakeProcSys({})
    mods = FakeModules(provides={'br_netfilter': {'net.bridge.bridge-nf-call-iptables': '0'}}, procsys=ps)
    spec = _sysctl.Spec({'net.bridge.bridge-nf-call-iptables': 1}, persist=False)
    plan = _sysctl.plan(spec, ps, mods, no_files)
    assert plan.load == ['br_netfilter']
    assert plan.changes.drift == [
        dict(path='module/br_netfilter', before='not loaded', after='loaded'),
        dict(path='sysctl/net.bridge.bridge-nf-call-iptables', before=None, after='1'),
    ]
    _sysctl.apply(plan, ps, mods)
    assert mods.calls == ['br_netfilter'] and ps.values == {'net.bridge.bridge-nf-call-iptables': '1'}


def test_module_load_failure_fails_before_writes():
    ps = FakeProcSys({'net.a.a': '0'})
    mods = FakeModules(fail={'br_netfilter'}, procsys=ps)
    plan = _sysctl.plan(_sysctl.Spec({'net.a.a': 1, 'net.bridge.bridge-nf-call-iptables': 1}, persist=False),
                        ps, mods, no_files)
    with pytest.raises(KernelRefused) as exc:
        _sysctl.apply(plan, ps, mods)
    assert exc.value.param == 'load_modules' and ps.writes == []


def test_missing_module_key_without_load_modules():
    spec = _sysctl.Spec({'net.bridge.bridge-nf-call-iptables': 1}, persist=False, load_modules=False)
    with pytest.raises(ParameterError) as exc:
        _sysctl.plan(spec, FakeProcSys({}), FakeModules(), no_files)
    assert 'br_netfilter' in str(exc.value)


def files(contents):
    return contents.get


def test_file_plan_merges_exclusive_and_absent(tmp_path):
    d = str(tmp_path)
    path = d + '/90-cni-node.conf'
    old = _sysctl.render_conf({'net.old.key': '1', 'net.a.x': '0'})
    ps = FakeProcSys({'net.a.x': '1'})
    merge = _sysctl.plan(_sysctl.Spec({'net.a.x': 1}, sysctl_dir=d), ps, FakeModules(), files({path: old}))
    assert merge.file[2] == _sysctl.render_conf({'net.old.key': '1', 'net.a.x': '1'})
    assert merge.changes.drift == [dict(path='persist/net.a.x', before='0', after='1')]
    excl = _sysctl.plan(_sysctl.Spec({'net.a.x': 1}, sysctl_dir=d, exclusive=True), ps, FakeModules(),
                        files({path: old}))
    assert excl.file[2] == _sysctl.render_conf({'net.a.x': '1'})
    assert dict(path='persist/net.old.key', before='1', after=None) in excl.changes.drift
    gone = _sysctl.plan(_sysctl.Spec({'net.a.x': None, 'net.old.key': None}, sysctl_dir=d, state='absent'),
                        ps, FakeModules(), files({path: old}))
    assert gone.file == (path, old, None) and gone.writes == []
    same = _sysctl.plan(_sysctl.Spec({'net.a.x': 1}, sysctl_dir=d), ps, FakeModules(),
                        files({path: _sysctl.render_conf({'net.a.x': '1'})}))
    assert same.file is None and not same.changes.changed


def test_reformatted_file_is_rewritten(tmp_path):
    d = str(tmp_path)
    path = d + '/90-cni-node.conf'
    plan = _sysctl.plan(_sysctl.Spec({'net.a.x': 1}, sysctl_dir=d), FakeProcSys({'net.a.x': '1'}), FakeModules(),
                        files({path: 'net.a.x=1\n'}))
    assert plan.changes.drift == [dict(path='file' + path, before='not in canonical form', after='canonical form')]
    assert plan.file[2] == _sysctl.render_conf({'net.a.x': '1'})


def test_missing_sysctl_dir_refused(tmp_path):
    spec = _sysctl.Spec({'net.a.x': 1}, sysctl_dir=str(tmp_path / 'nope'))
    with pytest.raises(ParameterError) as exc:
        _sysctl.plan(spec, FakeProcSys({'net.a.x': '1'}), FakeModules(), no_files)
    assert exc.value.param == 'sysctl_dir'


def test_modules_file_lists_loadable_modules_only(tmp_path):
    d = str(tmp_path)
    ps = FakeProcSys({'net.bridge.bridge-nf-call-iptables': '1', 'net.netfilter.nf_conntrack_max': '10'})
    spec = _sysctl.Spec({'net.bridge.bridge-nf-call-iptables': 1, 'net.netfilter.nf_conntrack_max': 10},
                        sysctl_dir=d, modules_load_dir='/')
    plan = _sysctl.plan(spec, ps, FakeModules(loaded={'br_netfilter'}, builtin={'nf_conntrack'}), no_files)
    assert plan.modules_file == ('/90-cni-node.conf', None, _sysctl.render_modules({'br_netfilter'}))
    assert dict(path='modules_load/br_netfilter', before=False, after=True) in plan.changes.drift


def forwarding_effect(values, value):
    """net.ipv4.ip_forward resets every interface's forwarding, as the kernel does."""
    for key in values:
        if key.startswith('net.ipv4.conf.') and key.endswith('.forwarding'):
            values[key] = value


@pytest.mark.parametrize('order', [
    ('net.ipv4.conf.lo.forwarding', 'net.ipv4.ip_forward'),
    ('net.ipv4.ip_forward', 'net.ipv4.conf.lo.forwarding'),
])
def test_a_key_reset_by_another_is_set_again(order):
    want = {'net.ipv4.ip_forward': 1, 'net.ipv4.conf.lo.forwarding': 0}
    ps = FakeProcSys({'net.ipv4.ip_forward': '0', 'net.ipv4.conf.lo.forwarding': '0'},
                     effects={'net.ipv4.ip_forward': forwarding_effect})
    spec = _sysctl.Spec(dict((k, want[k]) for k in order), persist=False)
    plan = _sysctl.plan(spec, ps, FakeModules(), no_files)
    assert plan.changes.drift == [dict(path='sysctl/net.ipv4.ip_forward', before='0', after='1')]
    _sysctl.apply(plan, ps, FakeModules())
    assert ps.values == {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.lo.forwarding': '0'}
    assert not _sysctl.plan(spec, ps, FakeModules(), no_files).changes.changed


def test_one_value_under_two_names_fails_instead_of_flapping():
    ps = FakeProcSys({'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.forwarding': '1'},
                     effects={'net.ipv4.ip_forward': forwarding_effect,
                              'net.ipv4.conf.all.forwarding': lambda v, x: v.update({'net.ipv4.ip_forward': x})})
    spec = _sysctl.Spec({'net.ipv4.ip_forward': 0, 'net.ipv4.conf.all.forwarding': 1}, persist=False)
    with pytest.raises(KernelRefused) as exc:
        _sysctl.apply(_sysctl.plan(spec, ps, FakeModules(), no_files), ps, FakeModules())
    assert 'cannot hold' in str(exc.value) and 'put back' in str(exc.value)
    assert ps.values == {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.forwarding': '1'}


def test_module_keys_are_checked_after_loading_before_any_write():
    ps = FakeProcSys({'net.a.a': '0'})
    mods = FakeModules(provides={'br_netfilter': {'net.bridge.bridge-nf-call-iptables': '0'}}, procsys=ps)
    spec = _sysctl.Spec({'net.a.a': 1, 'net.bridge.bridge-nf-call-iptables': 'not a number'}, persist=False)
    plan = _sysctl.plan(spec, ps, mods, no_files)
    with pytest.raises(ParameterError) as exc:
        _sysctl.apply(plan, ps, mods)
    assert 'params.net.bridge.bridge-nf-call-iptables' in str(exc.value)
    assert ps.writes == []


def test_a_module_that_cannot_load_fails_the_plan():
    spec = _sysctl.Spec({'net.bridge.bridge-nf-call-iptables': 1}, persist=False)
    with pytest.raises(ParameterError) as exc:
        _sysctl.plan(spec, FakeProcSys({}), FakeModules(unloadable={'br_netfilter'}), no_files)
    assert exc.value.param == 'load_modules' and 'br_netfilter' in str(exc.value)


def test_a_failing_commit_puts_runtime_values_back():
    ps = FakeProcSys({'net.a.a': '0'})
    plan = _sysctl.plan(_sysctl.Spec({'net.a.a': 1}, persist=False), ps, FakeModules(), no_files)

    def commit():
        raise OSError(28, 'No space left on device')
    with pytest.raises(OSError):
        _sysctl.apply_runtime(plan, ps, FakeModules(), commit=commit)
    assert ps.values == {'net.a.a': '0'}


def test_staged_files_commit_and_undo(tmp_path):
    a, b = tmp_path / 'a.conf', tmp_path / 'b.conf'
    a.write_text('old\n')
    b.mkdir()   # renaming a file over a directory fails: the second commit fails
    staged = [_fileutil.StagedFile(str(a), 'old\n', 'new\n'), _fileutil.StagedFile(str(b), None, 'x\n')]
    for f in staged:
        f.prepare()
    with pytest.raises(OSError):
        _fileutil.commit_all(staged)
    for f in staged:
        f.discard()
    assert a.read_text() == 'old\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.conf', 'b.conf'], 'temporary files left behind'


def test_apply_writes_the_files_after_the_runtime_values(tmp_path):
    sysctl_dir, modules_dir = tmp_path / 'sysctl.d', tmp_path / 'modules-load.d'
    sysctl_dir.mkdir()
    modules_dir.mkdir()
    ps = FakeProcSys({'net.a.a': '0'})
    mods = FakeModules(provides={'br_netfilter': {'net.bridge.bridge-nf-call-iptables': '0'}}, procsys=ps)
    spec = _sysctl.Spec({'net.a.a': 1, 'net.bridge.bridge-nf-call-iptables': 1}, sysctl_dir=str(sysctl_dir),
                        modules_load_dir=str(modules_dir))
    plan = _sysctl.plan(spec, ps, mods, _fileutil.read_text)
    _sysctl.apply(plan, ps, mods)
    assert ps.values == {'net.a.a': '1', 'net.bridge.bridge-nf-call-iptables': '1'} and mods.calls == ['br_netfilter']
    assert (sysctl_dir / '90-cni-node.conf').read_text() == _sysctl.render_conf(
        {'net.a.a': '1', 'net.bridge.bridge-nf-call-iptables': '1'})
    assert (modules_dir / '90-cni-node.conf').read_text() == _sysctl.render_modules({'br_netfilter'})
    assert sorted(p.name for p in sysctl_dir.iterdir()) == ['90-cni-node.conf'], 'temporary files left behind'


def test_apply_puts_runtime_values_back_when_a_file_cannot_be_renamed(tmp_path):
    (tmp_path / '90-cni-node.conf').mkdir()   # renaming the staged file over a directory fails
    ps = FakeProcSys({'net.a.a': '0'})
    plan = _sysctl.plan(_sysctl.Spec({'net.a.a': 1}, sysctl_dir=str(tmp_path), load_modules=False), ps,
                        FakeModules(), lambda path: None)
    with pytest.raises(OSError):
        _sysctl.apply(plan, ps, FakeModules())
    assert ps.values == {'net.a.a': '0'} and ps.writes == [('net.a.a', '1'), ('net.a.a', '0')]
    assert [p.name for p in tmp_path.iterdir()] == ['90-cni-node.conf'], 'temporary files left behind'


def test_run_plans_applies_and_reads_back(tmp_path):
    ps = FakeProcSys({'net.a.a': '0', 'net.a.b': '5'})
    spec = _sysctl.Spec({'net.a.a': 1, 'net.a.b': 5}, sysctl_dir=str(tmp_path), load_modules=False)
    predicted = _sysctl.run(spec, ps, FakeModules(), check_mode=True)
    assert predicted.changes.changed and ps.writes == [] and list(tmp_path.iterdir()) == []
    assert predicted.values == {'net.a.a': '0', 'net.a.b': '5'}   # check mode: the values as they are
    done = _sysctl.run(spec, ps, FakeModules())
    assert done.changes.drift == predicted.changes.drift and done.values == {'net.a.a': '1', 'net.a.b': '5'}
    assert (tmp_path / '90-cni-node.conf').read_text() == _sysctl.render_conf({'net.a.a': '1', 'net.a.b': '5'})
    assert not _sysctl.run(spec, ps, FakeModules()).changes.changed
    gone = _sysctl.run(_sysctl.Spec({'net.a.a': None}, sysctl_dir=str(tmp_path), state='absent'), ps, FakeModules())
    assert gone.values is None and gone.writes == [] and ps.values['net.a.a'] == '1'
    assert (tmp_path / '90-cni-node.conf').read_text() == _sysctl.render_conf({'net.a.b': '5'})
