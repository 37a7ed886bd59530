# -*- coding: utf-8 -*-
"""The cni.node.drift_report callback through real ansible-playbook runs on this machine.

A playbook (connection local) manages three network configuration lists with
cni_network in a temporary conf_dir, one of them and another through a loop.
After a converging run the files are edited by hand (an MTU changed, one
file deleted); a check-mode run must report exactly that drift in
drift.json, drift.md and drift.prom and change nothing; a real run corrects
it; the next check reports drifted=false with every gauge at 0.

Nothing here needs root: the files live in a temporary directory, and
plugin binaries are not validated.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, '.venv', 'bin')
HOST = 'node-a'

PLAYBOOK = """\
- name: Networks of a node
  hosts: nodes
  gather_facts: false
  tasks:
    - name: Pod network
      cni.node.cni_network:
        name: pods
        conf_dir: "{{ conf_dir }}"
        cni_version: 1.0.0
        validate: false
        plugins:
          - type: bridge
            bridge: cni0
            mtu: 1400
            ipam:
              type: host-local
              ranges: [[{subnet: 10.244.1.0/24}]]
    - name: Extra networks
      cni.node.cni_network:
        name: "{{ item }}"
        conf_dir: "{{ conf_dir }}"
        cni_version: 1.0.0
        validate: false
        plugins: [{type: loopback}]
      loop: [extra1, extra2]
    - name: Not a cni.node module
      ansible.builtin.debug:
        msg: no drift here
"""


class Run(object):
    def __init__(self, tmp):
        self.tmp = tmp
        self.conf_dir = os.path.join(tmp, 'net.d')
        self.report = os.path.join(tmp, 'report')
        os.mkdir(self.conf_dir)
        self.playbook = os.path.join(tmp, 'networks.yml')
        with open(self.playbook, 'w') as f:
            f.write(PLAYBOOK)
        self.inventory = os.path.join(tmp, 'hosts.ini')
        with open(self.inventory, 'w') as f:
            f.write('[nodes]\n%s ansible_connection=local\n' % HOST)

    def conf(self, name):
        return os.path.join(self.conf_dir, '10-%s.conflist' % name)

    def __call__(self, check=False, rc=0):
        evars = dict(ansible_python_interpreter=sys.executable, conf_dir=self.conf_dir)
        argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', self.inventory, self.playbook,
                '-e', json.dumps(evars)]
        if check:
            argv += ['--check', '--diff']
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'],
                   ANSIBLE_CALLBACKS_ENABLED='cni.node.drift_report', CNI_NODE_DRIFT_DIR=self.report,
                   ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_HOST_KEY_CHECKING='false', ANSIBLE_NOCOLOR='1',
                   ANSIBLE_RETRY_FILES_ENABLED='false')
        env.pop('ANSIBLE_CONFIG', None)
        proc = subprocess.run(argv, cwd=self.tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)
        assert proc.returncode == rc, '%s\n%s' % (proc.stdout, proc.stderr)
        assert 'drift_report' not in proc.stderr, proc.stderr   # no warning from the callback
        with open(os.path.join(self.report, 'drift.json')) as f:
            data = json.load(f)
        with open(os.path.join(self.report, 'drift.md')) as f:
            md = f.read()
        with open(os.path.join(self.report, 'drift.prom')) as f:
            prom = f.read()
        return data, md, prom


def gauges(prom):
    """The samples of drift.prom without the timestamp's value."""
    out = []
    for line in prom.splitlines():
        if line.startswith('#'):
            continue
        name, value = line.rsplit(' ', 1)
        out.append(name if name == 'cni_node_drift_last_run_timestamp_seconds' else line)
    return out


@pytest.fixture
def run(tmp_path):
    return Run(str(tmp_path))


@pytest.mark.no_root
def test_report_of_a_drift_then_of_a_clean_node(run):
    # Converge: every file is new; the report of a real run lists what was done.
    data, _md, _prom = run()
    assert data['check_mode'] is False and data['drifted'] is True
    assert [(i['task'], i['path']) for i in data['hosts'][HOST]] == [
        ('Pod network', 'file' + run.conf('pods')), ('Pod network', 'config'),
        ('Extra networks', 'file' + run.conf('extra1')), ('Extra networks', 'config'),
        ('Extra networks', 'file' + run.conf('extra2')), ('Extra networks', 'config'),
    ]

    # Drift by hand: the bridge's MTU edited, one file deleted.
    with open(run.conf('pods')) as f:
        pods = json.load(f)
    pods['plugins'][0]['mtu'] = 1500
    with open(run.conf('pods'), 'w') as f:
        json.dump(pods, f)
    os.unlink(run.conf('extra2'))
    with open(run.conf('pods')) as f:
        edited = f.read()

    data, md, prom = run(check=True)
    extra2 = {'cniVersion': '1.0.0', 'name': 'extra2', 'plugins': [{'type': 'loopback'}]}
    assert data['hosts'] == {HOST: [
        dict(task='Pod network', module='cni.node.cni_network', path='config/plugins[0].mtu', area='config',
             before=1500, after=1400),
        dict(task='Extra networks', module='cni.node.cni_network', path='file' + run.conf('extra2'), area='file',
             before='absent', after='present'),
        dict(task='Extra networks', module='cni.node.cni_network', path='config', area='config',
             before=None, after=extra2),
    ]}
    assert data['check_mode'] is True and data['drifted'] is True and data['failed'] == {}
    assert data['totals'] == dict(drift=3, hosts={HOST: 3}, areas={'config': 2, 'file': 1},
                                  host_areas={HOST: {'config': 2, 'file': 1}})
    assert data['playbooks'] == ['networks.yml']
    # Check mode changed nothing.
    with open(run.conf('pods')) as f:
        assert f.read() == edited
    assert not os.path.exists(run.conf('extra2'))

    assert '- Result: **drift on 1 of 1 host**, 3 values\n' in md
    assert '| %s | 3 | config 2, file 1 |  |\n' % HOST in md
    assert '| `config/plugins[0].mtu` | `1500` | `1400` | Pod network |\n' in md
    assert '| `file%s` | `absent` | `present` | Extra networks |\n' % run.conf('extra2') in md
    assert md.count('| Pod network |') + md.count('| Extra networks |') == 3
    assert gauges(prom) == [
        'cni_node_drift{host="%s",area="config"} 2' % HOST,
        'cni_node_drift{host="%s",area="file"} 1' % HOST,
        'cni_node_drift_failed{host="%s"} 0' % HOST,
        'cni_node_drift_check_mode 1',
        'cni_node_drift_last_run_timestamp_seconds',
    ]
    assert abs(float(prom.splitlines()[-1].split()[1]) - data['timestamp_seconds']) < 1e-3
    assert sorted(os.listdir(run.report)) == ['drift.json', 'drift.md', 'drift.prom']   # no temporary file left

    # The real run corrects exactly what check mode reported.
    data, _md, _prom = run()
    assert data['check_mode'] is False and [i['path'] for i in data['hosts'][HOST]] == [
        'config/plugins[0].mtu', 'file' + run.conf('extra2'), 'config']
    with open(run.conf('pods')) as f:
        assert json.load(f)['plugins'][0]['mtu'] == 1400

    # Clean: nothing drifted, every gauge 0.
    data, md, prom = run(check=True)
    assert data['drifted'] is False and data['hosts'] == {HOST: []} and data['totals']['drift'] == 0
    assert data['totals']['host_areas'] == {HOST: {'config': 0, 'file': 0}}
    assert '- Result: **no drift** on 1 host\n' in md and '## %s: no drift\n' % HOST in md
    assert gauges(prom) == [
        'cni_node_drift{host="%s",area="config"} 0' % HOST,
        'cni_node_drift{host="%s",area="file"} 0' % HOST,
        'cni_node_drift_failed{host="%s"} 0' % HOST,
        'cni_node_drift_check_mode 1',
        'cni_node_drift_last_run_timestamp_seconds',
    ]


@pytest.mark.no_root
def test_unreachable_host_is_reported_apart(run):
    with open(run.inventory, 'a') as f:
        f.write('node-b ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1 ansible_ssh_timeout=2\n')
    data, md, prom = run(check=True, rc=4)   # 4: a host was unreachable
    assert sorted(data['hosts']) == [HOST] and len(data['hosts'][HOST]) == 6
    assert list(data['failed']) == ['node-b']
    failure = data['failed']['node-b'][0]
    assert failure['unreachable'] is True and failure['task'] == 'Pod network' and failure['msg']
    assert '- Failed or unreachable: **node-b**\n' in md and '| node-b | \u2014 | not checked | unreachable |\n' in md
    samples = gauges(prom)
    assert 'cni_node_drift_failed{host="node-a"} 0' in samples
    assert 'cni_node_drift_failed{host="node-b"} 1' in samples
    assert not any(s.startswith('cni_node_drift{host="node-b"') for s in samples)
