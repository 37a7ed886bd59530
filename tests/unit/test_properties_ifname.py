# -*- coding: utf-8 -*-
"""Property tests (hypothesis) of interface names: ``_ifname`` against the kernel's own rule.

The oracle below is net/core/dev.c ``dev_valid_name`` transcribed onto the
UTF-8 bytes of the name (the kernel sees bytes, not characters), with
``isspace`` from lib/ctype.c (0x09-0x0d, 0x20 and 0xa0), plus what the
collection refuses on top of it: a NUL (the kernel would silently cut the
name there) and '%' (the kernel reads ``vx%d`` as a template). Every caller
that takes a link name (``check_ifname``, ``problem``, the ``bridge`` of a
conflist, cni_bridge, cni_vxlan, cni_netns) must agree with it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.cni.node.plugins.module_utils import _bridge, _cnispec, _ifname, _namedns, _netns, _vxlan
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

settings.register_profile('cni-node-properties', derandomize=True, deadline=None, database=None,
                          max_examples=200, suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile('cni-node-properties')

IFNAMSIZ = 16
KERNEL_ISSPACE = (0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0)


def kernel_dev_valid_name(raw):
    """net/core/dev.c dev_valid_name() on a NUL-terminated byte string (``raw`` without the NUL)."""
    name = raw.split(b'\0', 1)[0]     # the kernel reads up to the first NUL
    if not name:
        return False
    if len(name) >= IFNAMSIZ:         # strnlen(name, IFNAMSIZ) == IFNAMSIZ
        return False
    if name in (b'.', b'..'):
        return False
    return not any(b in (0x2f, 0x3a) or b in KERNEL_ISSPACE for b in bytearray(name))


def accepted(name):
    """What the collection must accept: the kernel's rule, without NUL (silently cut) or '%' (a template)."""
    try:
        raw = name.encode('utf-8')
    except UnicodeError:              # lone surrogates: no UTF-8 text the kernel could be given
        return False
    return b'\0' not in raw and b'%' not in raw and kernel_dev_valid_name(raw)


# Characters around the rule: separators, every kernel space, characters whose UTF-8 holds 0xa0
# (U+00A0 is C2 A0, U+00E0 is C3 A0, U+0820 is E0 A0 A0), Unicode spaces the kernel does not know,
# multi-byte letters (the 15-byte limit), a lone surrogate.
EDGE = st.sampled_from(['/', ':', '%', '\0', '.', ' ', '\t', '\n', '\x0b', '\x0c', '\r', '\x1c', '\x85', '\xa0',
                        '\xe0', '\u0820', '\u2028', '\u3000', '\ufeff', '\xe9', '\u20ac', '\U0001f600', '\ud800',
                        'a', 'Z', '0', '-', '_', '@', '#', '\\'])
NAMES = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=20),
    st.text(EDGE, max_size=18),
    st.text(st.sampled_from('abc.-') | EDGE, min_size=13, max_size=17),
    st.binary(max_size=20).map(lambda b: b.decode('utf-8', 'surrogateescape')),
    st.binary(max_size=20).map(lambda b: b.decode('latin-1')),
    st.sampled_from(['.', '..', '...', 'x' * 15, 'x' * 16, '\xe9' * 7 + 'x', '\xe9' * 8, 'vx%d', 'eth0', 'a\xe0']),
)


@PROFILE
@given(NAMES)
def test_accepted_exactly_when_the_kernel_takes_it(name):
    expected = accepted(name)
    why = _ifname.problem(name)
    assert (why is None) == expected, (name, why)
    try:
        assert _ifname.check_ifname(name, 'veth.peer') == name
        assert expected, name
    except ParameterError as exc:
        assert not expected, (name, exc.msg)
        assert exc.param == 'veth.peer' and exc.msg.startswith('veth.peer'), exc.msg
        assert exc.msg == 'veth.peer %s' % why or exc.msg.startswith('veth.peer: '), exc.msg


@PROFILE
@given(st.one_of(st.binary(max_size=20), st.none(), st.integers(), st.floats(), st.lists(st.text(max_size=3)),
                 st.booleans()))
def test_anything_but_text_is_refused(name):
    """bytes (the name's raw form), numbers, None: refused by name, never an exception."""
    assert _ifname.problem(name) is not None
    try:
        _ifname.check_ifname(name, 'dev')
    except ParameterError as exc:
        assert exc.param == 'dev' and exc.msg.startswith('dev: '), exc.msg
    else:
        raise AssertionError('accepted %r' % (name,))


@PROFILE
@given(NAMES)
def test_every_caller_agrees(name):
    """The same name is taken or refused alike by each argument that names a link."""
    expected = accepted(name)
    conflist = {'cniVersion': '1.0.0', 'name': 'n', 'plugins': [{'type': 'bridge', 'bridge': name}]}
    callers = [
        ('bridge', lambda: _bridge.Spec(name)),
        ('vxlan name', lambda: _vxlan.Spec(name, state='absent')),
        ('vxlan dev', lambda: _vxlan.Spec('cnv0' if name != 'cnv0' else 'cnv1', state='absent', dev=name)),
        ('veth', lambda: _namedns.VethSpec(name, 'cnp0' if name != 'cnp0' else 'cnp1')),
        ('conflist bridge', lambda: _cnispec.normalise_list(conflist)),
    ]
    for what, call in callers:
        if what == 'vxlan dev' and name == '':
            continue   # an empty dev means "not given"
        # The conflist's bridge is also a plain file name (no '\\'): stricter than the kernel there only.
        want = expected and not (what == 'conflist bridge' and '\\' in name)
        try:
            call()
        except ParameterError as exc:
            assert not want, (what, name, exc.msg)
            assert exc.msg.strip(), what
        else:
            assert want, (what, name)


# Network namespace names: a file name under /run/netns (iproute2's rule), what cni_netns creates.

NS_NAMES = st.one_of(
    NAMES,
    st.text(st.characters(exclude_categories=()), min_size=250, max_size=260),
    st.text(st.sampled_from('a\xe9\u20ac'), min_size=80, max_size=130),
    st.sampled_from(['pod-a', 'a' * 255, 'a' * 256, '\ud800', 'x\udcff', '-', '.x', 'a\x7f', 'a\u2028b']),
)


@PROFILE
@given(NS_NAMES)
@example('\ud800')   # found: UnicodeEncodeError
def test_namespace_names_stay_in_the_netns_directory(name):
    try:
        checked = _namedns.check_ns_name(name)
    except ParameterError as exc:
        assert exc.param == 'name' and exc.msg.startswith('name'), exc.msg
        return
    assert checked == name
    raw = name.encode('utf-8')
    assert 1 <= len(raw) <= 255 and b'/' not in raw and b'\0' not in raw and name not in ('.', '..')
    path = _netns.netns_path(name)
    assert os.path.dirname(path) == _netns.NETNS_RUN_DIR and os.path.basename(path) == name
