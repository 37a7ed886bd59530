# -*- coding: utf-8 -*-
"""The arguments of cni_ipam_pool (_ipamspec): every refusal names its parameter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _ipamspec
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError


@pytest.mark.parametrize('kw, param, words', [
    (dict(cidr='10.0.0.1/20'), 'cidr', 'did you mean 10.0.0.0/20?'),
    (dict(cidr=['10.0.0.0/20', '10.1.0.0/20']), 'cidr', 'give at most one CIDR per family'),
    (dict(cidr=None), 'cidr', 'cidr: required'),
    (dict(node_prefix=31), 'node_prefix', 'between /20 (the pool itself) and /30'),
    (dict(node_prefix=16), 'node_prefix', 'between /20'),
    (dict(cidr=['10.0.0.0/16', 'fd00::/48'], node_prefix=24), 'node_prefix', 'e.g. {ipv4: 24, ipv6: 64}'),
    (dict(node_prefix={'ipv4': 24, 'ipv5': 1}), 'node_prefix', 'unknown key(s) ipv5'),
    (dict(members=['a', 'a']), 'members', "'a' is listed twice"),
    (dict(members=['a/b']), 'members', 'not a valid member name'),
    (dict(reserved=['10.0.0.9-10.0.0.1']), 'reserved', 'from a lower to a higher address'),
    (dict(reserved=['nope']), 'reserved', 'give a CIDR'),
    (dict(claims=['a']), 'claims', 'expected a dictionary'),
    (dict(claims={'a': ['10.0.0.0/24', '10.0.1.0/24']}), 'claims', 'a member holds one per family'),
])
def test_bad_arguments_name_the_parameter(kw, param, words):
    args = dict(cidr='10.0.0.0/20', node_prefix=24, members=['a'])
    args.update(kw)
    with pytest.raises(ParameterError) as exc:
        _ipamspec.Spec('pods', **args)
    assert exc.value.param == param and words in exc.value.msg


@pytest.mark.parametrize('claim', [{'ipv4': 'fd00::/64'}, {'ipv6': '10.0.1.0/24'}])
def test_a_claim_under_the_wrong_family_key_is_refused(claim):
    with pytest.raises(ParameterError) as exc:
        _ipamspec.Spec(name='pods', cidr=['10.0.0.0/16', 'fd00::/48'], node_prefix={'ipv4': 24, 'ipv6': 64},
                       members=['n1'], claims={'n1': claim})
    assert exc.value.param == 'claims' and 'claims.n1.' in str(exc.value)


def test_return_members_is_validated():
    with pytest.raises(ParameterError) as exc:
        _ipamspec.Spec('pods', cidr='10.0.0.0/20', node_prefix=24, members=['a'], return_members='some')
    assert exc.value.param == 'return_members' and 'all, subnets, changed, none' in exc.value.msg
