# -*- coding: utf-8 -*-
"""Monitoring: the drift report's textfile with the doctor's findings, the Prometheus alerting rules and the
Grafana dashboard, checked with promtool (hack/promtool.sh: Debian's prometheus package, unpacked, not
installed): check rules, check metrics, and rule unit tests that make each alert fire on the series the
textfile has."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import textwrap

import pytest

from ansible_collections.cni.node.plugins.plugin_utils import _driftreport

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(REPO, 'monitoring', 'prometheus', 'cni-node-alerts.yml')
DASHBOARD = os.path.join(REPO, 'monitoring', 'grafana', 'cni-node-dashboard.json')
ERROR = dict(check='peers', severity='error', subject='node2', evidence='no forwarding entry', fix='rerun site')
WARNING = dict(check='leases', severity='warning', subject='pods/10.244.1.9', evidence='held by "x"\n',
               fix='cni_gc')


@pytest.fixture(scope='module')
def promtool():
    proc = subprocess.run(['bash', os.path.join(REPO, 'hack', 'promtool.sh')], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    if proc.returncode != 0:
        pytest.skip('no promtool: %s' % proc.stderr.strip().splitlines()[-1:])
    return proc.stdout.strip()


def report(with_doctor=True):
    r = _driftreport.DriftReport()
    r.add_result('node1', 'sysctl', 'cni.node.cni_sysctl', dict(drift=[dict(path='sysctl/net.ipv4.ip_forward',
                                                                            before='0', after='1')]))
    if with_doctor:
        r.add_result('node1', 'vteps', 'cni.node.cni_doctor', dict(drift=[], findings=[], checks=[]))
        r.add_result('node1', 'doctor', 'cni.node.cni_doctor', dict(drift=[], findings=[ERROR, WARNING],
                                                                    checks=['peers', 'leases']))
        r.add_result('node2', 'doctor', 'cni.node.cni_doctor', dict(drift=[], findings=[], checks=['peers']))
        r.add_result('node2', 'vteps only: ignored', 'cni.node.cni_doctor', dict(drift=[], findings=[], checks=[]))
    return r.data(timestamp=1700000000.0, check_mode=True)


def test_findings_in_the_report():
    data = report()
    assert data['findings'] == {'node1': [ERROR, WARNING], 'node2': []}
    assert data['totals']['findings'] == {'node1': dict(error=1, warning=1, info=0),
                                          'node2': dict(error=0, warning=0, info=0)}
    assert 'findings' not in report(with_doctor=False)
    md = _driftreport.render_markdown(data)
    assert '## Doctor findings' in md and '| node1 | peers | error | node2 |' in md
    prom = _driftreport.render_prometheus(data)
    assert 'cni_node_doctor_findings{host="node1",severity="error"} 1' in prom
    assert 'cni_node_doctor_findings{host="node2",severity="error"} 0' in prom
    assert 'cni_node_doctor_finding{host="node1",check="leases",severity="warning",subject="pods/10.244.1.9"} 1' \
        in prom
    assert 'cni_node_doctor_healthy{host="node1"} 0' in prom and 'cni_node_doctor_healthy{host="node2"} 1' in prom


def test_the_textfile_passes_promtool_check_metrics(promtool):
    text = _driftreport.render_prometheus(report())
    proc = subprocess.run([promtool, 'check', 'metrics'], input=text, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == '', proc.stdout


def test_the_rules_pass_promtool_check_rules(promtool):
    proc = subprocess.run([promtool, 'check', 'rules', RULES], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert 'SUCCESS: 5 rules found' in proc.stdout


RULE_TESTS = '''
rule_files: [%(rules)s]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'cni_node_drift{host="node1",area="sysctl"}'
        values: '1x90'
      - series: 'cni_node_drift{host="node2",area="sysctl"}'
        values: '0x90'
      - series: 'cni_node_doctor_findings{host="node1",severity="error"}'
        values: '1x90'
      - series: 'cni_node_doctor_findings{host="node2",severity="error"}'
        values: '0x90'
      - series: 'cni_node_drift_failed{host="node2"}'
        values: '1x90'
      - series: 'cni_node_drift_last_run_timestamp_seconds'
        values: '0x1500'
    alert_rule_test:
      - eval_time: 10m
        alertname: CniNodeDrift
        exp_alerts:
          - exp_labels: {severity: warning, host: node1}
            exp_annotations:
              summary: CNI configuration drift on node1
              description: >-
                1 value(s) on node1 differ from the cni.node profile in the last drift run. Read drift.md; run
                cni.node.drift -e remediate=true to correct them.
      - eval_time: 10m
        alertname: CniNodeDoctorError
        exp_alerts:
          - exp_labels: {severity: critical, host: node1}
            exp_annotations:
              summary: cni_doctor found 1 error(s) on node1
              description: >-
                The doctor's findings (cni_node_doctor_finding{host="node1"}) name the check, the subject and the
                fix; run cni.node.diagnose for the cross-node checks.
      - eval_time: 10m
        alertname: CniNodeDriftRunFailed
        exp_alerts:
          - exp_labels: {severity: warning, host: node2}
            exp_annotations:
              summary: The drift run failed or could not reach node2
              description: A task failed or the host was unreachable in the last cni.node.drift run.
      - eval_time: 10m
        alertname: CniNodeDriftCheckStale
        exp_alerts: []
      - eval_time: 1450m
        alertname: CniNodeDriftCheckStale
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: The cni.node drift check has not run for a day
              description: >-
                The last drift run finished 1d 0h 10m 0s ago; check the timer or cron job that runs cni.node.drift.
      - eval_time: 10m
        alertname: CniNodeDriftCheckMissing
        exp_alerts: []
'''


def test_each_alert_fires_on_the_series_the_textfile_has(promtool, tmp_path):
    tests = tmp_path / 'tests.yml'
    tests.write_text(textwrap.dedent(RULE_TESTS % dict(rules=json.dumps(RULES))))
    proc = subprocess.run([promtool, 'test', 'rules', str(tests)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    # the alerts' metrics are the textfile's
    text = _driftreport.render_prometheus(report())
    names = set(re.findall(r'^# TYPE (\S+) gauge$', text, re.M))
    with open(RULES) as f:
        used = set(re.findall(r'\b(cni_node_[a-z_]+)', f.read()))
    assert used <= names, used - names


def test_the_dashboard_queries_the_textfile_metrics():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    names = set(re.findall(r'^# TYPE (\S+) gauge$', _driftreport.render_prometheus(report()), re.M))
    exprs = [t['expr'] for p in dash['panels'] for t in p['targets']]
    used = set(n for e in exprs for n in re.findall(r'\b(cni_node_[a-z_]+)', e))
    assert used and used <= names, used - names
    assert set(['cni_node_doctor_finding', 'cni_node_doctor_findings', 'cni_node_drift']) <= used
    assert len(set(p['id'] for p in dash['panels'])) == len(dash['panels'])
