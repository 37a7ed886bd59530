# -*- coding: utf-8 -*-
"""The overlay role's fleet tasks (membership, pool, peer entries) under --limit, by real ansible-playbook runs.

The role's own ``roles/overlay/tasks/fleet.yml`` (``include_role`` with
``tasks_from: fleet``, so its defaults and the real cni_ipam_pool module on
the controller) runs against an inventory of local-connection hosts and a
real jsonfile fact cache, seeded by Ansible itself (a cacheable fact, and
``setup`` reading a local fact file). Members of the group ``ov``:

- n1, n2: ``overlay_underlay_address`` in the inventory (in the play or not);
- n3: ``overlay_underlay_address`` in the inventory, never in the play;
- n4: only its default IPv4 address in the fact cache;
- n5: its local fact ``cni_ipam_pods`` (subnets, underlay_address) in the cache, and a
  different default IPv4 address (the recorded address is what its VXLAN device uses);
- n6 (some tests): nothing known of it; further hosts with their inventory variables
  (``extra_hosts``) in some tests.

``ctl`` is in the inventory but not in ``ov``. Nothing here touches the
kernel or needs root (``no_root``): the node tasks (setup, cni_vxlan, ...)
of main.yml are not run; the state file lives in a temporary directory. The
same role on real nodes, with a limited run: molecule/overlay.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

# The results are read from the json stdout callback (the ansible package's ansible.posix).
pytest.importorskip('ansible_collections.ansible.posix')

pytestmark = pytest.mark.no_root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, '.venv', 'bin')
PLAYBOOK_BIN = os.path.join(VENV_BIN, 'ansible-playbook')
if not os.path.exists(PLAYBOOK_BIN):   # ansible-test's venv, or another environment
    PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

ADDR = {'n1': '192.0.2.1', 'n2': '192.0.2.2', 'n3': '192.0.2.3', 'n4': '192.0.2.4', 'n5': '192.0.2.5'}
PEER_TASK = "cni.node.overlay : Every member's peer entry, also of the members outside the play"
POOL_TASK = "cni.node.overlay : One pod subnet per member, sticky, honouring the nodes' records"
WARN_TASK = 'cni.node.overlay : Members left out of the peers in this run'

FLEET = """\
- name: The overlay role's fleet tasks
  hosts: "{{ cni_node_hosts | default('all') }}"
  gather_facts: false
  serial: "{{ fleet_serial | default(0) }}"
  tasks:
    - name: Hosts that fail before the fleet tasks (a node lost earlier in the play)
      ansible.builtin.fail:
        msg: lost
      when: inventory_hostname in fleet_fail | default([])

    - name: Fleet tasks of cni.node.overlay
      ansible.builtin.include_role:
        name: cni.node.overlay
        tasks_from: fleet
"""

# The fact cache as a real run leaves it: n4's network facts (a cacheable
# fact, stored like gathered ones), n5's local fact read by setup.
SEED = """\
- name: Network facts of n4
  hosts: n4
  gather_facts: false
  tasks:
    - name: Default IPv4 address, cached
      ansible.builtin.set_fact:
        ansible_default_ipv4: {address: 192.0.2.4, interface: eth0}
        cacheable: true

- name: Local fact of n5
  hosts: n5
  gather_facts: false
  tasks:
    - name: Read the local facts
      ansible.builtin.setup:
        gather_subset: ['!all', '!min', 'local']
        fact_path: "{{ seed_fact_dir }}"

    - name: A default IPv4 address other than the one its VXLAN device uses, cached
      ansible.builtin.set_fact:
        ansible_default_ipv4: {address: 198.51.100.5, interface: eth1}
        cacheable: true

- name: Subnets given to the members before the runs (a real cni_ipam_pool call)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The pool as earlier full runs left it
      cni.node.cni_ipam_pool:
        name: pods
        cidr: 10.244.0.0/16
        node_prefix: 24
        members: "{{ seed_members }}"
        path: "{{ seed_state }}"
      when: seed_members | length > 0
"""


class Lab(object):
    def __init__(self, tmp, allocated=(), with_n6=False, seed=True, extra_hosts=None):
        self.tmp = tmp
        self.state = os.path.join(tmp, 'state', 'ipam-pods.json')
        self.cache = os.path.join(tmp, 'cache')
        facts = os.path.join(tmp, 'facts-n5')
        os.mkdir(facts)
        with open(os.path.join(facts, 'cni_ipam_pods.fact'), 'w') as f:
            json.dump({'pool': 'pods', 'subnets': ['10.244.4.0/24'], 'underlay_address': ADDR['n5']}, f)
        hosts = {
            'n1': {'overlay_underlay_address': ADDR['n1']},
            'n2': {'overlay_underlay_address': ADDR['n2']},
            'n3': {'overlay_underlay_address': ADDR['n3']},
            'n4': {},
            'n5': {},
        }
        if with_n6:
            hosts['n6'] = {}
        hosts.update(extra_hosts or {})
        inventory = {'all': {
            'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                     'overlay_underlay_mtu': 1500, 'overlay_state_path': self.state},
            'children': {'ov': {'hosts': hosts}, 'other': {'hosts': {'ctl': {}}}}}}
        self.inventory = os.path.join(tmp, 'hosts.yml')
        with open(self.inventory, 'w') as f:
            json.dump(inventory, f)      # JSON is YAML
        for name, text in (('fleet.yml', FLEET), ('seed.yml', SEED)):
            with open(os.path.join(tmp, name), 'w') as f:
                f.write(text)
        os.mkdir(os.path.dirname(self.state))
        if seed:
            self.play('seed.yml', seed_fact_dir=facts, seed_members=list(allocated), seed_state=self.state)

    def play(self, playbook, limit=None, rc=0, check=False, tags=None, **evars):
        argv = [PLAYBOOK_BIN, '-i', self.inventory, playbook if os.path.isabs(playbook)
                else os.path.join(self.tmp, playbook)]
        if check:
            argv += ['--check', '--diff']
        if tags:
            argv += ['--tags', tags]
        if evars:
            argv += ['-e', json.dumps(evars)]
        if limit:
            argv += ['--limit', limit]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'],
                   ANSIBLE_CACHE_PLUGIN='jsonfile', ANSIBLE_CACHE_PLUGIN_CONNECTION=self.cache,
                   ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOCALHOST_WARNING='false',
                   ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_NOCOLOR='1',
                   ANSIBLE_RETRY_FILES_ENABLED='false', ANSIBLE_HOST_KEY_CHECKING='false', ANSIBLE_FORKS='10')
        for key in ('ANSIBLE_CONFIG', 'ANSIBLE_CALLBACKS_ENABLED'):
            env.pop(key, None)
        proc = subprocess.run(argv, cwd=self.tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)
        assert proc.returncode == rc, '%s\n%s' % (proc.stdout[-6000:], proc.stderr[-3000:])
        return Result(json.loads(proc.stdout[proc.stdout.index('{'):]))

    def recorded(self):
        with open(self.state) as f:
            return {m: v['ipv4'] for m, v in json.load(f)['pools']['pods']['members'].items()}


class Result(object):
    def __init__(self, data):
        self.data = data

    def tasks(self, name):
        """[{host: result}] of every run of the task of that name (one per batch under serial)."""
        return [task['hosts'] for play in self.data['plays'] for task in play['tasks']
                if task['task']['name'] == name]

    def task(self, name):
        """{host: result} of the last task of that name."""
        found = self.tasks(name)
        assert found, 'task %r did not run' % name
        return found[-1]

    def facts(self):
        """The facts of the run_once task that computes every member's peer entry (set on every node)."""
        return next(iter(self.task(PEER_TASK).values()))['ansible_facts']

    def pool(self):
        return next(iter(self.task(POOL_TASK).values()))

    def failures(self):
        return {h: r.get('msg', '') for play in self.data['plays'] for task in play['tasks']
                for h, r in task['hosts'].items() if r.get('failed')}


def peers_by_remote(facts):
    return {p['remote']: p['subnet'] for p in facts['overlay_fleet_peers'].values()}


ALL = ['n1', 'n2', 'n3', 'n4', 'n5']


def test_limited_run_keeps_every_member_as_peer_and_allocates_and_releases_nothing(tmp_path):
    lab = Lab(str(tmp_path), allocated=ALL + ['gone'])
    before = lab.recorded()
    # overlay_group from its default: the group the play runs on (cni_node_hosts).
    res = lab.play('fleet.yml', limit='n1,n2', cni_node_hosts='ov')
    facts = res.facts()
    assert facts['overlay_unresolved'] == []
    # Every member with its address (inventory: n1..n3, cached default_ipv4: n4,
    # cached local fact: n5) and the pool's subnet; no ctl, no gone.
    assert sorted(facts['overlay_fleet_peers']) == ALL
    assert peers_by_remote(facts) == {ADDR[m]: before[m] for m in ALL}
    # The play's nodes offer the same entry as the others get (overlay_peer).
    offered = res.task("cni.node.overlay : This node's subnet, ranges, MTU and what it offers its peers")
    assert offered['n2']['ansible_facts']['overlay_peer'] == facts['overlay_fleet_peers']['n2']
    pool = res.pool()
    assert not pool['changed']
    assert pool['allocated'] == [] and pool['released'] == []
    assert pool['unlisted'] == ['gone']
    assert lab.recorded() == before
    assert res.task(WARN_TASK)['n1'].get('skipped')

    # overlay_pool_purge under --limit releases only the host that left the group.
    res = lab.play('fleet.yml', limit='n1', overlay_group='ov', overlay_pool_purge=True)
    pool = res.pool()
    assert pool['changed'] and pool['released'] == ['gone']
    del before['gone']
    assert lab.recorded() == before


def test_member_nothing_is_known_of_is_left_out_and_named(tmp_path):
    lab = Lab(str(tmp_path), allocated=ALL, with_n6=True)
    res = lab.play('fleet.yml', limit='n1', overlay_group='ov')
    facts = res.facts()
    # n6 (a new member of the group, outside the play, no claim, not in the state
    # file) gets no subnet blind and, without an address either, is no peer.
    assert facts['overlay_unresolved'] == ['n6']
    assert sorted(facts['overlay_fleet_peers']) == ALL
    assert res.pool()['allocated'] == []
    assert 'n6' not in lab.recorded()
    warn = ' '.join(res.task(WARN_TASK)['n1']['msg'].split())
    assert warn.startswith('WARNING: n6: not in this run') and 'no peer is purged in this run' in warn


def test_without_state_file_a_limited_run_allocates_only_what_it_knows(tmp_path):
    # The state file is lost: the play's node gets a subnet, n5 its recorded one (a claim from
    # the cached local fact); n2, n3, n4 (no claim known) are not allocated blind.
    lab = Lab(str(tmp_path))
    res = lab.play('fleet.yml', limit='n1', overlay_group='ov')
    recorded = lab.recorded()
    assert sorted(recorded) == ['n1', 'n5']
    assert recorded['n5'] == '10.244.4.0/24'
    facts = res.facts()
    assert facts['overlay_unresolved'] == ['n2', 'n3', 'n4']
    assert peers_by_remote(facts) == {ADDR['n1']: recorded['n1'], ADDR['n5']: recorded['n5']}


def test_member_lost_earlier_in_the_play_is_not_allocated_blind(tmp_path):
    # No state file; n2 fails before the fleet tasks (unreachable or failed: no longer in
    # ansible_play_hosts, still in ansible_play_hosts_all) and has no claim in the cache.
    lab = Lab(str(tmp_path))
    res = lab.play('fleet.yml', limit='n1,n2', rc=2, overlay_group='ov', fleet_fail=['n2'])
    assert list(res.failures()) == ['n2']
    assert sorted(lab.recorded()) == ['n1', 'n5']
    facts = res.facts()
    # n2's inventory address is known, its subnet is not: left out, not numbered blind.
    assert facts['overlay_unresolved'] == ['n2', 'n3', 'n4']


def test_with_a_state_file_a_limited_run_still_allocates_only_what_it_knows(tmp_path):
    # A state file written by an earlier limited run (n1, n3 only): n2 and n4 (outside the
    # play, no claim, not recorded) are not allocated blind; n3 (recorded) and n5 (claim)
    # stay members, so purge releases none of them.
    lab = Lab(str(tmp_path), allocated=['n1', 'n3'])
    before = lab.recorded()
    res = lab.play('fleet.yml', limit='n1', overlay_group='ov', overlay_pool_purge=True)
    pool = res.pool()
    assert pool['allocated'] == ['n5'] and pool['released'] == []
    recorded = lab.recorded()
    assert sorted(recorded) == ['n1', 'n3', 'n5']
    assert recorded['n3'] == before['n3'] and recorded['n5'] == '10.244.4.0/24'
    facts = res.facts()
    assert facts['overlay_unresolved'] == ['n2', 'n4']
    assert peers_by_remote(facts) == {ADDR[m]: recorded[m] for m in ('n1', 'n3', 'n5')}


def test_hosts_of_later_batches_are_outside_the_play_under_serial(tmp_path):
    # serial: 1: while n1's batch runs, n2 is in ansible_play_hosts but has no overlay_peer yet.
    lab = Lab(str(tmp_path), allocated=ALL)
    before = lab.recorded()
    res = lab.play('fleet.yml', limit='n1,n2', overlay_group='ov', fleet_serial=1)
    batches = res.tasks(PEER_TASK)
    assert [sorted(b) for b in batches] == [['n1'], ['n2']]
    for batch in batches:
        facts = next(iter(batch.values()))['ansible_facts']
        assert facts['overlay_unresolved'] == []
        assert peers_by_remote(facts) == {ADDR[m]: before[m] for m in ALL}


def test_recorded_address_before_the_default_ipv4_address(tmp_path):
    # n5's cache holds its recorded underlay_address and another default IPv4 address.
    lab = Lab(str(tmp_path), allocated=ALL)
    facts = lab.play('fleet.yml', limit='n1', overlay_group='ov').facts()
    assert facts['overlay_fleet_peers']['n5']['remote'] == ADDR['n5']
    assert facts['overlay_fleet_peers']['n4']['remote'] == ADDR['n4']


def test_addresses_are_validated_and_entries_built_per_host(tmp_path):
    bad = {'b1': 'cafe.de', 'b2': '10.0.0', 'b3': '1.2.3.4.5', 'b4': '::::', 'b5': '256.1.1.1', 'b6': '1::2::3'}
    good = {'g1': '2001:db8::7', 'g2': '::ffff:1', 'g3': '198.51.100.250',
            'g4': ADDR['n3']}       # g4 shares n3's address: two entries, each with its own subnet
    extra = dict((h, {'overlay_underlay_address': a}) for h, a in list(bad.items()) + list(good.items()))
    lab = Lab(str(tmp_path), allocated=ALL + sorted(extra), extra_hosts=extra)
    recorded = lab.recorded()
    facts = lab.play('fleet.yml', limit='n1', overlay_group='ov').facts()
    assert facts['overlay_unresolved'] == sorted(bad)
    peers = facts['overlay_fleet_peers']
    assert sorted(peers) == sorted(ALL + list(good))
    for host, address in list(good.items()) + [(m, ADDR[m]) for m in ALL]:
        assert peers[host] == {'remote': address, 'subnet': recorded[host]}, host


def test_check_mode_on_a_fresh_controller(tmp_path):
    # --check (cni.node.drift) before any real run: the state directory does not exist yet.
    lab = Lab(str(tmp_path), seed=False)
    state = os.path.join(str(tmp_path), 'fresh', 'ipam-pods.json')
    res = lab.play('fleet.yml', check=True, cni_node_hosts='n1:n2', overlay_group='ov', overlay_state_path=state)
    assert res.failures() == {}
    assert sorted(res.pool()['allocated']) == ['n1', 'n2']
    assert os.path.isdir(os.path.dirname(state)) and not os.path.exists(state)


def test_drift_playbook_limited_to_a_tag_still_checks_and_reports(tmp_path):
    # cni.node.drift --tags cni_vxlan: the profile, the overlay's facts and fleet tasks (always) and
    # cni_vxlan run in check mode, and the verdict reports the drift. One member on the loopback
    # (nothing is created: check mode; the device name is one no host has).
    tmp = str(tmp_path)
    inventory = os.path.join(tmp, 'drift-hosts.yml')
    with open(inventory, 'w') as f:
        json.dump({'all': {'children': {'ov': {'hosts': {'n1': {
            'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
            'overlay_underlay_dev': 'lo', 'overlay_underlay_address': '127.0.0.1', 'overlay_underlay_mtu': 1500,
            'overlay_vxlan_name': 'cnidrifttest0', 'overlay_fact_dir': os.path.join(tmp, 'facts'),
            'overlay_state_path': os.path.join(tmp, 'state', 'ipam-pods.json')}}}}}}, f)
    lab = Lab.__new__(Lab)
    lab.tmp, lab.inventory, lab.cache = tmp, inventory, os.path.join(tmp, 'cache')
    res = lab.play(os.path.join(REPO, 'playbooks', 'drift.yml'), rc=2, tags='cni_vxlan', cni_node_hosts='ov',
                   profile_kind='overlay', cni_node_become=False)
    verdict = ('Drift on n1; the report is in the drift_report callback\'s output directory. '
               'Run with -e remediate=true to correct it.')
    assert res.failures() == {'n1': verdict}
    items = res.task('What drifted on this node')['n1']['ansible_facts']['drift_items']
    assert any(i['path'].startswith('vxlan/cnidrifttest0') for i in items), items
    assert not os.path.exists('/sys/class/net/cnidrifttest0')


@pytest.mark.parametrize('evars, expected', [
    ({'overlay_group': 'ov'}, 'but overlay_members leaves out n3, n4, n5.'),
    ({'cni_node_hosts': 'n1:n2'}, 'but overlay_group n1:n2 is not an inventory group.'),
])
def test_pool_purge_is_refused_without_the_whole_group(tmp_path, evars, expected):
    lab = Lab(str(tmp_path), allocated=ALL + ['gone'])
    before = lab.recorded()
    res = lab.play('fleet.yml', limit='n1', rc=2, overlay_pool_purge=True, overlay_members=['n1', 'n2'], **evars)
    msg = ' '.join(res.failures()['n1'].split())
    assert msg.startswith('overlay_pool_purge releases the subnet of every host') and expected in msg
    assert lab.recorded() == before


def test_membership_is_checked(tmp_path):
    lab = Lab(str(tmp_path), seed=False)
    # A host of the play outside the group fails alone, naming the group.
    res = lab.play('fleet.yml', rc=2, cni_node_hosts='n1:ctl', overlay_group='ov',
                   overlay_state_path=os.path.join(str(tmp_path), 'state', 'other.json'))
    failures = res.failures()
    assert list(failures) == ['ctl']
    assert 'ctl is in the play but not a member of the overlay: overlay_group is ov;' in ' '.join(failures['ctl'].split())
    # A host pattern in cni_node_hosts is no group: overlay_group must be set.
    res = lab.play('fleet.yml', rc=2, limit='n1', cni_node_hosts='ov:!n3')
    msg = ' '.join(res.failures()['n1'].split())
    assert 'which is not an inventory group' in msg and 'set overlay_group' in msg
