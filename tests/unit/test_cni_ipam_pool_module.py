# -*- coding: utf-8 -*-
"""cni_ipam_pool's edge and its locked state file, in-process (no root needed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import json
import os

import pytest

from ansible_collections.cni.node.plugins.module_utils._errors import StateFileError
from ansible_collections.cni.node.plugins.module_utils._statefile import LockedStateFile
from ansible_collections.cni.node.plugins.modules import cni_ipam_pool


@pytest.fixture
def args(tmp_path):
    return dict(name='pods', cidr='10.244.0.0/16', node_prefix=24, members=['n1', 'n2'],
                path=str(tmp_path / 'ipam.json'))


def test_check_mode_predicts_exactly_and_creates_nothing(run_main, args, tmp_path):
    predicted = run_main(cni_ipam_pool, args, check=True)
    assert predicted['rc'] == 0 and predicted['changed'] is True
    assert os.listdir(str(tmp_path)) == []          # no state file, no lock file
    real = run_main(cni_ipam_pool, args)
    for key in ('changed', 'drift', 'diff', 'members', 'totals', 'allocated'):
        assert real[key] == predicted[key], key
    assert real['drift'][1:] == [{'path': 'member/n1/ipv4', 'before': None, 'after': '10.244.0.0/24'},
                                 {'path': 'member/n2/ipv4', 'before': None, 'after': '10.244.1.0/24'}]
    assert real['members']['n2']['ranges'] == [[{'subnet': '10.244.1.0/24', 'rangeStart': '10.244.1.2',
                                                 'rangeEnd': '10.244.1.254', 'gateway': '10.244.1.1'}]]
    assert sorted(os.listdir(str(tmp_path))) == ['ipam.json', 'ipam.json.lock']
    again = run_main(cni_ipam_pool, args)
    assert again['changed'] is False and again['drift'] == [] and again['members'] == real['members']


def test_check_mode_reports_drift_after_the_file_changed_behind_its_back(run_main, args):
    run_main(cni_ipam_pool, args)
    with open(args['path']) as f:
        doc = json.load(f)
    del doc['pools']['pods']['members']['n2']
    with open(args['path'], 'w') as f:
        json.dump(doc, f)
    before = open(args['path']).read()
    res = run_main(cni_ipam_pool, dict(args, members=['n2', 'n1', 'n3']), check=True)
    assert res['changed'] and res['drift'] == [
        {'path': 'member/n2/ipv4', 'before': None, 'after': '10.244.1.0/24'},
        {'path': 'member/n3/ipv4', 'before': None, 'after': '10.244.2.0/24'}]
    assert open(args['path']).read() == before


def test_state_absent_removes_the_pool_and_the_file(run_main, args):
    run_main(cni_ipam_pool, args)
    res = run_main(cni_ipam_pool, dict(name='pods', path=args['path'], state='absent'))
    assert res['changed'] and res['released'] == ['n1', 'n2'] and not os.path.exists(args['path'])
    res = run_main(cni_ipam_pool, dict(name='pods', path=args['path'], state='absent'))
    assert res['changed'] is False


@pytest.mark.parametrize('content, words', [
    ('{not json', 'is not valid JSON'),
    ('{"schema": "cni.node/ipam-pool", "version": 7, "pools": {}}', 'has schema version 7'),
])
def test_a_bad_state_file_fails_and_is_left_as_it_is(run_main, args, content, words):
    with open(args['path'], 'w') as f:
        f.write(content)
    for check in (True, False):
        res = run_main(cni_ipam_pool, args, check=check)
        assert res['rc'] == 1 and res['param'] == 'path' and words in res['msg']
        assert open(args['path']).read() == content


@pytest.mark.parametrize('extra, param, words', [
    (dict(cidr='10.244.0.1/16'), 'cidr', 'did you mean 10.244.0.0/16'),
    (dict(node_prefix=8), 'node_prefix', 'between /16'),
    (dict(claims={'n1': '10.245.0.0/24'}), 'claims', 'lies outside the pool'),
    (dict(path='/nonexistent-dir/ipam.json'), 'path', 'does not exist; create it first'),
])
def test_errors_name_the_parameter_and_write_nothing(run_main, args, tmp_path, extra, param, words):
    res = run_main(cni_ipam_pool, dict(args, **extra))
    assert res['rc'] == 1 and res['param'] == param and words in res['msg']
    assert os.listdir(str(tmp_path)) == [] or param == 'path'


def test_lock_waits_then_times_out_naming_the_lock(tmp_path):
    path = str(tmp_path / 'ipam.json')
    holder = os.open(path + '.lock', os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(StateFileError) as exc:
            with LockedStateFile(path, timeout=0.2):
                pass
        assert 'another run has held the lock' in exc.value.msg and exc.value.param == 'path'
        with pytest.raises(StateFileError):   # check mode waits for a writer too
            with LockedStateFile(path, timeout=0.2, exclusive=False):
                pass
    finally:
        os.close(holder)
    with LockedStateFile(path, timeout=0.2) as f:   # released: it goes through
        f.write('x')
    assert open(path).read() == 'x'


def test_write_keeps_the_mode_of_the_state_file(tmp_path):
    path = str(tmp_path / 'ipam.json')
    with open(path, 'w') as f:
        f.write('old')
    os.chmod(path, 0o600)
    with LockedStateFile(path) as f:
        assert f.read() == 'old'
        f.write('new')
    assert open(path).read() == 'new' and os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize('mode', ['subnets', 'changed', 'none'])
def test_return_members_trims_the_result_not_the_allocation(run_main, args, tmp_path, mode):
    full_path = str(tmp_path / 'full.json')
    run_main(cni_ipam_pool, dict(args, path=full_path))
    run_main(cni_ipam_pool, dict(args, return_members=mode))
    grown = dict(members=['n3', 'n1', 'n2'])
    predicted = run_main(cni_ipam_pool, dict(args, return_members=mode, **grown), check=True)
    res = run_main(cni_ipam_pool, dict(args, return_members=mode, **grown))
    full = run_main(cni_ipam_pool, dict(args, path=full_path, **grown))
    with open(args['path']) as f, open(full_path) as g:
        assert f.read() == g.read()
    for key in ('changed', 'drift', 'allocated', 'totals', 'unlisted', 'released'):
        assert res[key] == full[key] == predicted[key], key
    assert res['members'] == predicted['members']
    if mode == 'subnets':
        assert res['members'] == dict((m, {'subnets': v['subnets'], 'ipv4': v['ipv4']})
                                      for m, v in full['members'].items())
    elif mode == 'changed':
        assert res['members'] == {'n3': full['members']['n3']} and res['allocated'] == ['n3']
        again = run_main(cni_ipam_pool, dict(args, return_members=mode, **grown))
        assert again['changed'] is False and again['members'] == {}
    else:
        assert res['members'] == {}


def test_return_members_refuses_an_unknown_choice(run_main, args, tmp_path):
    res = run_main(cni_ipam_pool, dict(args, return_members='some'))
    assert res['rc'] == 1 and 'return_members' in res['msg'] and os.listdir(str(tmp_path)) == []
