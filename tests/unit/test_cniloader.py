# -*- coding: utf-8 -*-
"""Loader semantics like libcni (lookup by name) and go-cni/CRI-O (default network), on temp directories."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cniloader
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
