# -*- coding: utf-8 -*-
"""cni_ipam_pool through real ansible-playbook runs on localhost.

The playbook is the fleet workflow of docs/ipam.md, taken from the page as
it stands. Three inventory hosts stand for three nodes (connection local),
each with its own fact directory. Checked: changed, then not changed; check
mode predicts exactly and writes nothing; claims from the nodes' facts are
honoured; and the lost-controller recovery - the state file deleted, the
inventory reordered, a node added - renumbers nobody.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VENV_BIN = os.path.join(REPO, '.venv', 'bin')
ALLOCATE = 'Allocate on the controller, honouring the nodes\' records'
RECORD = 'Record the node\'s assignment as a local fact'


def documented_playbook():
    with open(os.path.join(REPO, 'docs', 'ipam.md')) as f:
        text = f.read()
    m = re.search(r'<!-- tested: [^\n]*-->\n```yaml\n(.*?)```', text, re.S)
    assert m, 'docs/ipam.md has no tested playbook block'
    return m.group(1)


class Fleet(object):
    def __init__(self, tmp):
        self.tmp = tmp
        self.state = os.path.join(tmp, 'state', 'ipam.json')
        os.makedirs(os.path.dirname(self.state))
        play = documented_playbook()
        # Three "nodes" on one machine: each gets its own fact directory.
        play, n = re.subn(r'cni_ipam_fact_dir: /etc/ansible/facts\.d\n',
                          'cni_ipam_fact_dir: "%s/facts/{{ inventory_hostname }}"\n' % tmp, play)
        assert n == 1
        self.playbook = os.path.join(tmp, 'fleet.yml')
        with open(self.playbook, 'w') as f:
            f.write(play)

    def fact(self, host):
        path = os.path.join(self.tmp, 'facts', host, 'cni_ipam_pods.fact')
        with open(path) as f:
            return json.load(f)

    def write_fact(self, host, subnets):
        os.makedirs(os.path.join(self.tmp, 'facts', host))
        with open(os.path.join(self.tmp, 'facts', host, 'cni_ipam_pods.fact'), 'w') as f:
            json.dump({'pool': 'pods', 'subnets': subnets}, f)

    def run(self, hosts, check=False, extra=None):
        inventory = os.path.join(self.tmp, 'hosts.ini')
        with open(inventory, 'w') as f:
            f.write('[cni_nodes]\n%s\n\n[cni_nodes:vars]\nansible_connection=local\n' % '\n'.join(hosts))
        evars = dict(ansible_python_interpreter=sys.executable, cni_ipam_state=self.state)
        evars.update(extra or {})
        argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inventory, self.playbook, '-e', json.dumps(evars)]
        if check:
            argv += ['--check', '--diff']
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'],
                   ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOCALHOST_WARNING='false',
                   ANSIBLE_HOST_KEY_CHECKING='false', ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='false')
        env.pop('ANSIBLE_CONFIG', None)
        proc = subprocess.run(argv, cwd=self.tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)
        try:
            out = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError('ansible-playbook printed no JSON (rc=%s)\n%s\n%s'
                                 % (proc.returncode, proc.stdout, proc.stderr))
        tasks = {}
        for play in out['plays']:
            for task in play['tasks']:
                tasks[task['task']['name']] = task['hosts']
        return proc.returncode, tasks, out['stats']

    def pool(self):
        with open(self.state) as f:
            return dict((m, s['ipv4']) for m, s in json.load(f)['pools']['pods']['members'].items())


@pytest.fixture
def fleet(tmp_path):
    return Fleet(str(tmp_path))


def allocation(tasks):
    results = list(tasks[ALLOCATE].values())
    assert len(results) == 1   # run_once
    return results[0]


def test_changed_then_not_and_check_mode_exact(fleet):
    rc, tasks, _stats = fleet.run(['n1', 'n2', 'n3'])
    assert rc == 0
    first = allocation(tasks)
    assert first['changed'] is True
    assert fleet.pool() == {'n1': '10.244.0.0/24', 'n2': '10.244.1.0/24', 'n3': '10.244.2.0/24'}
    assert all(tasks[RECORD][h]['changed'] for h in ('n1', 'n2', 'n3'))
    assert fleet.fact('n2') == {'pool': 'pods', 'subnets': ['10.244.1.0/24']}
    assert first['members']['n2']['ranges'] == [[{'subnet': '10.244.1.0/24', 'rangeStart': '10.244.1.2',
                                                  'rangeEnd': '10.244.1.254', 'gateway': '10.244.1.1'}]]

    rc, tasks, stats = fleet.run(['n1', 'n2', 'n3'])
    assert rc == 0 and allocation(tasks)['changed'] is False and allocation(tasks)['drift'] == []
    assert all(s['changed'] == 0 for s in stats.values()), stats

    # Check mode, a fourth node joining: exactly its subnet is predicted, nothing is written.
    with open(fleet.state) as f:
        before = f.read()
    rc, tasks, _stats = fleet.run(['n1', 'n2', 'n3', 'n4'], check=True)
    assert rc == 0
    predicted = allocation(tasks)
    assert predicted['changed'] is True
    assert predicted['drift'] == [{'path': 'member/n4/ipv4', 'before': None, 'after': '10.244.3.0/24'}]
    with open(fleet.state) as f:
        assert f.read() == before
    assert not os.path.exists(os.path.join(fleet.tmp, 'facts', 'n4'))

    rc, tasks, _stats = fleet.run(['n1', 'n2', 'n3', 'n4'])
    assert rc == 0 and allocation(tasks)['drift'] == predicted['drift']


def test_claims_from_node_facts_are_honoured(fleet):
    # n2 already runs with 10.244.7.0/24 (say, from an earlier controller): it keeps it.
    fleet.write_fact('n2', ['10.244.7.0/24'])
    rc, tasks, _stats = fleet.run(['n1', 'n2', 'n3'])
    assert rc == 0
    assert fleet.pool() == {'n1': '10.244.0.0/24', 'n2': '10.244.7.0/24', 'n3': '10.244.1.0/24'}
    assert allocation(tasks)['members']['n2']['subnets'] == ['10.244.7.0/24']

    # A claim that contradicts the state file fails the play and changes nothing.
    with open(fleet.state) as f:
        before = f.read()
    os.unlink(os.path.join(fleet.tmp, 'facts', 'n3', 'cni_ipam_pods.fact'))
    os.rmdir(os.path.join(fleet.tmp, 'facts', 'n3'))
    fleet.write_fact('n3', ['10.244.0.0/24'])
    rc, tasks, _stats = fleet.run(['n1', 'n2', 'n3'])
    assert rc != 0
    failed = allocation(tasks)
    assert failed['failed'] and failed['param'] == 'claims'
    with open(fleet.state) as f:
        assert f.read() == before


def test_lost_state_file_is_rebuilt_from_the_facts(fleet):
    rc, _tasks, _stats = fleet.run(['n1', 'n2', 'n3', 'n4'])
    assert rc == 0
    original = fleet.pool()
    # Release n2 so there is a hole below the others.
    rc, _tasks, _stats = fleet.run(['n1', 'n3', 'n4'], extra={'cni_ipam_purge': True})
    assert rc == 0
    # The controller loses its state; the inventory is reordered and a node is added.
    os.unlink(fleet.state)
    rc, tasks, _stats = fleet.run(['n4', 'n5', 'n3', 'n1', 'n2'])
    assert rc == 0
    rebuilt = fleet.pool()
    for host in ('n1', 'n2', 'n3', 'n4'):
        assert rebuilt[host] == original[host], host
    assert rebuilt['n5'] == '10.244.4.0/24'   # the lowest subnet no recorded node holds
    assert sorted(allocation(tasks)['allocated']) == ['n1', 'n2', 'n3', 'n4', 'n5']
    # And the next run is quiet again.
    rc, tasks, _stats = fleet.run(['n4', 'n5', 'n3', 'n1', 'n2'])
    assert rc == 0 and allocation(tasks)['changed'] is False


LARGE_FLEET_ALLOCATE = 'return_members: subnets'
LARGE_FLEET_RANGES = 'cni_pod_ranges: "{{ cni_ipam.members[inventory_hostname].subnets | cni.node.host_local_ranges }}"'
RANGES = 'The node\'s host-local ranges, for the network configuration'


def test_large_fleet_variant_gives_every_node_the_same_ranges(tmp_path):
    """docs/ipam.md "Large fleets": return_members=subnets and the filter instead of the returned ranges."""
    with open(os.path.join(REPO, 'docs', 'ipam.md')) as f:
        page = f.read()
    assert LARGE_FLEET_ALLOCATE in page and LARGE_FLEET_RANGES in page
    full = Fleet(str(tmp_path / 'full'))
    large = Fleet(str(tmp_path / 'large'))
    with open(large.playbook) as f:
        play = f.read()
    play, n = re.subn(r'(\n( +)purge: [^\n]*\n)', r'\1\2%s\n' % LARGE_FLEET_ALLOCATE, play)
    assert n == 1
    play, n = re.subn(r'cni_pod_ranges: "[^\n]*"', LARGE_FLEET_RANGES.replace('\\', '\\\\'), play)
    assert n == 1
    with open(large.playbook, 'w') as f:
        f.write(play)
    hosts = ['n1', 'n2', 'n3']
    for _n in range(2):   # a first run, then a run that changes nothing
        rc, want, _stats = full.run(hosts)
        assert rc == 0
        rc, got, _stats = large.run(hosts)
        assert rc == 0
        assert allocation(got)['changed'] == allocation(want)['changed']
        assert allocation(got)['drift'] == allocation(want)['drift']
        assert 'ranges' not in allocation(got)['members']['n2']
        assert allocation(got)['members']['n2']['subnets'] == allocation(want)['members']['n2']['subnets']
        assert large.pool() == full.pool()
        for host in hosts:
            ranges = got[RANGES][host]['ansible_facts']['cni_pod_ranges']
            assert ranges == want[RANGES][host]['ansible_facts']['cni_pod_ranges']
            assert ranges == allocation(want)['members'][host]['ranges']
            assert large.fact(host) == full.fact(host)
