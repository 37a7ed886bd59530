# -*- coding: utf-8 -*-
"""The allocator core of cni_ipam_pool (_ipam): invariants, stickiness, conflicts, the locked run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import random

import pytest

from ansible_collections.cni.node.plugins.module_utils import _ipam
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._ipamaddr import host_local_range
from ansible_collections.cni.node.plugins.module_utils._ipamspec import Spec
from ansible_collections.cni.node.plugins.module_utils._ipamstate import load_document, new_document, render_document


def run(doc, members, cidr='10.0.0.0/20', node_prefix=24, **kw):
    """One run: plan against ``doc`` and return (plan, new doc after a state-file round trip)."""
    spec = Spec('pods', cidr=cidr, node_prefix=node_prefix, members=members, **kw)
    p = _ipam.plan(spec, doc, 'ipam.json')
    text = render_document(_ipam.apply(doc, p, 'pods'))
    return p, load_document(text, 'ipam.json')


def assigned(doc, family='ipv4'):
    return dict((m, s[family]) for m, s in doc['pools']['pods']['members'].items() if family in s)


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize('seed', range(40))
def test_random_runs_keep_the_invariants(seed):
    """Random member sets, orders, reserved ranges and purges: no overlap, inside the pool, outside
    reserved, lowest free first, and no member that stayed ever moves."""
    rnd = random.Random(seed)
    pool = ipaddress.ip_network('10.0.0.0/20')          # 16 subnets of /24
    reserved = ['10.0.%d.0/24' % rnd.randrange(16)] + (['10.0.5.7'] if rnd.random() < 0.5 else [])
    blocked = [ipaddress.ip_network(r, strict=False) for r in reserved]
    names = ['n%d' % i for i in range(20)]
    doc = new_document()
    previous = {}
    for _step in range(25):
        members = rnd.sample(names, rnd.randrange(0, 15))
        purge = rnd.random() < 0.3
        try:
            p, new = run(doc, members, reserved=reserved, purge=purge)
        except ParameterError as exc:
            assert exc.param == 'members' and 'is exhausted' in exc.msg
            kept = len(previous) if not purge else len([m for m in previous if m in members])
            need = len([m for m in members if m not in previous])
            unusable = [s for s in pool.subnets(new_prefix=24) if any(s.overlaps(b) for b in blocked)]
            assert need > 16 - len(unusable) - kept   # it failed only because the pool was really full
            continue
        now = assigned(new)
        nets = [ipaddress.ip_network(s) for s in now.values()]
        assert len(set(nets)) == len(nets), 'two members share a subnet'
        for net in nets:
            assert net.subnet_of(pool) and net.prefixlen == 24
            assert not any(net.overlaps(b) for b in blocked)
        for m, subnet in previous.items():
            if m in now:
                assert now[m] == subnet, 'member %s moved' % m
        assert set(members) <= set(now)
        if purge:
            assert set(now) == set(members)
        else:
            assert set(now) == set(members) | set(previous)
        # New members got the lowest free subnets, in the order of members.
        fresh = [m for m in members if m not in previous]
        taken = set(ipaddress.ip_network(previous[m]) for m in previous if m in now)
        free = [s for s in pool.subnets(new_prefix=24)
                if s not in taken and not any(s.overlaps(b) for b in blocked)]
        assert [ipaddress.ip_network(now[m]) for m in fresh] == free[:len(fresh)]
        assert p.allocated == fresh
        assert set(p.members) == set(members)
        previous = now
        doc = new


@pytest.mark.parametrize('seed', range(20))
def test_lost_state_rebuilt_from_random_claims_dual_stack(seed):
    """Dual-stack fleets lose their state file; claims from (some) nodes rebuild it without renumbering."""
    rnd = random.Random(1000 + seed)
    cidr = ['10.0.0.0/20', 'fd00::/60']
    prefix = {'ipv4': 24, 'ipv6': 64}
    names = ['n%d' % i for i in range(14)]
    members = rnd.sample(names, rnd.randrange(4, 14))
    _p, doc = run(new_document(), members, cidr=cidr, node_prefix=prefix)
    before = dict((m, (assigned(doc)[m], assigned(doc, 'ipv6')[m])) for m in members)
    # The state file is gone; some nodes still hold their fact, in one of the accepted shapes.
    reporting = rnd.sample(members, rnd.randrange(0, len(members) + 1))
    shapes = [lambda v4, v6: {'ipv4': v4, 'ipv6': v6}, lambda v4, v6: [v6, v4], lambda v4, v6: [v4, v6]]
    claims = dict((m, rnd.choice(shapes)(*before[m])) for m in reporting)
    newcomers = [n for n in names if n not in members][:rnd.randrange(0, 3)]
    order = members + newcomers
    rnd.shuffle(order)
    _p, rebuilt = run(new_document(), order, cidr=cidr, node_prefix=prefix, claims=claims)
    v4, v6 = assigned(rebuilt), assigned(rebuilt, 'ipv6')
    for m in reporting:
        assert (v4[m], v6[m]) == before[m], 'a reporting member was renumbered'
    for family, got in (('ipv4', v4), ('ipv6', v6)):
        nets = [ipaddress.ip_network(x) for x in got.values()]
        assert len(set(nets)) == len(nets) == len(order), 'two members share a %s subnet' % family
        assert all(n.subnet_of(ipaddress.ip_network(cidr[0 if family == 'ipv4' else 1])) for n in nets)


def test_reordering_and_rerunning_changes_nothing():
    doc = new_document()
    _p, doc = run(doc, ['a', 'b', 'c', 'd'])
    before = assigned(doc)
    p, doc2 = run(doc, ['d', 'c', 'b', 'a'])
    assert p.write is False and p.changes.drift == [] and not p.changes.changed
    assert assigned(doc2) == before


def test_dual_stack_pairs_are_sticky_per_family():
    kw = dict(cidr=['10.0.0.0/16', 'fd00:10::/56'], node_prefix={'ipv4': 24, 'ipv6': 64})
    doc = new_document()
    _p, doc = run(doc, ['a', 'b', 'c'], **kw)
    first = (assigned(doc), assigned(doc, 'ipv6'))
    assert first[1] == {'a': 'fd00:10::/64', 'b': 'fd00:10:0:1::/64', 'c': 'fd00:10:0:2::/64'}
    p, doc = run(doc, ['c', 'x', 'a'], **kw)
    assert p.members['x']['subnets'] == ['10.0.3.0/24', 'fd00:10:0:3::/64']
    assert p.members['a']['ipv6'] == 'fd00:10::/64' and p.unlisted == ['b']
    assert p.members['c']['ranges'] == [
        [{'subnet': '10.0.2.0/24', 'rangeStart': '10.0.2.2', 'rangeEnd': '10.0.2.254', 'gateway': '10.0.2.1'}],
        [{'subnet': 'fd00:10:0:2::/64', 'rangeStart': 'fd00:10:0:2::2', 'rangeEnd': 'fd00:10:0:2:ffff:ffff:ffff:ffff',
          'gateway': 'fd00:10:0:2::1'}]]
    assert p.totals['ipv6'] == {'cidr': 'fd00:10::/56', 'node_prefix': 64, 'size': 256, 'allocated': 4,
                                'reserved': 0, 'free': 252}


def test_adding_a_family_allocates_it_without_moving_the_other():
    doc = new_document()
    _p, doc = run(doc, ['a', 'b'])
    p, doc = run(doc, ['a', 'b'], cidr=['10.0.0.0/20', 'fd00::/48'], node_prefix={'ipv4': 24, 'ipv6': 64})
    assert assigned(doc) == {'a': '10.0.0.0/24', 'b': '10.0.1.0/24'}
    assert [d['path'] for d in p.changes.drift] == ['pool/pods/cidr', 'pool/pods/node_prefix',
                                                    'member/a/ipv6', 'member/b/ipv6']


def test_huge_ipv6_space_is_not_materialised():
    # 2**32 possible subnets: the allocator only walks what the members need.
    p, _doc = run(new_document(), ['a', 'b'], cidr='fd00::/32', node_prefix=64,
                  reserved=['fd00::/63'])
    assert p.members['b']['ipv6'] == 'fd00:0:0:3::/64' and p.totals['ipv6']['free'] == 2 ** 32 - 4


# ---------------------------------------------------------------- purge, claims, absent


def test_unlisted_members_are_kept_and_reported_purge_releases_them():
    doc = new_document()
    _p, doc = run(doc, ['a', 'b', 'c'])
    p, doc = run(doc, ['a', 'c'])
    assert p.unlisted == ['b'] and p.released == [] and p.write is False
    assert 'b' not in p.members and assigned(doc)['b'] == '10.0.1.0/24'
    p, doc = run(doc, ['a', 'c', 'd'], purge=True)
    assert p.released == ['b'] and p.unlisted == []
    assert {'path': 'member/b/ipv4', 'before': '10.0.1.0/24', 'after': None} in p.changes.drift
    # The released subnet is the lowest free one again.
    assert assigned(doc) == {'a': '10.0.0.0/24', 'c': '10.0.2.0/24', 'd': '10.0.1.0/24'}


def test_claims_are_honoured_and_recorded():
    p, doc = run(new_document(), ['a', 'b', 'c'],
                 claims={'b': '10.0.0.0/24', 'c': ['10.0.7.0/24'], 'a': None, 'gone': {'ipv4': '10.0.9.0/24'}})
    assert assigned(doc) == {'a': '10.0.1.0/24', 'b': '10.0.0.0/24', 'c': '10.0.7.0/24', 'gone': '10.0.9.0/24'}
    assert p.unlisted == ['gone'] and p.allocated == ['a', 'b', 'c']
    # The same claims again: nothing to do.
    p, _doc = run(doc, ['a', 'b', 'c'], claims={'b': '10.0.0.0/24', 'c': '10.0.7.0/24'})
    assert not p.changes.changed
    # With purge, the claim of a member that is not listed is not recorded.
    _p, doc = run(new_document(), ['a'], claims={'gone': '10.0.0.0/24'}, purge=True)
    assert assigned(doc) == {'a': '10.0.0.0/24'}


def test_state_absent_releases_everything_and_keeps_other_pools():
    doc = new_document()
    _p, doc = run(doc, ['a'])
    other = Spec('other', cidr='192.168.0.0/16', node_prefix=24, members=['z'])
    doc = _ipam.apply(doc, _ipam.plan(other, doc), 'other')
    p = _ipam.plan(Spec('pods', state='absent'), doc)
    assert p.changes.drift == [{'path': 'member/a/ipv4', 'before': '10.0.0.0/24', 'after': None},
                               {'path': 'pool/pods', 'before': 'present', 'after': None}]
    after = _ipam.apply(doc, p, 'pods')
    assert list(after['pools']) == ['other']
    again = _ipam.plan(Spec('pods', state='absent'), after)
    assert not again.changes.changed and again.write is False


# ---------------------------------------------------------------- conflicts and exhaustion


@pytest.fixture
def recorded():
    _p, doc = run(new_document(), ['a', 'b'])   # a 10.0.0.0/24, b 10.0.1.0/24
    return doc


@pytest.mark.parametrize('kw, param, words', [
    (dict(members=['a', 'b', 'c', 'd'], claims={'d': '10.0.3.0/24', 'c': '10.0.3.0/24'}), 'claims',
     'claims.d: 10.0.3.0/24 is claimed by c too: two members cannot share one subnet'),
    (dict(claims={'c': '10.0.1.0/24'}), 'claims',
     'claims.c: 10.0.1.0/24 is recorded in ipam.json for b too'),
    (dict(claims={'a': '10.0.5.0/24'}), 'claims',
     'claims.a: claims 10.0.5.0/24, but ipam.json records 10.0.0.0/24 for a: a member is never renumbered'),
    (dict(claims={'c': '10.9.0.0/24'}), 'claims', 'claims.c: 10.9.0.0/24 lies outside the pool 10.0.0.0/20'),
    (dict(claims={'c': '10.0.4.0/23'}), 'claims', 'claims.c: 10.0.4.0/23 is a /23, the pool hands out /24'),
    (dict(claims={'c': '10.0.4.1/24'}), 'claims', 'claims.c: \'10.0.4.1/24\' is not a subnet in CIDR notation'),
    (dict(claims={'c': 'fd00::/64'}), 'claims', 'the pool has no ipv6 CIDR'),
    (dict(claims={'c': '10.0.8.0/24'}, reserved=['10.0.8.0/22']), 'claims',
     'claims.c: 10.0.8.0/24 overlaps reserved 10.0.8.0/24-10.0.11.0/24'),
    (dict(reserved=['10.0.1.128/25']), 'reserved',
     'reserved: 10.0.1.0/24 overlaps 10.0.1.0/24, which ipam.json records for b'),
    (dict(cidr='10.0.1.0/24'), 'cidr',
     'cidr: the ipv4 pool 10.0.1.0/24 no longer contains the subnets of 1 member(s) (a 10.0.0.0/24)'),
    (dict(node_prefix=25), 'node_prefix', 'changing node_prefix would renumber them'),
    (dict(cidr='fd00::/48', node_prefix=64), 'cidr', 'has no ipv4 CIDR any more, but 2 member(s) hold'),
    (dict(members=['a', 'b', 'c'], cidr='10.0.0.0/23'), 'members',
     'members: the ipv4 pool 10.0.0.0/23 (2 subnets of /24) is exhausted: 1 new member(s) need a subnet (c), '
     'only 0 free (2 allocated, 0 reserved)'),
    (dict(members=['a', 'b', 'c', 'd', 'e', 'f'], cidr='10.0.0.0/22', reserved=['10.0.3.0/24']), 'members',
     '4 new member(s) need a subnet (c, d, e and 1 more), only 1 free (2 allocated, 1 reserved)'),
])
def test_conflicts_fail_before_anything_changes(recorded, kw, param, words):
    members = kw.pop('members', ['a', 'b'])
    snapshot = json.dumps(recorded, sort_keys=True)
    with pytest.raises(ParameterError) as exc:
        run(recorded, members, **kw)
    assert exc.value.param == param
    assert words in exc.value.msg
    assert json.dumps(recorded, sort_keys=True) == snapshot


def test_a_shrink_is_allowed_when_purge_releases_the_members_outside(recorded):
    p, doc = run(recorded, ['b'], cidr='10.0.1.0/24', purge=True)
    assert p.released == ['a'] and assigned(doc) == {'b': '10.0.1.0/24'}


def test_growing_the_pool_keeps_every_member(recorded):
    p, doc = run(recorded, ['a', 'b', 'c'], cidr='10.0.0.0/16')
    assert assigned(doc) == {'a': '10.0.0.0/24', 'b': '10.0.1.0/24', 'c': '10.0.2.0/24'}
    assert p.changes.drift[0] == {'path': 'pool/pods/cidr', 'before': ['10.0.0.0/20'], 'after': ['10.0.0.0/16']}


def test_a_large_pool_gives_what_the_single_member_functions_give():
    """2,000 members, dual-stack, with holes, claims and reserved: the bulk-built record and views are exact."""
    kw = dict(cidr=['10.0.0.0/14', 'fd00::/48'], node_prefix={'ipv4': 26, 'ipv6': 64},
              reserved=['10.0.0.0/24', '10.0.40.17', 'fd00:0:0:9::/64'])
    names = ['node%04d' % i for i in range(2000)]
    _p, doc = run(new_document(), names, **kw)
    rnd = random.Random(7)
    stay = rnd.sample(names, 1500)
    p, doc = run(doc, stay + ['new%d' % i for i in range(300)] + ['claimed'], purge=True,
                 claims={'claimed': {'ipv4': '10.2.0.0/26', 'ipv6': 'fd00:0:0:ffff::/64'}}, **kw)
    v4, v6 = assigned(doc), assigned(doc, 'ipv6')
    assert len(set(v4.values())) == len(v4) == 1801 and len(set(v6.values())) == len(v6) == 1801
    assert v4['claimed'] == '10.2.0.0/26' and v6['claimed'] == 'fd00:0:0:ffff::/64'
    assert v4['new0'] == '10.0.1.64/26'   # the lowest subnet freed by the purge (reserved: 10.0.0.0/24)
    for m, view in p.members.items():
        assert view['subnets'] == [v4[m], v6[m]] and view['ipv4'] == v4[m] and view['ipv6'] == v6[m]
        assert view['ranges'] == [[host_local_range(v4[m])], [host_local_range(v6[m])]]
    again, _doc = run(doc, list(reversed(list(p.members))), **kw)
    assert again.write is False and again.changes.drift == [] and again.members == p.members


@pytest.mark.parametrize('mode', ['all', 'subnets', 'changed', 'none'])
def test_return_members_selects_the_members_and_never_the_allocation(mode):
    doc = new_document()
    _p, doc = run(doc, ['a', 'b'])
    p, new = run(doc, ['b', 'c', 'a'], return_members=mode)
    full, same = run(doc, ['b', 'c', 'a'])
    assert new == same and p.changes.drift == full.changes.drift and p.allocated == ['c'] == full.allocated
    assert p.totals == full.totals and p.write is full.write is True
    expected = {'all': full.members,
                'subnets': dict((m, {'subnets': v['subnets'], 'ipv4': v['ipv4']}) for m, v in full.members.items()),
                'changed': {'c': full.members['c']},
                'none': {}}[mode]
    assert p.members == expected
    assert list(p.members) == [m for m in ['b', 'c', 'a'] if m in expected]


def test_run_reads_plans_and_writes_the_state_file_under_its_lock(tmp_path):
    path = str(tmp_path / 'ipam.json')
    spec = Spec('pods', cidr='10.0.0.0/20', node_prefix=24, members=['a', 'b'])
    predicted = _ipam.run(spec, path, check_mode=True)
    assert predicted.write is True and predicted.allocated == ['a', 'b']
    assert os.listdir(str(tmp_path)) == []          # check mode: no state file, no lock file
    done = _ipam.run(spec, path)
    assert done.changes.drift == predicted.changes.drift and done.members == predicted.members
    assert sorted(os.listdir(str(tmp_path))) == ['ipam.json', 'ipam.json.lock']
    with open(path) as f:
        assert assigned(load_document(f.read(), path)) == {'a': '10.0.0.0/24', 'b': '10.0.1.0/24'}
    again = _ipam.run(Spec('pods', cidr='10.0.0.0/20', node_prefix=24, members=['b', 'a']), path)
    assert again.write is False and not again.changes.changed
    gone = _ipam.run(Spec('pods', state='absent'), path)
    assert gone.released == ['a', 'b'] and not os.path.exists(path)   # the last pool gone: the file too
