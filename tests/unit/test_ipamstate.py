# -*- coding: utf-8 -*-
"""The state file of cni_ipam_pool (_ipamstate): shape, round trip, and files it refuses."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.cni.node.plugins.module_utils import _ipam
from ansible_collections.cni.node.plugins.module_utils._errors import StateFileError
from ansible_collections.cni.node.plugins.module_utils._ipamspec import Spec
from ansible_collections.cni.node.plugins.module_utils._ipamstate import load_document, new_document, render_document


@pytest.fixture
def recorded():
    """A document as a run writes it: a 10.0.0.0/24, b 10.0.1.0/24."""
    doc = new_document()
    p = _ipam.plan(Spec('pods', cidr='10.0.0.0/20', node_prefix=24, members=['a', 'b']), doc, 'ipam.json')
    return load_document(render_document(_ipam.apply(doc, p, 'pods')), 'ipam.json')


def test_state_file_round_trip_and_shape(recorded):
    text = render_document(recorded)
    assert json.loads(text) == recorded
    assert '    "a": {"ipv4": "10.0.0.0/24"},\n' in text      # one line per member
    assert json.loads(text)['schema'] == 'cni.node/ipam-pool' and json.loads(text)['version'] == 1
    assert json.loads(render_document(new_document())) == new_document()


@pytest.mark.parametrize('text, words', [
    ('{"schema": "cni.node/ipam-pool", "version": 1, "pools": {', 'is not valid JSON'),
    ('', 'is not valid JSON'),
    ('[]', 'is not a cni.node IPAM state file'),
    ('{"version": 1, "pools": {}}', 'is not a cni.node IPAM state file'),
    ('{"schema": "cni.node/ipam-pool", "version": 2, "pools": {}}',
     'has schema version 2; this cni.node reads version 1'),
    ('{"schema": "cni.node/ipam-pool", "version": 1}', 'has no "pools" object'),
    ('{"schema": "cni.node/ipam-pool", "version": 1, "pools": {"p": {"cidr": [], "node_prefix": {}, '
     '"reserved": [], "members": {"a": {"ipv4": "10.0.0.1/24"}}}}}', "'10.0.0.1/24' is not an ipv4 subnet"),
    ('{"schema": "cni.node/ipam-pool", "version": 1, "pools": {"p": {"cidr": [], "node_prefix": {}, '
     '"reserved": [], "members": {"a": {"ipv4": "10.0.0.0/24"}, "b": {"ipv4": "10.0.0.0/24"}}}}}',
     '10.0.0.0/24 is recorded for both a and b'),
    ('{"schema": "cni.node/ipam-pool", "version": 1, "pools": {"p": {"cidr": []}}}',
     '"node_prefix" is missing'),
])
def test_corrupt_or_unknown_state_files_fail_clearly(text, words):
    with pytest.raises(StateFileError) as exc:
        load_document(text, '/srv/ipam.json')
    assert exc.value.param == 'path' and words in exc.value.msg and '/srv/ipam.json' in exc.value.msg


@pytest.mark.parametrize('members, words', [
    ({'a': {'ipv4': '10.0.0.0/24'}, 'b': {'ipv5': '10.0.1.0/24'}}, "member 'b': expected"),
    ({'a': {'ipv4': '10.0.0.0/24'}, 'b': []}, "member 'b': expected"),
    ({'a': {'ipv4': '10.0.0.0/24'}, 'b': {'ipv4': '10.0.1.0/24', 'ipv6': '10.0.2.0/24'}},
     "member 'b': '10.0.2.0/24' is not an ipv6 subnet"),
    ({'a': {'ipv6': 'fd00::/64'}, 'b': {'ipv6': 'fd00:0::/64'}}, 'fd00:0::/64 is recorded for both a and b'),
    ({'a': {'ipv4': '10.0.0.0/24'}, 'b': {'ipv4': 7}}, "member 'b': 7 is not an ipv4 subnet"),
])
def test_a_flaw_anywhere_in_a_large_state_file_is_named(members, words):
    """The bulk check finds that something is wrong; the message still names the entry."""
    many = dict(('n%05d' % i, {'ipv4': '10.%d.%d.0/24' % (100 + i // 256, i % 256)}) for i in range(3000))
    many.update(members)
    text = json.dumps({'schema': 'cni.node/ipam-pool', 'version': 1, 'pools': {'p': {
        'cidr': ['10.0.0.0/8'], 'node_prefix': {'ipv4': 24}, 'reserved': [], 'members': many}}})
    with pytest.raises(StateFileError) as exc:
        load_document(text, '/srv/ipam.json')
    assert words in exc.value.msg and exc.value.param == 'path'
