# -*- coding: utf-8 -*-
"""Loader semantics like libcni (lookup by name, the Network it runs, versions) and go-cni/CRI-O (default network)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cniloader
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._fileutil import read_text


def conflist(name, version='1.0.0'):
    return json.dumps({'cniVersion': version, 'name': name, 'plugins': [{'type': 'loopback'}]})


def conf(name):
    return json.dumps({'cniVersion': '0.4.0', 'name': name, 'type': 'loopback'})


@pytest.fixture
def confdir(tmp_path):
    def make(files):
        for fname, text in files.items():
            if text is None:
                (tmp_path / fname).mkdir()
            else:
                (tmp_path / fname).write_text(text)
        return str(tmp_path)
    return make


def names(files):
    return [os.path.basename(f.path) for f in files]


def test_only_conf_extensions_in_lexical_byte_order(confdir):
    d = confdir({'b.conflist': conflist('b'), 'a.conf': conf('a'), 'C.json': conf('c'), 'x.conflist.bak': 'x',
                 '.10-n.conflist.abc.tmp': 'x', 'README': 'x', 'sub.conflist': None, '10-z.conflist': conflist('z')})
    files = _cniloader.scan(d, read_text)
    # Go's sort.Strings: digits < upper case < lower case; directories and other extensions are not files to load.
    assert names(files) == ['10-z.conflist', 'C.json', 'a.conf', 'b.conflist']


def test_default_network_is_the_first_file_of_any_extension(confdir):
    d = confdir({'20-list.conflist': conflist('list'), '10-legacy.conf': conf('legacy')})
    first, problem = _cniloader.default_network(_cniloader.scan(d, read_text))
    assert (os.path.basename(first.path), first.name, problem) == ('10-legacy.conf', 'legacy', None)


def test_default_network_reports_a_broken_first_file(confdir):
    d = confdir({'00-broken.conflist': '{not json', '10-ok.conflist': conflist('ok')})
    first, problem = _cniloader.default_network(_cniloader.scan(d, read_text))
    assert first.name is None and 'cannot be loaded' in problem and 'not valid JSON' in problem


def test_lookup_prefers_any_conflist_over_an_earlier_conf(confdir):
    # libcni LoadNetworkConf: all .conflist files first (lexically), then .conf/.json.
    d = confdir({'01-net.conf': conf('net'), '99-net.conflist': conflist('net')})
    found, problem = _cniloader.lookup(_cniloader.scan(d, read_text), 'net')
    assert os.path.basename(found.path) == '99-net.conflist' and problem is None


def test_lookup_first_conflist_wins_and_falls_back_to_conf(confdir):
    d = confdir({'10-a.conflist': conflist('net', '0.4.0'), '20-b.conflist': conflist('net'),
                 '05-c.json': conf('legacy')})
    files = _cniloader.scan(d, read_text)
    found, _problem = _cniloader.lookup(files, 'net')
    assert os.path.basename(found.path) == '10-a.conflist' and found.config['cniVersion'] == '0.4.0'
    found, _problem = _cniloader.lookup(files, 'legacy')
    assert os.path.basename(found.path) == '05-c.json' and found.config['plugins'] == [{'type': 'loopback'}]
    found, problem = _cniloader.lookup(files, 'nothere')
    assert found is None and 'no configuration file' in problem


def test_lookup_stops_at_an_unloadable_conflist_like_libcni(confdir):
    d = confdir({'10-bad.conflist': json.dumps({'name': 'bad', 'plugins': []}), '20-net.conflist': conflist('net')})
    found, problem = _cniloader.lookup(_cniloader.scan(d, read_text), 'net')
    assert found is None and '10-bad.conflist' in problem and 'libcni stops there' in problem


def test_duplicates_in_load_order(confdir):
    d = confdir({'20-x.conflist': conflist('net'), '10-y.conf': conf('net'), '30-z.conflist': conflist('other')})
    dup = _cniloader.duplicates(_cniloader.scan(d, read_text))
    assert list(dup) == ['net']
    assert [os.path.basename(p) for p in dup['net']] == ['10-y.conf', '20-x.conflist']


def test_overrides_answer_for_the_directory_after_a_change(confdir):
    d = confdir({'05-old.conflist': conflist('old')})
    ours = os.path.join(d, '10-new.conflist')
    files = _cniloader.scan(d, read_text, overrides={os.path.join(d, '05-old.conflist'): None, ours: conflist('new')})
    assert names(files) == ['10-new.conflist']
    first, _problem = _cniloader.default_network(files)
    assert first.name == 'new'


def test_spec_errors_are_kept_apart_from_load_errors(confdir):
    # libcni loads a list whose name breaks the spec's rules; the spec check still reports it.
    d = confdir({'10-x.conflist': json.dumps({'cniVersion': '1.0.0', 'name': 'bad name',
                                              'plugins': [{'type': 'loopback'}]})})
    f = _cniloader.scan(d, read_text)[0]
    assert f.loads and 'not a valid network name' in f.spec_error
    assert f.summary()['error'] == f.spec_error


def test_a_list_without_plugins_loads_from_its_sibling_folder(confdir):
    d = confdir({'10-x.conflist': json.dumps({'cniVersion': '1.1.0', 'name': 'x'}), 'x': None})
    assert _cniloader.scan(d, read_text)[0].loads
    d2 = confdir({'10-y.conflist': json.dumps({'cniVersion': '1.1.0', 'name': 'y'})})
    f = [f for f in _cniloader.scan(d2, read_text) if f.name == 'y'][0]
    assert f.load_error == 'no plugins'


# ---------------------------------------------------------------- versions

@pytest.mark.parametrize('version, versions, expected', [
    ('1.0.0', None, '1.0.0'),
    ('', None, ''),
    ('0.4.0', ['1.0.0', '0.3.1'], '1.0.0'),
    ('1.0.0', ['0.3.1'], '1.0.0'),
    ('', ['0.4.0', '1.1.0', '9.0.0'], '1.1.0'),      # versions above the implemented spec are skipped
    ('', ['9.0.0'], ''),
])
def test_effective_version_is_the_highest_implemented(version, versions, expected):
    assert _cniloader.effective_version(version, versions) == expected


@pytest.mark.parametrize('value, other, expected', [
    ('0.4.0', '0.4.0', True), ('0.3.1', '0.4.0', False), ('1.0.0', '0.4.0', True), ('', '0.4.0', False),
    ('1.1.0', '1.1.0', True),
])
def test_version_at_least(value, other, expected):
    assert _cniloader.version_at_least(value, other) is expected


# ---------------------------------------------------------------- networks

def test_a_single_plugin_configuration_is_upconverted():
    net = _cniloader.network_from_bytes(b'{"cniVersion": "0.4.0", "name": "one", "type": "bridge"}')
    assert (net.name, net.cni_version, [p['type'] for p in net.plugins]) == ('one', '0.4.0', ['bridge'])
    assert json.loads(net.raw.decode()) == {'name': 'one', 'cniVersion': '0.4.0',
                                            'plugins': [{'cniVersion': '0.4.0', 'name': 'one', 'type': 'bridge'}]}


def test_inline_config_is_validated_and_errors_name_config():
    with pytest.raises(ParameterError) as exc:
        _cniloader.inline_network({'cniVersion': '1.0.0', 'name': 'n', 'plugins': [
            {'type': 'bridge', 'ipam': {'type': 'host-local', 'subnet': '10.0.0.0/33'}}]})
    assert exc.value.param == 'config' and exc.value.msg.startswith('config.plugins[0].ipam.subnet')
    net = _cniloader.inline_network({'cniVersion': '1.0.0', 'name': 'n', 'disableCheck': 'true',
                                     'plugins': [{'type': 'loopback'}]})
    assert net.disable_check is True and net.name == 'n'


def test_load_network_by_name_with_plugins_from_the_sibling_folder(tmp_path):
    text = '{"cniVersion": "1.0.0", "name": "split", "plugins": [{"type": "bridge"}]}\n'
    (tmp_path / '10-split.conflist').write_text(text)
    (tmp_path / 'split').mkdir()
    (tmp_path / 'split' / '20-tuning.conf').write_text('{"type": "tuning"}')
    (tmp_path / 'split' / '10-portmap.conf').write_text('{"type": "portmap"}')
    (tmp_path / 'split' / 'ignored.json').write_text('{"type": "nope"}')
    net = _cniloader.load_network(str(tmp_path), 'split')
    assert [p['type'] for p in net.plugins] == ['bridge', 'portmap', 'tuning']
    assert net.path == str(tmp_path / '10-split.conflist')
    # The cache holds the whole chain, so a DEL from the cache runs the sibling plugins too.
    assert [p['type'] for p in _cniloader.network_from_bytes(net.raw).plugins] == ['bridge', 'portmap', 'tuning']
    inlined_only = text.replace('"plugins"', '"loadOnlyInlinedPlugins": true, "plugins"')
    (tmp_path / '10-split.conflist').write_text(inlined_only)
    inlined_net = _cniloader.load_network(str(tmp_path), 'split')
    assert [p['type'] for p in inlined_net.plugins] == ['bridge'] and inlined_net.raw == inlined_only.encode()
    with pytest.raises(ParameterError) as exc:
        _cniloader.load_network(str(tmp_path), 'other')
    assert exc.value.param == 'network' and 'other' in exc.value.msg
