# -*- coding: utf-8 -*-
"""cni_network's core on temp directories, with fake plugin binaries (no root, no exec)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cninetwork
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._fileutil import read_text

OLD = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0']
NEW = OLD + ['1.0.0']


class FakeProber(object):
    def __init__(self, versions=None, problems=None, missing=()):
        self.vers = versions or {}
        self.probs = problems or {}
        self.missing = missing
        self.asked = []

    def find(self, plugin_type, bin_dirs):
        return None if plugin_type in self.missing else '%s/%s' % (bin_dirs[0], plugin_type)

    def problems(self, path):
        return self.probs.get(os.path.basename(path), [])

    def versions(self, path):
        self.asked.append(os.path.basename(path))
        return self.vers.get(os.path.basename(path), NEW)


PLUGINS = [
    {'type': 'bridge', 'bridge': 'cnb0', 'isGateway': True,
     'ipam': {'type': 'host-local', 'ranges': [[{'subnet': '10.254.7.0/24'}]]}},
    {'type': 'portmap', 'capabilities': {'portMappings': True}},
]


def spec(d, **kw):
    kw.setdefault('plugins', PLUGINS)
    return _cninetwork.Spec(kw.pop('name', 'podnet'), conf_dir=d, bin_dirs=['/cni'], **kw)


def run(s, prober=None, check=False):
    p = _cninetwork.plan(s, prober or FakeProber(), read_text)
    if not check:
        _cninetwork.apply(p)
    return p


def snapshot(d):
    return dict((n, open(os.path.join(d, n)).read()) for n in sorted(os.listdir(d)))


def test_create_then_idempotent(tmp_path):
    d = str(tmp_path)
    p = run(spec(d), check=True)
    assert snapshot(d) == {}
    assert p.changes.changed and p.cni_version == '1.0.0'
    first = run(spec(d))
    assert first.changes.drift == p.changes.drift
    path = os.path.join(d, '10-podnet.conflist')
    written = json.loads(open(path).read())
    assert (written['cniVersion'], written['name'], written['plugins'][0]['type']) == ('1.0.0', 'podnet', 'bridge')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert first.default_network == {'path': path, 'name': 'podnet'}
    again = run(spec(d))
    assert not again.changes.changed and again.changes.drift == [] and again.write is None


def test_auto_takes_the_highest_version_every_binary_supports(tmp_path):
    prober = FakeProber(versions={'portmap': OLD})
    p = run(spec(str(tmp_path)), prober, check=True)
    assert p.cni_version == '0.4.0'
    assert sorted(prober.asked) == ['bridge', 'host-local', 'portmap']   # the IPAM plugin is asked too
    with pytest.raises(ParameterError) as exc:
        run(spec(str(tmp_path)), FakeProber(versions={'portmap': ['0.1.0'], 'bridge': ['1.0.0']}), check=True)
    assert exc.value.param == 'cni_version' and 'auto found no spec version' in exc.value.msg


def test_validate_refuses_what_a_runtime_should_not_run(tmp_path):
    d = str(tmp_path)
    with pytest.raises(ParameterError) as exc:
        run(spec(d), FakeProber(missing=('host-local',)))
    assert 'plugins[0].ipam.type' in exc.value.msg and "'host-local'" in exc.value.msg and '/cni' in exc.value.msg
    with pytest.raises(ParameterError) as exc:
        run(spec(d), FakeProber(problems={'portmap': ['is writable by others (mode 0757)']}))
    assert exc.value.param == 'validate' and 'plugins[1].type' in exc.value.msg and 'writable' in exc.value.msg
    with pytest.raises(ParameterError) as exc:
        run(spec(d, cni_version='1.0.0'), FakeProber(versions={'portmap': OLD}))
    assert exc.value.param == 'cni_version' and 'not supported by plugin portmap' in exc.value.msg
    assert snapshot(d) == {}, 'nothing is written when a check fails'
    # Without validate, a fixed version needs no binary at all.
    p = run(spec(d, cni_version='1.0.0', validate=False), FakeProber(missing=('bridge', 'host-local', 'portmap')))
    assert p.changes.changed and p.plugin_versions == {}


def test_versions_lower_than_the_config_needs_are_refused(tmp_path):
    # Two range sets of one family need 0.3.0: auto finding 0.2.0 fails validation after resolving.
    ranges = [[{'subnet': '10.1.0.0/24'}], [{'subnet': '10.2.0.0/24'}]]
    plugins = [{'type': 'bridge', 'ipam': {'type': 'host-local', 'ranges': ranges}}]
    with pytest.raises(ParameterError) as exc:
        run(spec(str(tmp_path), plugins=plugins), FakeProber(versions={'bridge': ['0.1.0', '0.2.0']}), check=True)
    assert 'plugins[0].ipam.ranges' in exc.value.msg and '0.2.0' in exc.value.msg


def test_drift_paths_and_semantic_comparison(tmp_path):
    d = str(tmp_path)
    run(spec(d))
    path = os.path.join(d, '10-podnet.conflist')
    # Reformatted, keys reordered, same meaning: no change, the file is left alone.
    data = json.loads(open(path).read())
    text = json.dumps(dict(reversed(list(data.items()))), separators=(',', ':'))
    with open(path, 'w') as f:
        f.write(text)
    p = run(spec(d))
    assert not p.changes.changed and open(path).read() == text
    # A changed value: one drift item with its JSON path.
    data['plugins'][0]['ipam']['ranges'][0][0]['subnet'] = '10.254.8.0/24'
    data['plugins'][1]['snat'] = False
    with open(path, 'w') as f:
        json.dump(data, f)
    os.chmod(path, 0o600)
    p = run(spec(d), check=True)
    assert p.changes.drift == [
        dict(path='config/plugins[0].ipam.ranges[0][0].subnet', before='10.254.8.0/24', after='10.254.7.0/24'),
        dict(path='config/plugins[1].snat', before=False, after=None),
        dict(path='mode%s' % path, before='0600', after='0644'),
    ]
    assert json.loads(open(path).read()) == data, 'check mode changed the file'
    real = run(spec(d))
    assert real.changes.drift == p.changes.drift
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert not run(spec(d)).changes.changed


def test_invalid_file_is_replaced(tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, '10-podnet.conflist')
    with open(path, 'w') as f:
        f.write('{"name": "podnet", "plugins": [')
    p = run(spec(d))
    assert p.changes.drift[0]['path'] == 'config' and 'not valid JSON' in p.changes.drift[0]['before']
    assert json.loads(open(path).read())['name'] == 'podnet'


def test_mode_only_drift_keeps_the_content(tmp_path):
    d = str(tmp_path)
    run(spec(d))
    path = os.path.join(d, '10-podnet.conflist')
    before = open(path).read()
    p = run(spec(d, mode='0640'))
    assert [x['path'] for x in p.changes.drift] == ['mode%s' % path] and p.write is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640 and open(path).read() == before


def test_shadowing_is_refused(tmp_path):
    d = str(tmp_path)
    other = os.path.join(d, '01-legacy.conf')
    with open(other, 'w') as f:
        json.dump({'cniVersion': '0.4.0', 'name': 'podnet', 'type': 'loopback'}, f)
    with pytest.raises(ParameterError) as exc:
        run(spec(d))
    assert exc.value.param == 'name' and other in exc.value.msg and 'exclusive=true' in exc.value.msg
    assert exc.value.details['shadowed_by'] == [other]
    # libcni prefers any .conflist over a .conf, so ours would win the lookup: the message says so.
    assert 'by libcni\'s order' in exc.value.msg and '10-podnet.conflist' in exc.value.msg
    assert snapshot(d) == {'01-legacy.conf': open(other).read()}


def test_exclusive_removes_every_other_network_file(tmp_path):
    d = str(tmp_path)
    for name, body in (('05-old.conflist', {'cniVersion': '0.3.1', 'name': 'old', 'plugins': [{'type': 'loopback'}]}),
                       ('99-x.conf', {'cniVersion': '0.3.1', 'name': 'x', 'type': 'loopback'})):
        with open(os.path.join(d, name), 'w') as f:
            json.dump(body, f)
    with open(os.path.join(d, 'notes.txt'), 'w') as f:
        f.write('kept')
    p = run(spec(d), check=True)
    assert p.default_network['name'] == 'old' and p.removed == []
    p = run(spec(d, exclusive=True), check=True)
    removed = [os.path.join(d, '05-old.conflist'), os.path.join(d, '99-x.conf')]
    assert p.removed == removed
    assert p.default_network == {'path': os.path.join(d, '10-podnet.conflist'), 'name': 'podnet'}
    assert [x for x in p.changes.drift if x['path'].startswith('file')] == [
        dict(path='file%s/10-podnet.conflist' % d, before='absent', after='present'),
        dict(path='file%s' % removed[0], before='present', after='absent'),
        dict(path='file%s' % removed[1], before='present', after='absent'),
    ]
    texts = [x for x in p.changes.diff() if 'before_header' in x and x['before_header'].startswith(removed[0])]
    assert texts and '"old"' in texts[0]['before'] and texts[0]['after'] == ''
    assert sorted(os.listdir(d)) == ['05-old.conflist', '99-x.conf', 'notes.txt']
    run(spec(d, exclusive=True))
    assert sorted(os.listdir(d)) == ['10-podnet.conflist', 'notes.txt']
    assert not run(spec(d, exclusive=True)).changes.changed


def test_priority_change_moves_the_file(tmp_path):
    d = str(tmp_path)
    run(spec(d, priority=20))
    p = run(spec(d, priority=5))
    assert p.removed == [os.path.join(d, '20-podnet.conflist')]
    assert os.listdir(d) == ['05-podnet.conflist']


def test_absent(tmp_path):
    d = str(tmp_path)
    run(spec(d))
    p = run(spec(d, state='absent', plugins=None), check=True)
    assert p.changes.drift == [dict(path='file%s/10-podnet.conflist' % d, before='present', after='absent')]
    assert os.listdir(d) == ['10-podnet.conflist']
    run(spec(d, state='absent', plugins=None))
    assert os.listdir(d) == [] and p.config is None
    assert not run(spec(d, state='absent', plugins=None)).changes.changed


def test_failure_while_removing_puts_the_written_file_back(tmp_path, monkeypatch):
    d = str(tmp_path)
    with open(os.path.join(d, '05-old.conflist'), 'w') as f:
        json.dump({'cniVersion': '0.3.1', 'name': 'old', 'plugins': [{'type': 'loopback'}]}, f)
    before = snapshot(d)
    p = _cninetwork.plan(spec(d, exclusive=True), FakeProber(), read_text)

    def boom():
        raise OSError(13, 'Permission denied')
    monkeypatch.setattr(p.remove[0], 'commit', boom)
    with pytest.raises(OSError):
        _cninetwork.apply(p)
    assert snapshot(d) == before
    assert [n for n in os.listdir(d) if n.endswith('.tmp')] == []


def test_run_backs_up_every_file_it_replaces_or_removes_before_changing_it(tmp_path):
    d = str(tmp_path)
    (tmp_path / '05-old.conflist').write_text(json.dumps({'cniVersion': '0.3.1', 'name': 'old',
                                                          'plugins': [{'type': 'loopback'}]}))
    _cninetwork.run(spec(d), FakeProber())
    made = []

    def backup(path):
        made.append((path, open(path).read()))   # the file as it was: nothing changed yet
        return path + '.bak~'
    predicted = _cninetwork.run(spec(d, cni_version='0.4.0', exclusive=True), FakeProber(), check_mode=True,
                                backup=backup)
    assert made == [] and predicted.backup_files == [] and predicted.backup_file is None
    before = snapshot(d)
    p = _cninetwork.run(spec(d, cni_version='0.4.0', exclusive=True), FakeProber(), backup=backup)
    ours, other = os.path.join(d, '10-podnet.conflist'), os.path.join(d, '05-old.conflist')
    assert made == [(ours, before['10-podnet.conflist']), (other, before['05-old.conflist'])]
    assert p.backup_files == [ours + '.bak~', other + '.bak~'] and p.backup_file == ours + '.bak~'
    assert p.changes.drift == predicted.changes.drift and p.removed == [other]
    assert os.listdir(d) == ['10-podnet.conflist']
    fresh = _cninetwork.run(spec(d, name='second', priority=20), FakeProber(), backup=backup)
    assert fresh.backup_files == [] and fresh.backup_file is None, 'a new file has nothing to back up'
    assert len(made) == 2


def test_spec_resolves_owner_and_group(tmp_path):
    s = spec(str(tmp_path), owner='0', group='root')
    assert (s.uid, s.gid) == (0, 0)
    assert (spec(str(tmp_path)).uid, spec(str(tmp_path)).gid) == (-1, -1)   # keep the file's own
    with pytest.raises(ParameterError) as exc:
        spec(str(tmp_path), group='no-such-group-cni')
    assert exc.value.param == 'group' and 'no such group' in exc.value.msg


@pytest.mark.parametrize('kwargs, param, words', [
    (dict(name='bad name'), 'name', 'not a valid network name'),
    (dict(priority=1000), 'priority', '0 to 999'),
    (dict(cni_version='1.2.0'), 'cni_version', '1.1.0'),
    (dict(mode='u+rw'), 'mode', 'octal'),
    (dict(plugins=[]), 'plugins', 'at least one plugin'),
    (dict(plugins=[{'type': 'bridge', 'ipam': {'type': 'host-local', 'subnet': '10.0.0.1/24'}}]), 'plugins',
     'plugins[0].ipam.subnet: 10.0.0.1/24 has host bits set'),
    (dict(state='gone'), 'state', 'present or absent'),
])
def test_argument_errors(tmp_path, kwargs, param, words):
    with pytest.raises(ParameterError) as exc:
        spec(str(tmp_path), **kwargs)
    assert exc.value.param == param and words in exc.value.msg


def test_conf_dir_must_exist(tmp_path):
    with pytest.raises(ParameterError) as exc:
        run(spec(str(tmp_path / 'missing')))
    assert exc.value.param == 'conf_dir' and 'does not exist' in exc.value.msg


def test_check_mode_tolerates_a_binary_an_earlier_task_would_install(tmp_path):
    """The drift playbook runs cni_plugin and cni_network in one check-mode run: a deleted
    plugin binary must show as the plugin task's drift, not fail the network task."""
    d = str(tmp_path)
    run(spec(d))
    before = snapshot(d)
    s = spec(d)
    p = _cninetwork.plan(s, FakeProber(missing=('portmap',)), read_text, check_mode=True)
    assert not p.changes.changed and p.missing == ['portmap']
    assert any("no plugin binary 'portmap'" in w and 'check mode assumes' in w for w in s.warnings)
    # None installed yet (a fresh node): the file's version stands in for auto.
    p = _cninetwork.plan(spec(d), FakeProber(missing=('bridge', 'host-local', 'portmap')), read_text,
                         check_mode=True)
    assert p.cni_version == '1.0.0' and not p.changes.changed
    assert snapshot(d) == before
    # A real run still refuses it.
    with pytest.raises(ParameterError) as err:
        _cninetwork.plan(spec(d), FakeProber(missing=('portmap',)), read_text)
    assert "no plugin binary 'portmap'" in err.value.msg
