# -*- coding: utf-8 -*-
"""The drift report: aggregation, the three renderings, the atomic write, and the callback's event handling."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.cni.node.plugins.plugin_utils import _driftreport
from ansible_collections.cni.node.plugins.plugin_utils._driftreport import (
    DriftReport,
    prom_label,
    render_json,
    render_markdown,
    render_prometheus,
    write_report,
)

T = 1795858736   # 2026-11-28T09:38:56Z


def small_report():
    r = DriftReport()
    r.playbooks.append('drift.yml')
    r.add_result('n1', 'Kernel parameters', 'cni.node.cni_sysctl', dict(changed=True, drift=[
        dict(path='sysctl/net.ipv4.ip_forward', before='0', after='1'),
    ]))
    r.add_result('n1', 'Bridge', 'cni.node.cni_bridge', dict(changed=True, drift=[
        dict(path='link/cni0/mtu', before=1500, after=1450),
        dict(path='link/cni0/addresses', before=[], after=['10.244.1.1/24']),
    ]))
    r.add_result('n1', 'Debug', 'ansible.builtin.debug', dict(msg='hello'))        # no drift: ignored
    r.add_result('n2', 'Kernel parameters', 'cni.node.cni_sysctl', dict(changed=False, drift=[]))
    r.add_result('n2', 'Bridge', 'cni.node.cni_bridge', dict(changed=False, drift=[]))
    r.add_failure('n3', 'Gathering Facts', 'ansible.builtin.gather_facts', 'Failed to connect', unreachable=True)
    return r


def test_aggregation():
    data = small_report().data(timestamp=T, check_mode=True)
    assert data == {
        'version': 1,
        'timestamp': '2026-11-28T09:38:56Z',
        'timestamp_seconds': T,
        'check_mode': True,
        'playbooks': ['drift.yml'],
        'drifted': True,
        'hosts': {
            'n1': [
                {'task': 'Kernel parameters', 'module': 'cni.node.cni_sysctl', 'path': 'sysctl/net.ipv4.ip_forward',
                 'area': 'sysctl', 'before': '0', 'after': '1'},
                {'task': 'Bridge', 'module': 'cni.node.cni_bridge', 'path': 'link/cni0/mtu', 'area': 'link',
                 'before': 1500, 'after': 1450},
                {'task': 'Bridge', 'module': 'cni.node.cni_bridge', 'path': 'link/cni0/addresses', 'area': 'link',
                 'before': [], 'after': ['10.244.1.1/24']},
            ],
            'n2': [],
        },
        'failed': {'n3': [{'task': 'Gathering Facts', 'module': 'ansible.builtin.gather_facts',
                           'msg': 'Failed to connect', 'unreachable': True}]},
        'totals': {
            'drift': 3,
            'hosts': {'n1': 3, 'n2': 0},
            'areas': {'sysctl': 1, 'link': 2},
            'host_areas': {'n1': {'sysctl': 1, 'link': 2}, 'n2': {'sysctl': 0, 'link': 0}},
        },
    }


def test_areas_come_from_paths_and_from_the_modules_that_ran():
    r = DriftReport()
    # An area the module table does not know still counts; a short module name maps too.
    mode = dict(path='mode/etc/cni/net.d/10-a.conflist', before='0600', after='0644')
    assert r.add_result('h', 't', 'cni_network', dict(drift=[mode]))
    # A module outside the collection with a drift list: only the areas its items name.
    assert r.add_result('h', 't', 'my.own.module', dict(drift=[dict(path='thing/x', before=1, after=2)]))
    assert r.add_result('h', 't', 'my.own.module', dict(drift=[]))
    assert not r.add_result('h', 't', 'cni.node.cni_network', dict(censored='hidden (no_log)'))
    assert not r.add_result('h', 't', 'cni.node.cni_network', dict(drift='not a list'))
    data = r.data(timestamp=T)
    assert data['totals']['host_areas'] == {'h': {'config': 0, 'file': 0, 'mode': 1, 'thing': 1}}
    assert data['check_mode'] is False


def test_no_drift_anywhere():
    r = DriftReport()
    r.add_result('n1', 'Network', 'cni.node.cni_network', dict(changed=False, drift=[]))
    data = r.data(timestamp=T)
    assert data['drifted'] is False and data['hosts'] == {'n1': []} and data['totals']['drift'] == 0
    assert render_prometheus(data).splitlines()[2:4] == [
        'cni_node_drift{host="n1",area="config"} 0',
        'cni_node_drift{host="n1",area="file"} 0',
    ]
    assert '- Result: **no drift** on 1 host\n' in render_markdown(data)


def test_values_are_made_json_safe():
    class Text(str):
        pass

    r = DriftReport()
    r.add_result('h', 't', 'cni.node.cni_vxlan', dict(drift=[
        dict(path=Text('vxlan/vxlan0/routes/10.244.2.0/24'), before=(1, 2), after={'a': b'\xffx', 'b': Text('y')}),
    ]))
    item = r.data(timestamp=T)['hosts']['h'][0]
    assert item['area'] == 'vxlan' and item['before'] == [1, 2]
    assert item['after'] == {'a': u'\ufffdx', 'b': 'y'} and item['after']['b'].__class__ is str
    json.loads(render_json(r.data(timestamp=T)))


def test_json_rendering_is_the_data():
    data = small_report().data(timestamp=T, check_mode=True)
    text = render_json(data)
    assert text.endswith('}\n') and json.loads(text) == data
    assert text.index('"check_mode"') < text.index('"version"')   # keys sorted


MARKDOWN = u"""\
# cni.node drift report

- Finished: 2026-11-28T09:38:56Z
- Mode: check (nothing was changed; the values below differ from the desired state)
- Playbook: drift.yml
- Result: **drift on 1 of 2 hosts**, 3 values
- Failed or unreachable: **n3**

| Host | Drifted values | By area | Failed |
|---|---:|---|---|
| n1 | 3 | link 2, sysctl 1 |  |
| n2 | 0 | clean |  |
| n3 | \u2014 | not checked | unreachable |

## n1: 3 drifted values

| Area | Drifted |
|---|---:|
| link | 2 |
| sysctl | 1 |

| Path | Before | After | Task |
|---|---|---|---|
| `sysctl/net.ipv4.ip_forward` | `0` | `1` | Kernel parameters |
| `link/cni0/mtu` | `1500` | `1450` | Bridge |
| `link/cni0/addresses` | `[]` | `["10.244.1.1/24"]` | Bridge |

## n2: no drift

| Area | Drifted |
|---|---:|
| link | 0 |
| sysctl | 0 |

## n3: not checked

- unreachable in task "Gathering Facts": Failed to connect
"""


def test_markdown_rendering():
    assert render_markdown(small_report().data(timestamp=T, check_mode=True)) == MARKDOWN


def test_markdown_cells_are_safe_and_short():
    r = DriftReport()
    r.add_result('h', 'a | b', 'cni.node.cni_network', dict(drift=[
        dict(path='config/plugins[0].args', before='x|y', after=None),
        dict(path='config/plugins[0].cmd', before='run `it`\nnow', after=''),
        dict(path='config', before=None, after={'name': 'n' * 200}),
    ]))
    md = render_markdown(r.data(timestamp=T))
    assert u'| `config/plugins[0].args` | `x\\|y` | \u2014 | a \\| b |' in md
    assert u'| `config/plugins[0].cmd` | `` run `it` now `` | `""` | a \\| b |' in md
    long_cell = [line for line in md.splitlines() if line.startswith('| `config` |')][0].split(' | ')[2]
    assert long_cell.endswith(u'\u2026`') and len(long_cell) == _driftreport.MD_CELL_MAX + 2
    assert u'- Mode: apply (the values below differed and were corrected)' in md


def test_markdown_without_any_result():
    md = render_markdown(DriftReport().data(timestamp=T))
    assert md.endswith('- Result: **no drift** on 0 hosts\n\nNo cni.node module reported on any host.\n')


PROM = u"""\
# HELP cni_node_drift Values that differ from the desired state in the last run, per host and area.
# TYPE cni_node_drift gauge
cni_node_drift{host="n1",area="link"} 2
cni_node_drift{host="n1",area="sysctl"} 1
cni_node_drift{host="n2",area="link"} 0
cni_node_drift{host="n2",area="sysctl"} 0
# HELP cni_node_drift_failed Whether a task failed or the host was unreachable in the last run (1) or not (0).
# TYPE cni_node_drift_failed gauge
cni_node_drift_failed{host="n1"} 0
cni_node_drift_failed{host="n2"} 0
cni_node_drift_failed{host="n3"} 1
# HELP cni_node_drift_check_mode Whether the last run was in check mode (1: drift found, not corrected) or not \
(0: drift corrected).
# TYPE cni_node_drift_check_mode gauge
cni_node_drift_check_mode 1
# HELP cni_node_drift_last_run_timestamp_seconds Unix time at which the last drift run finished.
# TYPE cni_node_drift_last_run_timestamp_seconds gauge
cni_node_drift_last_run_timestamp_seconds 1795858736
"""


def test_prometheus_rendering():
    assert render_prometheus(small_report().data(timestamp=T, check_mode=True)) == PROM


@pytest.mark.parametrize('value, escaped', [
    ('node-1.example', 'node-1.example'),
    ('a"b', 'a\\"b'),
    ('a\\b', 'a\\\\b'),
    ('a\nb', 'a\\nb'),
    ('\\"\n', '\\\\\\"\\n'),
])
def test_prometheus_label_escaping(value, escaped):
    assert prom_label(value) == escaped


def test_prometheus_labels_escaped_in_the_file():
    r = DriftReport()
    r.add_result('we"ird\\host\n', 't', 'x.y.z', dict(drift=[dict(path='a"rea/x', before=1, after=2)]))
    data = r.data(timestamp=1795858736.25)
    lines = render_prometheus(data).splitlines()
    assert 'cni_node_drift{host="we\\"ird\\\\host\\n",area="a\\"rea"} 1' in lines
    assert 'cni_node_drift_failed{host="we\\"ird\\\\host\\n"} 0' in lines
    assert lines[-1] == 'cni_node_drift_last_run_timestamp_seconds 1795858736.25'
    assert lines[-4] == 'cni_node_drift_check_mode 0'


def test_write_report_creates_the_directory_and_leaves_no_temporary_file(tmp_path):
    out = str(tmp_path / 'reports' / 'drift')
    data = small_report().data(timestamp=T, check_mode=True)
    paths = write_report(out, data)
    assert paths == [os.path.join(out, n) for n in ('drift.json', 'drift.md', 'drift.prom')]
    assert sorted(os.listdir(out)) == ['drift.json', 'drift.md', 'drift.prom']
    with open(os.path.join(out, 'drift.prom')) as f:
        assert f.read() == PROM
    assert oct(os.stat(os.path.join(out, 'drift.prom')).st_mode & 0o777) == oct(0o644)

    # A second run replaces the files (new inodes: a reader holding the old file sees it whole).
    old_inode = os.stat(os.path.join(out, 'drift.prom')).st_ino
    clean = DriftReport()
    clean.add_result('n1', 't', 'cni.node.cni_bridge', dict(drift=[]))
    write_report(out, clean.data(timestamp=T))
    assert sorted(os.listdir(out)) == ['drift.json', 'drift.md', 'drift.prom']
    assert os.stat(os.path.join(out, 'drift.prom')).st_ino != old_inode
    with open(os.path.join(out, 'drift.json')) as f:
        assert json.load(f)['drifted'] is False


def test_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    out = str(tmp_path)
    write_report(out, small_report().data(timestamp=T))

    def broken_fsync(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', broken_fsync)
    with pytest.raises(OSError):
        write_report(out, DriftReport().data(timestamp=T))
    assert sorted(os.listdir(out)) == ['drift.json', 'drift.md', 'drift.prom']
    with open(os.path.join(out, 'drift.json')) as f:
        assert json.load(f)['drifted'] is True


# The callback's event handling, with stand-ins for ansible-core's result objects.

class FakeHost(object):
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class FakeTask(object):
    def __init__(self, name, action, resolved=None):
        self.name = name
        self.action = action
        self.resolved_action = resolved

    def get_name(self):
        return self.name


class FakeResult(object):
    def __init__(self, host, task, result):
        self.host = FakeHost(host)
        self.task = task
        self.result = result


class FakeLegacyResult(object):
    """ansible-core before 2.19: _host, _task, _result only."""

    def __init__(self, host, task, result):
        self._host = FakeHost(host)
        self._task = task
        self._result = result


@pytest.fixture
def callback(tmp_path):
    from ansible_collections.cni.node.plugins.callback.drift_report import CallbackModule

    cb = CallbackModule()
    cb._plugin_options['output_dir'] = str(tmp_path / 'out')   # what set_options takes from the configuration
    return cb


def test_callback_events(callback, tmp_path, monkeypatch):
    from ansible import context

    monkeypatch.setattr(context, 'CLIARGS', {'check': True})
    sysctl = FakeTask('Kernel parameters', 'cni_sysctl', 'cni.node.cni_sysctl')
    loop = FakeTask('Networks', 'cni.node.cni_network', 'cni.node.cni_network')
    item_a = dict(changed=True, item='a', drift=[dict(path='config/plugins[0].mtu', before=1500, after=1400)])
    item_b = dict(changed=False, item='b', drift=[])

    callback.v2_runner_on_ok(FakeResult('n1', sysctl, dict(changed=True, drift=[
        dict(path='sysctl/net.ipv4.ip_forward', before='0', after='1')])))
    callback.v2_runner_item_on_ok(FakeResult('n1', loop, item_a))
    callback.v2_runner_item_on_ok(FakeLegacyResult('n1', loop, item_b))
    # The loop's closing result repeats the items: not counted twice.
    callback.v2_runner_on_ok(FakeResult('n1', loop, dict(changed=True, results=[item_a, item_b])))
    # Failures: a real one (its drift still counts), an ignored one, an unreachable host.
    callback.v2_runner_on_failed(FakeResult('n2', sysctl, dict(failed=True, msg='kernel refused', drift=[
        dict(path='sysctl/net.core.somaxconn', before='4096', after='65536')])))
    callback.v2_runner_on_failed(FakeResult('n2', FakeTask('Optional', 'command'), dict(failed=True, msg='x')),
                                 ignore_errors=True)
    callback.v2_runner_on_unreachable(FakeResult('n3', sysctl, dict(unreachable=True, msg='ssh: no route')))
    callback.v2_playbook_on_stats(None)

    with open(str(tmp_path / 'out' / 'drift.json')) as f:
        data = json.load(f)
    assert data['check_mode'] is True and data['drifted'] is True
    assert data['hosts'] == {
        'n1': [
            dict(task='Kernel parameters', module='cni.node.cni_sysctl', path='sysctl/net.ipv4.ip_forward',
                 area='sysctl', before='0', after='1'),
            dict(task='Networks', module='cni.node.cni_network', path='config/plugins[0].mtu', area='config',
                 before=1500, after=1400),
        ],
        'n2': [dict(task='Kernel parameters', module='cni.node.cni_sysctl', path='sysctl/net.core.somaxconn',
                    area='sysctl', before='4096', after='65536')],
    }
    assert data['failed'] == {
        'n2': [dict(task='Kernel parameters', module='cni.node.cni_sysctl', msg='kernel refused', unreachable=False)],
        'n3': [dict(task='Kernel parameters', module='cni.node.cni_sysctl', msg='ssh: no route', unreachable=True)],
    }
    assert data['totals']['host_areas'] == {'n1': {'config': 1, 'file': 0, 'sysctl': 1}, 'n2': {'sysctl': 1}}


def test_callback_warns_when_it_cannot_write(callback, tmp_path, monkeypatch):
    blocker = tmp_path / 'file'
    blocker.write_text(u'not a directory')
    callback._plugin_options['output_dir'] = str(blocker / 'out')
    warnings = []
    monkeypatch.setattr(callback._display, 'warning', warnings.append)
    callback.v2_playbook_on_stats(None)
    assert len(warnings) == 1 and 'could not write the drift report to %s' % (blocker / 'out') in warnings[0]


def test_task_check_mode_and_the_drift_playbooks_verdict(callback, tmp_path, monkeypatch):
    """cni.node.drift runs the profile with check_mode: true (no --check) and fails on purpose at the end."""
    from ansible import context

    monkeypatch.setattr(context, 'CLIARGS', {'check': False})
    vxlan = FakeTask('VXLAN', 'cni.node.cni_vxlan', 'cni.node.cni_vxlan')
    vxlan.check_mode = True
    verdict = FakeTask('Fail when anything drifted', 'ansible.builtin.fail', 'ansible.builtin.fail')
    verdict.tags = ['cni_node_drift_verdict']
    callback.v2_runner_on_ok(FakeResult('n1', vxlan, dict(changed=True, drift=[
        dict(path='vxlan/vxlan0/mtu', before=1400, after=1450)])))
    callback.v2_runner_on_failed(FakeResult('n1', verdict, dict(failed=True, msg='Drift on n1')))
    callback.v2_playbook_on_stats(None)
    with open(str(tmp_path / 'out' / 'drift.json')) as f:
        data = json.load(f)
    assert data['check_mode'] is True and data['drifted'] is True
    assert data['failed'] == {}
