# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
name: drift_report
type: aggregate
short_description: Writes the drift of all cni.node module results as JSON, Markdown and a Prometheus textfile
version_added: 0.1.0
description:
  - Collects the C(drift) list that every cni.node module returns (one C({path, before, after}) item per
    value that differs from the desired state) from all task results of a playbook run, by host, loop items
    included. Results without a C(drift) list (other modules, skipped tasks, C(no_log) results) are ignored.
    Failed tasks (unless ignored with C(ignore_errors)) and unreachable hosts are recorded separately.
  - At the end of the run it writes three files into O(output_dir), each replaced atomically (temporary file
    in the same directory, then rename).
  - C(drift.json) - per host the list of drift items (C(task), C(module) (the resolved action name),
    C(path), C(area), C(before), C(after)); totals per host, per area and per host and area; the failed and
    unreachable hosts; the time; whether the run was in check mode; and C(drifted), true when any value
    drifted.
  - C(drift.md) - a Markdown summary, per host the number of drifted values per area and a table of path,
    before and after.
  - C(drift.prom) - a Prometheus textfile for the node_exporter textfile collector with the gauges
    C(cni_node_drift{host,area}) (areas a host checked and found clean read 0),
    C(cni_node_drift_failed{host}), C(cni_node_drift_check_mode) and
    C(cni_node_drift_last_run_timestamp_seconds).
  - In check mode the report shows what differs; in a real run it shows what was corrected.
  - The callback does not change the playbook's exit code. A failed task tagged C(cni_node_drift_verdict) (the
    closing verdict of C(cni.node.drift)) is not recorded as a failure of the host.
  - The report counts as a check-mode report when the run had C(--check) or any task ran with C(check_mode=true).
  - Enable it with C(ANSIBLE_CALLBACKS_ENABLED=cni.node.drift_report) or C(callbacks_enabled) in the
    C([defaults]) section of C(ansible.cfg). See C(docs/drift.md) in the collection.
requirements:
  - enabled in the configuration (C(callbacks_enabled)); a playbook cannot enable it
options:
  output_dir:
    description:
      - Directory to write C(drift.json), C(drift.md) and C(drift.prom) into. Created when missing.
      - A relative path is relative to the directory C(ansible-playbook) runs in.
      - The files of the previous run are replaced.
    type: path
    default: ./drift-report
    env:
      - name: CNI_NODE_DRIFT_DIR
    ini:
      - section: cni_node_drift_report
        key: output_dir
'''

import os
import time

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.cni.node.plugins.plugin_utils._driftreport import DriftReport, write_report


VERDICT_TAG = 'cni_node_drift_verdict'


def _parts(result):
    """(host name, task, result dict) of a task result, for ansible-core 2.16 to 2.19+."""
    host = getattr(result, 'host', None)
    if host is None:
        host = result._host
    task = getattr(result, 'task', None)
    if task is None:
        task = result._task
    res = getattr(result, 'result', None)
    if res is None:
        res = result._result
    return host.get_name(), task, res


def _module(task):
    """The resolved action name (FQCN) of a task, or its action as written."""
    try:
        name = task.resolved_action
    except AttributeError:
        name = None
    return name or task.action


class CallbackModule(CallbackBase):
    """Aggregates the drift of all cni.node module results by host and writes the report."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'cni.node.drift_report'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.report = DriftReport()
        self.task_check_mode = False

    # A loop's items are recorded one by one (the resolved action name is
    # reliable there: ansible-core resolves it per item); the loop's closing
    # result then only counts as a failure.

    def _record(self, result, item=False, failed=False, unreachable=False):
        host, task, res = _parts(result)
        # A task in check mode (check_mode: true, as cni.node.drift runs the
        # profile) makes this a check-mode report, as --check does.
        if getattr(task, 'check_mode', False) is True:
            self.task_check_mode = True
        # The drift playbook's verdict (a task tagged cni_node_drift_verdict)
        # fails the run on purpose: it is not a failure of the host.
        if failed and VERDICT_TAG in (getattr(task, 'tags', None) or ()):
            failed = False
        loop = not item and 'results' in res
        module = task.action if loop else _module(task)
        if not loop and not unreachable:
            self.report.add_result(host, task.get_name(), module, res)
        if failed or unreachable:
            self.report.add_failure(host, task.get_name(), module, res.get('msg'), unreachable=unreachable)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=not ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_runner_item_on_ok(self, result):
        self._record(result, item=True)

    def v2_runner_item_on_failed(self, result):
        self._record(result, item=True)

    def v2_playbook_on_start(self, playbook):
        name = getattr(playbook, '_file_name', None)
        if name:
            self.report.playbooks.append(os.path.basename(name))

    def v2_playbook_on_stats(self, stats):
        data = self.report.data(timestamp=time.time(),
                                check_mode=bool(context.CLIARGS.get('check', False)) or self.task_check_mode)
        directory = self.get_option('output_dir')
        try:
            paths = write_report(directory, data)
        except (IOError, OSError) as exc:
            self._display.warning('cni.node.drift_report: could not write the drift report to %s: %s'
                                  % (directory, exc))
            return
        self._display.v('cni.node.drift_report: %s (%s)' % (
            'drift on %d host(s)' % sum(1 for items in data['hosts'].values() if items) if data['drifted']
            else 'no drift', ', '.join(paths)))
