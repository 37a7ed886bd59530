# -*- coding: utf-8 -*-
"""Property tests (hypothesis) of sysctl keys and values: ``_procsys.canonical_key``, ``_sysctl``.

Any key is a canonical key or a ParameterError naming ``params``; a
canonical key is stable, and its /proc/sys path stays under the root. Any
value is the single line the kernel reads back or a ParameterError naming
the key; normalising twice changes nothing. A sysctl.d file of any content
parses into canonical entries or fails with StateFileError, and what
``render_conf`` writes parses back to the same entries.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.cni.node.plugins.module_utils import _procsys, _sysctl
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError, StateFileError

settings.register_profile('cni-node-properties', derandomize=True, deadline=None, database=None,
                          max_examples=200, suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile('cni-node-properties')

ROOT = '/proc/sys'
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
KEY_PART = st.sampled_from(['net', 'ipv4', 'conf', 'eth0', 'all', 'rp_filter', 'eth0.100', 'a@b', 'x+y', '-', '_',
                            '.', '..', '', ' ', 'é', '\0', '\n', ':', '*'])
KEYS = st.one_of(
    ANY_TEXT,
    st.lists(KEY_PART, min_size=1, max_size=6).map('.'.join),
    st.lists(KEY_PART, min_size=1, max_size=6).map('/'.join),
    st.text(st.sampled_from('ab./ \t-_:@+0'), max_size=12),
    st.sampled_from(['net.ipv4.ip_forward', 'net/ipv4/ip_forward', 'net.ipv4.conf.eth0/100.rp_filter',
                     'net/ipv4/conf/eth0.100/rp_filter', ' net.ipv4.ip_forward ', 'net.ipv4./..', 'a./.b', 'a.b/.c',
                     'net..x', 'net//x', '/net/x', 'net.x.', 'net.x/', 'x']),
    st.integers(), st.none(), st.booleans(), st.binary(max_size=8),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ANY_TEXT,
                    st.sampled_from(['1', '007', '-0', '00', 'yes', 'No', 'TRUE', ' 1  2\t3 ', '4096 87380 6291456',
                                     '-12', '+5', '1\n2', '1\r', 'a\0', '\u00b2', '\u0661', '\x85', '\u2028', '',
                                     '9' * 5000, '-' + '0' * 5000 + '7']))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner,
                                                                                           max_size=2),
                      max_leaves=6)


@PROFILE
@given(KEYS)
def test_any_key_is_canonical_or_refused_by_name(key):
    try:
        canon = _procsys.canonical_key(key)
    except ParameterError as exc:
        assert exc.param == 'params' and exc.msg.startswith('params: '), exc.msg
        return
    assert _procsys.canonical_key(canon) == canon
    path = _procsys.key_path(canon, ROOT)
    parts = os.path.relpath(path, ROOT).split(os.sep)
    assert os.path.normpath(path) == path and path.startswith(ROOT + '/'), path
    assert len(parts) >= 2 and not any(p in ('', '.', '..') for p in parts), path
    assert not any(c.isspace() or c == '\0' for c in canon), canon
    # The dotted and the slashed spelling of one key are one key.
    assert _procsys.canonical_key('/'.join(parts)) == canon


@settings(PROFILE, max_examples=300)
@given(VALUES)
@example([False, ''])   # found: '0 ', which the kernel reads back as '0' (a change on every run)
@example('9' * 5000)    # found: ValueError from int() (4300 digits at most)
def test_any_value_is_one_kernel_line_or_refused_by_name(value):
    key = 'net.ipv4.tcp_rmem'
    try:
        text = _sysctl.normalise_value(key, value)
    except ParameterError as exc:
        assert exc.param == 'params' and exc.msg.startswith('params.%s: ' % key), exc.msg
        return
    assert isinstance(text, str)
    assert '\n' not in text and '\r' not in text and '\0' not in text
    assert text == ' '.join(text.split()), text   # whitespace as the kernel prints it (ProcSys.read)
    assert _sysctl.normalise_value(key, text) == text
    # Integers in their decimal form, as the kernel reads them back.
    for token in text.split():
        if _sysctl._INT_RE.match(token):   # pylint: disable=protected-access
            assert token == '0' or not token.lstrip('-').startswith('0'), token
            assert token != '-0'


@PROFILE
@given(st.dictionaries(KEYS.filter(lambda k: isinstance(k, str)), VALUES, max_size=4),
       st.sampled_from(['present', 'absent']), st.booleans(), st.none() | st.just('cnt-props'))
def test_spec_of_any_params(params, state, exclusive, netns):
    try:
        spec = _sysctl.Spec(params, state=state, exclusive=exclusive, persist=netns is None, netns=netns)
    except ParameterError as exc:
        assert exc.param in ('params', 'state', 'exclusive'), exc.msg
        assert exc.msg.startswith(exc.param), exc.msg
        return
    for key, value in spec.params.items():
        assert _procsys.canonical_key(key) == key
        assert value is None if state == 'absent' else _sysctl.normalise_value(key, value) == value


LINES = st.one_of(
    st.tuples(KEYS.filter(lambda k: isinstance(k, str)), ANY_TEXT).map(lambda kv: '%s = %s' % kv),
    st.tuples(KEYS.filter(lambda k: isinstance(k, str)), ANY_TEXT).map(lambda kv: '-%s=%s' % kv),
    st.sampled_from(['# comment', '; comment', '', '   ', 'no equals sign', '=', 'net.ipv4.ip_forward=1',
                     'net.core.somaxconn = 4096 # not a comment', '\ufeffnet.x = 1']),
    ANY_TEXT,
)


@PROFILE
@given(st.lists(LINES, max_size=6).map('\n'.join) | st.binary(max_size=60).map(
    lambda b: b.decode('utf-8', 'surrogateescape')))
def test_any_sysctl_file_parses_or_fails_naming_the_line(text):
    try:
        entries = _sysctl.parse_conf(text, '/etc/sysctl.d/90-cni-node.conf')
    except StateFileError as exc:
        assert exc.msg.startswith('/etc/sysctl.d/90-cni-node.conf line '), exc.msg
        return
    for key, value in entries.items():
        assert _procsys.canonical_key(key) == key
        assert '\n' not in value
    if entries:
        # What the module writes reads back as the same entries.
        assert _sysctl.parse_conf(_sysctl.render_conf(entries)) == entries


@PROFILE
@given(st.from_regex(r'\A-?[0-9]{1,40}\Z'))
def test_integers_in_decimal_form_as_int_would_write_them(token):
    assert _sysctl.normalise_value('net.core.somaxconn', token) == str(int(token))
