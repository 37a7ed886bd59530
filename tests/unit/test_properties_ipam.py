# -*- coding: utf-8 -*-
"""Property tests (hypothesis) of the IPAM pool: Spec arguments, state files, plans.

Any argument (cidr, node_prefix, members, reserved, claims, ...) gives a
ParameterError naming it, or a Spec whose plan hands each listed member one
subnet per family inside the pool, none twice, none reserved, claims kept,
and that a rerun from the written file leaves as it is. Any state file
(arbitrary bytes, arbitrary JSON, a valid file with one field replaced)
gives a StateFileError naming the path, or a loaded document that renders
and loads back to itself and that a plan takes, or refuses, by name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import json
import os
import tempfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.cni.node.plugins.module_utils import _ipam, _ipamaddr, _ipamspec, _ipamstate
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError, StateFileError
from ansible_collections.cni.node.plugins.module_utils._statefile import LockedStateFile

settings.register_profile('cni-node-properties', derandomize=True, deadline=None, database=None,
                          max_examples=200, suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile('cni-node-properties')

PATH = '/var/lib/cni-node/ipam.json'
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=16)
NEAR = st.sampled_from([
    '10.0.0.0/20', '10.0.0.0/24', '10.0.0.1/20', 'fd00::/48', 'fd00::/120', 'FD00::/48', '10.0.0.0/20,fd00::/48',
    '10.0.0.0/255.255.240.0', '10.0.0.0/\u00b2\u2074', '10.0.0.0/33', '::/0', '0.0.0.0/0', '10.0.0.0', 'fe80::%x/64',
    '10.0.1.0/24', '10.0.2.0/24', '10.0.0.5', '10.0.0.1-10.0.0.9', '10.0.0.9-10.0.0.1', '10.0.3.0/26', 'fd00::1',
    'fd00::-fd00::ff', 'fd00:0:0:1::/64', '10.0.0.1-fd00::1', ' 10.0.4.0/24 ', 'a', 'b', 'c', 'a/b', ' a', '',
    '24', '030', '\u00b2\u2074', '\u0662\u0664', '9' * 20, 24, 30, 31, 64, 126, 127, 0, -1, 2 ** 70, 24.0, True,
    {'ipv4': 24}, {'ipv4': 24, 'ipv6': 64}, {'ipv4': '24', 'ipv6': '\u00b2'}, {'ipv5': 1},
    ['10.0.0.0/20'], ['10.0.0.0/20', 'fd00::/48'], ['10.0.0.0/20', '10.1.0.0/20'], ['a', 'b'], ['a', 'a'],
    {'a': '10.0.1.0/24'}, {'a': ['10.0.1.0/24', 'fd00:0:0:1::/64']}, {'a': {'ipv4': '10.0.2.0/24'}},
    {'a': {'ipv6': '10.0.2.0/24'}}, {'b': '10.0.1.0/24', 'c': '10.0.1.0/24'}, {'z': '10.0.0.0/24'},
    None, [], {}, 'all', 'subnets', 'changed', 'none', 'present', 'absent',
])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT | NEAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8)
# Digit strings of every script (str.isdigit() is true for '\u00b2', which int() refuses).
DIGITS = st.text(st.sampled_from('0123456789') | st.characters(categories=('Nd', 'No')), min_size=1, max_size=4)
FIELD = st.one_of(NEAR, DIGITS, st.dictionaries(st.sampled_from(['ipv4', 'ipv6']), DIGITS | NEAR),
                  st.just('9' * 5000), JSON)   # int() refuses more than 4300 digits

VALID = dict(name='pods', cidr=['10.0.0.0/20', 'fd00::/48'], node_prefix={'ipv4': 24, 'ipv6': 64},
             members=['a', 'b', 'c'], reserved=['10.0.0.0/24', 'fd00::-fd00::ff'],
             claims={'c': ['10.0.5.0/24', 'fd00:0:0:5::/64']}, purge=False, state='present', return_members='all')


@st.composite
def spec_arguments(draw):
    args = copy.deepcopy(VALID)
    for key in draw(st.lists(st.sampled_from(sorted(VALID)), min_size=1, max_size=3, unique=True)):
        args[key] = draw(FIELD)
    return args


def _check_plan(spec, p, doc):
    """Each listed member holds one subnet per family, in the pool, not reserved, as claimed; none shared."""
    members = p.record['members'] if p.record else {}
    for family in spec.families:
        pool = spec.pools[family]
        seen = {}
        for m in spec.members:
            text = members[m][family]
            family_, n, prefix = _ipamaddr.parse_subnet(text)
            assert family_ == family and prefix == pool.node_prefix, text
            index, why = pool.index(n, prefix)
            assert why is None, (text, why)
            assert not any(lo <= index <= hi for lo, hi in spec.spans[family]), text   # not reserved
            assert seen.setdefault(text, m) == m, (text, m)
            if m in spec.claims[family]:
                assert index == spec.claims[family][m], (m, text)
        old = doc['pools'].get(spec.name)
        if old:   # sticky: nobody listed is renumbered
            for m in spec.members:
                if family in old['members'].get(m, {}):
                    assert old['members'][m][family] == members[m][family]


def _rerun(spec, doc, p):
    """Written, read back and planned again: nothing changes."""
    new = _ipam.apply(doc, p, spec.name)
    text = _ipamstate.render_document(new)
    again = _ipamstate.load_document(text, PATH)
    assert again == new
    p2 = _ipam.plan(spec, again, PATH)
    assert not p2.write and p2.record == p.record


@settings(PROFILE, max_examples=300)
@given(spec_arguments())
# Found: ValueError from int('\u1369') and int('9' * 5000).
@example(dict(VALID, cidr='10.0.0.0/20', node_prefix={'ipv4': '\u1369'}))
@example(dict(VALID, cidr='10.0.0.0/20', node_prefix='9' * 5000))
def test_any_argument_is_refused_by_name_or_planned(args):
    try:
        spec = _ipamspec.Spec(**args)
    except ParameterError as exc:
        assert exc.param in VALID and exc.msg.startswith(exc.param), (exc.param, exc.msg)
        return
    doc = _ipamstate.new_document()
    try:
        p = _ipam.plan(spec, doc, PATH)
    except ParameterError as exc:
        # A plan of a fresh pool fails only when the pool is exhausted or claims conflict.
        assert exc.param in ('members', 'claims', 'reserved'), exc.msg
        return
    if spec.state == 'present':
        _check_plan(spec, p, doc)
    _rerun(spec, doc, p)


def _recorded_document():
    spec = _ipamspec.Spec(**copy.deepcopy(VALID))
    doc = _ipamstate.new_document()
    p = _ipam.plan(spec, doc, PATH)
    out = json.loads(_ipamstate.render_document(_ipam.apply(doc, p, 'pods')))
    out['pools']['other'] = {'cidr': ['192.168.0.0/16'], 'node_prefix': {'ipv4': 24}, 'reserved': [],
                             'members': {'x': {'ipv4': '192.168.7.0/24'}}}
    return out


RECORDED = _recorded_document()


def _fields(doc):
    """Paths (tuples of keys) of every value in the state document."""
    out, todo = [], [((), doc)]
    while todo:
        path, value = todo.pop()
        out.append(path)
        if isinstance(value, dict):
            todo.extend((path + (k,), v) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend((path + (i,), v) for i, v in enumerate(value))
    return sorted(out, key=repr)


FIELDS = _fields(RECORDED)


@st.composite
def state_documents(draw):
    """The recorded document with one value replaced by any JSON, or removed."""
    doc = copy.deepcopy(RECORDED)
    path = draw(st.sampled_from(FIELDS))
    value = draw(FIELD)
    if not path:
        return value
    *head, last = path
    target = doc
    for key in head:
        target = target[key]
    if draw(st.booleans()) and isinstance(target, dict):
        del target[last]
    else:
        target[last] = value
    return doc


def _check_loaded(text, spec_args):
    try:
        doc = _ipamstate.load_document(text, PATH)
    except StateFileError as exc:
        assert exc.param == 'path' and exc.msg.startswith('path: %s' % PATH), exc.msg
        return None
    assert _ipamstate.load_document(_ipamstate.render_document(doc), PATH) == doc
    spec = _ipamspec.Spec(**spec_args)
    try:
        p = _ipam.plan(spec, doc, PATH)
    except StateFileError as exc:
        assert exc.param == 'path' and PATH in exc.msg, exc.msg
        return doc
    except ParameterError as exc:
        # What the file records conflicts with the task: the message names the argument and the file.
        assert exc.param in ('cidr', 'node_prefix', 'claims', 'reserved', 'members'), exc.msg
        return doc
    if spec.state == 'present':
        _check_plan(spec, p, doc)
    _rerun(spec, doc, p)
    return doc


SPECS = st.sampled_from([
    VALID, dict(VALID, purge=True), dict(VALID, members=['b', 'z'], claims={}),
    dict(VALID, cidr='10.0.0.0/16', node_prefix=24, reserved=[], claims={}),
    dict(VALID, state='absent'), dict(VALID, name='other', cidr='192.168.0.0/16', node_prefix=24, reserved=[],
                                      claims={}, members=['x', 'y']),
])


@settings(PROFILE, max_examples=300)
@given(state_documents(), SPECS)
def test_a_state_file_with_one_field_replaced(doc, spec_args):
    _check_loaded(json.dumps(doc), spec_args)


@settings(PROFILE, max_examples=200)
@given(st.one_of(
    JSON.map(json.dumps), ANY_TEXT, st.binary(max_size=60), state_documents().map(json.dumps).map(str.encode),
    st.sampled_from([1, 100, 5000]).map(lambda n: b'[' * n + b']' * n),
    st.sampled_from([1, 100, 900, 990, 5000]).map(
        lambda n: b'{"schema": "cni.node/ipam-pool", "version": 1, "pools": {}, "x": %s%s}' % (b'[' * n, b']' * n)),
), st.integers(0, 400) | st.none(), SPECS)
@example(b'[' * 5000, None, VALID)   # found: RecursionError from json.loads
def test_any_bytes_in_the_state_file(content, cut, spec_args):
    """What the module reads (LockedStateFile.read, then load_document): any bytes, also cut short."""
    data = content if isinstance(content, bytes) else content.encode('utf-8', 'surrogatepass')
    if cut is not None:
        data = data[:cut]
    with tempfile.TemporaryDirectory(prefix='cnt-props-') as tmp:
        path = os.path.join(tmp, 'ipam.json')
        with open(path, 'wb') as f:
            f.write(data)
        try:
            with LockedStateFile(path) as store:
                text = store.read()
        except StateFileError as exc:
            assert exc.param == 'path' and path in exc.msg, exc.msg
            return
    _check_loaded(text, spec_args)


@PROFILE
@given(st.lists(NEAR | ANY_TEXT | JSON, max_size=4), st.sampled_from(['ipv4', 'ipv6']))
def test_parse_many_agrees_with_parse_subnet(texts, family):
    """The bulk parser of the state file and the one-by-one parser accept exactly the same subnets."""
    bulk = _ipamaddr.parse_many(family, texts)
    try:
        parsed = [_ipamaddr.parse_subnet(text) for text in texts]
    except ValueError:
        parsed = None
    wrong = parsed is None or any(p[0] != family for p in parsed)
    one = None if wrong else [(n, prefix) for _f, n, prefix in parsed]
    assert bulk == one, (texts, bulk, one)


@PROFILE
@given(st.integers(0, 2 ** 32 - 1), st.integers(0, 30))
def test_host_local_range_is_inside_its_subnet(n, prefix):
    net = ipaddress.ip_network((n, prefix), strict=False)
    rng = _ipamaddr.host_local_range(net)
    addrs = [ipaddress.ip_address(rng[k]) for k in ('gateway', 'rangeStart', 'rangeEnd')]
    assert all(a in net for a in addrs)
    assert net.network_address < addrs[0] < addrs[1] <= addrs[2] < net.broadcast_address
