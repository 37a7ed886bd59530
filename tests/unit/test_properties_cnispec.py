# -*- coding: utf-8 -*-
"""Property tests (hypothesis) of the CNI configuration validation: conflists, legacy files, cni_network's Spec.

Any JSON value in any field gives a ConfigError/ParameterError whose message
starts with the JSON path (or names the parameter), or a configuration that
normalises to itself again; never another exception. A fixed seed
(``derandomize``) and a bounded example count keep the run deterministic.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import tempfile

from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st

from ansible_collections.cni.node.plugins.module_utils import _cniloader, _cninetwork, _cnispec
from ansible_collections.cni.node.plugins.module_utils._cniloader import ConfFile
from ansible_collections.cni.node.plugins.module_utils._fileutil import read_text
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

settings.register_profile('cni-node-properties', derandomize=True, deadline=None, database=None,
                          max_examples=200, suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile('cni-node-properties')

# Strings a JSON file can hold: any code point, lone surrogates included (json.loads('"\\ud800"')).
TEXT = st.text(st.characters(exclude_categories=()), max_size=20)
# Values near the ones the validators look at, so that more examples get past the first check.
NEAR = st.sampled_from([
    '', ' ', '.', '..', '/', 'cni0', 'bridge', 'host-local', 'static', 'dhcp', 'ptp', 'portmap', 'true', 'false',
    'TRUE', '0.4.0', '1.0.0', '1.1.0', '1.1', '01.0.0', '1.0.0.0', '\u00b2', '\u0661.\u0660.\u0660', '1.\u00b9.0',
    '10.22.0.0/16', '10.22.0.0/255.255.0.0', '10.22.0.1', '10.22.0.1/16', 'fd00::/64', 'FD00::0001', 'fd00::1%eth0',
    'fe80::/64%x', '10.22.0.0/33', '10.22.0.0/\u0661\u0666', '0.0.0.0/0', '::/0', '10.22.0.255', '1.2.3',
    '0a:58:0a:16:00:05', '0A-58-0A-16-00-05', 'zz:58:0a:16:00:05', '/var/lib/cni', 'relative', 'eth0', 'x' * 16,
    'a\u00e0b', 'vx%d', '\0', 'iptables', 'nftables', 'l2', 'bridge', 'open', 'vrf0',
    0, 1, -1, 68, 1500, 4094, 4095, 65535, 65536, 2 ** 32, 2 ** 64, 10 ** 30, 1.5, True, False, None, [], {},
    [[]], [{}], {'type': 'host-local'}, {'subnet': '10.22.0.0/24'}, [{'subnet': '10.22.0.0/24'}],
])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT | NEAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT | NEAR.filter(lambda v: isinstance(v, str)),
                                                                inner, max_size=4),
    max_leaves=10)

# Digits of every script and '.', for the version fields (str.isdigit() is true for '\u00b2', int() refuses it).
VERSIONISH = st.text(st.sampled_from('0123456789.') | st.characters(categories=('Nd', 'No')), min_size=1, max_size=7)
FIELD = st.one_of(NEAR, VERSIONISH, JSON)


def _bridge():
    return {'type': 'bridge', 'bridge': 'cni0', 'isGateway': True, 'ipMasq': True, 'ipMasqBackend': 'iptables',
            'mtu': 1450, 'hairpinMode': False, 'vlan': 0, 'vlanTrunk': [{'id': 5}, {'minID': 10, 'maxID': 20}],
            'capabilities': {'ipRanges': True, 'mac': False},
            'dns': {'nameservers': ['10.22.0.1', 'fd00::1'], 'domain': 'example', 'search': ['a'], 'options': []},
            'ipam': {'type': 'host-local', 'dataDir': '/var/lib/cni/networks', 'resolvConf': '/etc/resolv.conf',
                     'ranges': [[{'subnet': '10.22.0.0/24', 'rangeStart': '10.22.0.10', 'rangeEnd': '10.22.0.200',
                                  'gateway': '10.22.0.1'},
                                 {'subnet': '10.22.1.0/24'}],
                                [{'subnet': 'fd00::/64', 'gateway': 'fd00::1'}]],
                     'routes': [{'dst': '0.0.0.0/0', 'gw': '10.22.0.1', 'mtu': 1400, 'priority': 5},
                                {'dst': '::/0'}]}}


TEMPLATES = [
    {'cniVersion': '1.1.0', 'cniVersions': ['1.0.0', '1.1.0'], 'name': 'net1', 'disableCheck': 'false',
     'disableGC': True, 'loadOnlyInlinedPlugins': False, 'unknownTop': {'kept': [1, 2]},
     'plugins': [
         _bridge(),
         {'type': 'portmap', 'snat': True, 'backend': 'nftables', 'conditionsV4': ['-s', '1.2.3.4'],
          'markMasqBit': 13, 'capabilities': {'portMappings': True}},
         {'type': 'firewall', 'backend': 'iptables', 'ingressPolicy': 'same-bridge', 'iptablesAdminChainName': 'X'},
         {'type': 'tuning', 'sysctl': {'net.core.somaxconn': '500'}, 'mac': '0a:58:0a:16:00:05', 'promisc': True,
          'mtu': 1400, 'txQLen': 1000, 'dataDir': '/run/cni/tuning'},
         {'type': 'bandwidth', 'ingressRate': 1000, 'ingressBurst': 2000, 'egressRate': 0, 'egressBurst': 0},
         {'type': 'sbr', 'table': 100, 'gateways': ['10.22.0.1'], 'addSourceHints': True},
         {'type': 'vrf', 'vrfname': 'vrf0', 'table': 1001},
         {'type': 'third-party', 'anything': {'goes': [None, 1.5]}}]},
    {'cniVersion': '0.4.0', 'name': 'net2',
     'plugins': [
         {'type': 'ptp', 'ipMasq': True, 'mtu': 1500,
          'ipam': {'type': 'static', 'addresses': [{'address': '10.10.0.5/24', 'gateway': '10.10.0.1'},
                                                   {'address': 'fd00::5/64'}],
                   'routes': [{'dst': '10.0.0.0/8'}], 'dns': {'nameservers': ['10.10.0.1']}}},
         {'type': 'macvlan', 'master': 'eth0', 'mode': 'bridge', 'mac': '0A-58-0A-16-00-06', 'bcqueuelen': 100,
          'ipam': {'type': 'dhcp', 'daemonSocketPath': '/run/cni/dhcp.sock', 'request': [{'skipDefault': True}],
                   'priority': 3, 'routes': [{'dst': '10.3.0.0/16'}]}},
         {'type': 'ipvlan', 'master': 'eth1', 'mode': 'l3', 'linkInContainer': False, 'ipam': {}},
         {'type': 'vlan', 'master': 'eth2', 'vlanId': 10, 'mtu': 1500},
         {'type': 'host-device', 'device': 'eth3', 'hwaddr': '0a:58:0a:16:00:07'},
         {'type': 'loopback'}]},
    {'cniVersion': '0.2.0', 'name': 'old.net-3',
     'plugins': [{'type': 'bridge', 'bridge': 'br-old',
                  'ipam': {'type': 'host-local', 'subnet': '10.30.0.0/16', 'rangeStart': '10.30.0.10',
                           'gateway': '10.30.0.1'}}]},
]


def _paths(value, path=()):
    """Every (path, value) in a JSON document: dict keys and list indexes."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, path + (i,))


def _replaced(doc, path, value, how):
    """A copy of ``doc`` with the value at ``path`` replaced, deleted, or given an unknown sibling key."""
    out = copy.deepcopy(doc)
    if not path:
        return value
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    if how == 'delete':
        del parent[path[-1]]
    elif how == 'sibling' and isinstance(parent, dict):
        parent['x-unknown'] = value
    else:
        parent[path[-1]] = value
    return out


def _json_path(path):
    text = ''
    for step in path:
        text += '[%d]' % step if isinstance(step, int) else ('.%s' % step if text else step)
    return text


def _canonical(value):
    return json.dumps(value, sort_keys=True)


@st.composite
def one_field_replaced(draw, templates=None):
    """(template index, path, document): a valid conflist with one field replaced by arbitrary JSON (or deleted)."""
    templates = TEMPLATES if templates is None else templates
    index = draw(st.integers(0, len(templates) - 1))
    doc = templates[index]
    paths = [p for p, _v in _paths(doc)]
    path = draw(st.sampled_from(paths))
    how = draw(st.sampled_from(['replace', 'replace', 'delete', 'sibling'])) if path else 'replace'
    value = draw(FIELD)
    return index, path, _replaced(doc, path, value, how)


def _event(what):
    """Counted in --hypothesis-show-statistics: how many examples got through, how many were refused."""
    if currently_in_test_context():
        event(what)


def _check_error(exc):
    """A ConfigError's message starts with its JSON path (when it has one) and names a real path."""
    _event('refused')
    assert isinstance(exc, _cnispec.ConfigError), repr(exc)
    if exc.path:
        assert exc.msg.startswith(exc.path + ': '), exc.msg
    assert exc.problem and exc.problem.strip(), exc.msg


def _normalises_to_itself(conf, require_version=True):
    _event('accepted')
    again = _cnispec.normalise_list(conf, require_version=require_version)
    assert _canonical(again) == _canonical(conf)
    # The file the module writes reads back as the same configuration.
    assert _canonical(_cnispec.normalise_list(json.loads(_cnispec.render(conf)),
                                              require_version=require_version)) == _canonical(conf)


def test_templates_are_valid():
    for doc in TEMPLATES:
        _normalises_to_itself(_cnispec.normalise_list(doc))


@PROFILE
@given(JSON)
def test_any_json_document_is_a_config_or_a_config_error(data):
    for require_version in (True, False):
        try:
            conf = _cnispec.normalise_list(data, require_version=require_version)
        except _cnispec.ConfigError as exc:
            _check_error(exc)
        else:
            _normalises_to_itself(conf, require_version)
    try:
        conf = _cnispec.normalise_conf(data)
    except _cnispec.ConfigError as exc:
        _check_error(exc)
    else:
        _normalises_to_itself(conf, require_version=False)


@settings(PROFILE, max_examples=300)
@given(one_field_replaced())
# Found: IndexError for an empty cniVersions, ValueError from int('\u00b2').
@example((0, ('cniVersions',), dict(TEMPLATES[0], cniVersions=[])))
@example((0, ('cniVersion',), dict(TEMPLATES[0], cniVersion='\u00b2')))
@example((0, ('cniVersions', 0), dict(TEMPLATES[0], cniVersions=['1.\u00b9.0'])))
def test_one_field_replaced_by_any_json(case):
    index, path, doc = case
    warnings = []
    try:
        conf = _cnispec.normalise_list(doc, warnings=warnings)
    except _cnispec.ConfigError as exc:
        _check_error(exc)
        if len(path) >= 2 and path[0] == 'plugins':
            # A plugin is validated on its own: the error is about the plugin that was changed (or the
            # list, when the only plugin was deleted).
            assert exc.path.startswith(_json_path(path[:2])) or exc.path == 'plugins', (exc.path, path)
    else:
        _normalises_to_itself(conf)
        assert all(isinstance(w, str) and w for w in warnings)
        # An unchanged field keeps its meaning: the name and the plugin types are as given.
        assert conf['name'] == doc['name']
        assert [p['type'] for p in conf['plugins']] == [p['type'] for p in doc['plugins']]
        del index


@PROFILE
@given(one_field_replaced(TEMPLATES[1:]))
def test_one_field_replaced_in_a_legacy_file(case):
    _index, path, doc = case
    if not isinstance(doc, dict) or not isinstance(doc.get('plugins'), list) or not doc['plugins']:
        return
    plugin = doc['plugins'][0]
    conf = dict(plugin, name=doc.get('name'), cniVersion=doc.get('cniVersion')) if isinstance(plugin, dict) \
        else plugin
    try:
        out = _cnispec.normalise_conf(conf)
    except _cnispec.ConfigError as exc:
        _check_error(exc)
        assert not exc.path.startswith('plugins[0]'), exc.path   # paths are the file's own
    else:
        _normalises_to_itself(out, require_version=False)
        del path


@PROFILE
@given(st.one_of(JSON.map(_canonical), one_field_replaced().map(lambda c: _canonical(c[2])), TEXT,
                 st.integers(1, 5000).map(lambda n: '[' * n), st.integers(1, 5000).map(lambda n: '{"a":' * n),
                 st.sampled_from([1, 50, 99, 100, 101, 500, 1500, 5000]).map(
                     lambda n: '{"name": "a", "cniVersion": "1.0.0", "plugins": [{"type": "x", "k": %s%s}]}'
                     % ('[' * n, ']' * n)),
                 st.binary(max_size=40).map(lambda b: b.decode('utf-8', 'surrogateescape'))),
       st.sampled_from(['/etc/cni/net.d/10-a.conflist', '/etc/cni/net.d/10-a.conf', '/etc/cni/net.d/a.json']))
# Found: RecursionError from json.loads (5000 levels) and from copy.deepcopy (a few hundred levels; 1500 here:
# hypothesis raises the recursion limit by 2000 while a test runs).
@example('[' * 5000, '/etc/cni/net.d/10-a.conflist')
@example('{"name": "a", "cniVersion": "1.0.0", "plugins": [{"type": "x", "k": %s%s}]}' % ('[' * 1500, ']' * 1500),
         '/etc/cni/net.d/10-a.conflist')
def test_any_file_text_loads_or_says_why(text, path):
    """What a runtime finds in the directory: any text (as read_text gives it) is a ConfFile, never an exception."""
    f = ConfFile(path, text)
    assert f.loads == (f.load_error is None)
    if f.config is not None:
        assert f.spec_error is None
        _normalises_to_itself(f.config, require_version=False)
    else:
        assert isinstance(f.spec_error, str) and f.spec_error
    assert f.name is None or isinstance(f.name, str)
    f.summary()


# cni_network's Spec: every argument, any JSON value.

VALID_SPEC = dict(name='net1', plugins=[_bridge(), {'type': 'portmap', 'capabilities': {'portMappings': True}}],
                  cni_version='auto', disable_check=False, disable_gc=False, conf_dir='/etc/cni/net.d',
                  bin_dirs=['/opt/cni/bin'], priority=10, validate=True, exclusive=False, mode='0644',
                  state='present')
SPEC_PARAMS = sorted(VALID_SPEC)


@st.composite
def spec_arguments(draw):
    args = copy.deepcopy(VALID_SPEC)
    for key in draw(st.lists(st.sampled_from(SPEC_PARAMS), min_size=1, max_size=3, unique=True)):
        args[key] = draw(FIELD)
    if draw(st.booleans()):
        index, path, doc = draw(one_field_replaced(TEMPLATES[:1]))
        args['plugins'] = doc['plugins'] if isinstance(doc, dict) and 'plugins' in doc else doc
        del index, path
    return args


def test_valid_spec_arguments():
    spec = _cninetwork.Spec(**copy.deepcopy(VALID_SPEC))
    _normalises_to_itself(spec.desired)


@settings(PROFILE, max_examples=300)
@given(spec_arguments())
# Found: TypeError from os.path.isabs(True), from list(True).
@example(dict(VALID_SPEC, conf_dir=True))
@example(dict(VALID_SPEC, bin_dirs=True))
def test_network_spec_any_json_argument(args):
    try:
        spec = _cninetwork.Spec(**args)
    except ParameterError as exc:
        assert exc.msg and exc.msg.strip()
        # The message names the argument it is about (its parameter, or the JSON path of the list).
        named = [exc.param] if exc.param else []
        named += [getattr(exc, 'path', None) or '']
        assert any(n and n.split('.', 1)[0].split('[', 1)[0] in exc.msg for n in named), (exc.msg, exc.param)
    else:
        if spec.desired is not None:
            _normalises_to_itself(spec.desired)
            assert spec.desired['name'] == args['name']
        assert spec.path.startswith(spec.conf_dir + '/')
        assert 0 <= spec.mode <= 0o7777


class _Prober(object):
    """Every plugin binary is there, safe, and speaks every version."""

    def find(self, plugin_type, bin_dirs):
        return '/opt/cni/bin/' + plugin_type

    def problems(self, path):
        return []

    def versions(self, path):
        return list(_cnispec.SPEC_VERSIONS)


FILE_TEXT = st.one_of(JSON.map(_canonical), one_field_replaced().map(lambda c: _canonical(c[2])), TEXT,
                      st.sampled_from([1, 99, 100, 400, 5000]).map(lambda n: '{"name": "net1", "k": %s%s}'
                                                                   % ('[' * n, ']' * n)))


@settings(PROFILE, max_examples=150)
@given(FILE_TEXT, FILE_TEXT, st.booleans(), st.booleans())
@example('[' * 5000, '{}', False, False)   # found: RecursionError from json.loads in _parse_existing
def test_plan_over_any_existing_files(own, other, exclusive, check_mode):
    """The network's own file and another one hold anything: a plan, or a ParameterError; never an exception."""
    with tempfile.TemporaryDirectory(prefix='cnt-props-') as conf_dir:
        for name, text in (('10-net1.conflist', own), ('20-other.conflist', other)):
            with open(os.path.join(conf_dir, name), 'wb') as f:
                f.write(text.encode('utf-8', 'surrogatepass'))
        spec = _cninetwork.Spec(**dict(copy.deepcopy(VALID_SPEC), exclusive=exclusive, conf_dir=conf_dir))
        try:
            p = _cninetwork.plan(spec, _Prober(), read_text, check_mode=check_mode)
        except ParameterError as exc:
            assert exc.param == 'name' and 'also defined by' in exc.msg, exc.msg   # the other file shadows it
        else:
            _normalises_to_itself(p.config)
            assert (p.write is None) == (_cniloader.ConfFile(spec.path, read_text(spec.path)).config == p.config)
