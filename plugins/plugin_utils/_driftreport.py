# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift report: aggregation and the three renderings. Pure Python: no Ansible.

Controller side only: the ``cni.node.drift_report`` callback uses it on the
machine that runs ``ansible-playbook``; no module ships it to a node, which
is why it lives in plugin_utils, not module_utils.

The ``cni.node.drift_report`` callback feeds every task result into a
``DriftReport`` (host, task name, resolved module name, result); results
without a ``drift`` list are ignored, failures and unreachable hosts are
recorded separately. At playbook end ``DriftReport.data`` builds one plain
dictionary, and from it come:

- ``render_json``: ``drift.json``, the whole report;
- ``render_markdown``: ``drift.md``, a summary a person reads at a glance;
- ``render_prometheus``: ``drift.prom``, a node_exporter textfile with one
  ``cni_node_drift`` gauge per host and area.

Results of ``cni_doctor`` (a ``findings`` list from a run with checks) are
kept per host too (the last one wins): ``data`` has them under ``findings``
and ``totals.findings``; the textfile gains ``cni_node_doctor_findings``
(per host and severity), ``cni_node_doctor_finding`` (one series per
finding, value 1) and ``cni_node_doctor_healthy``; the Markdown a section.

``write_report`` writes the three files atomically (temporary file in the
same directory, then rename), so a reader such as node_exporter's textfile
collector never sees a half-written file.

A drift item's area is the first segment of its path (``<area>/<object>...``).
A host's gauges cover the areas its drift items name plus the areas its
cni.node modules check (``MODULE_AREAS``), so a clean host shows 0 instead of
no series at all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible_collections.cni.node.plugins.module_utils._fileutil import atomic_write

REPORT_VERSION = 1
FILES = ('drift.json', 'drift.md', 'drift.prom')

# The areas each cni.node module checks on every run (the first segment of
# the paths it reports): a host that ran the module and reported nothing in
# such an area is clean there (gauge 0).
MODULE_AREAS = {
    'cni_sysctl': ('sysctl',),
    'cni_network': ('config', 'file'),
    'cni_plugin': ('binary',),
    'cni_bridge': ('link',),
    'cni_vxlan': ('vxlan',),
    'cni_netns': ('netns',),
    'cni_ipam_pool': ('member', 'pool'),
    'cni_attachment': ('attachment',),
    'cni_gc': ('attachment', 'lease'),
}
COLLECTION_PREFIX = 'cni.node.'
SEVERITIES = ('error', 'warning', 'info')
FINDING_KEYS = ('check', 'severity', 'subject', 'evidence', 'fix')

# Longest value shown in a Markdown table cell; drift.json has every value whole.
MD_CELL_MAX = 80


def area_of(path):
    """``sysctl/net.ipv4.ip_forward`` -> ``sysctl``."""
    return path.split('/', 1)[0]


def module_areas(module):
    """Areas a module checks: ``cni.node.cni_network`` -> ('config', 'file')."""
    if module and module.startswith(COLLECTION_PREFIX):
        module = module[len(COLLECTION_PREFIX):]
    return MODULE_AREAS.get(module, ())


def plain(value):
    """A JSON-safe copy of a result value: dicts, lists, str, numbers, bool, None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, dict):
        return dict((str(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return u'%s' % (value,)


class DriftReport(object):
    """Drift items of all task results, by host; failures kept apart."""

    def __init__(self):
        self._items = {}      # host -> [item]
        self._areas = {}      # host -> set of areas checked
        self._failed = {}     # host -> [failure]
        self._findings = {}   # host -> [finding] of its last cni_doctor run with checks
        self.playbooks = []

    def add_findings(self, host, result):
        """Keep the findings of a cni_doctor result (a run with no checks, only for its VTEPs, is ignored)."""
        if not isinstance(result, dict) or not isinstance(result.get('findings'), list) or not result.get('checks'):
            return False
        self._findings[host] = [dict((k, plain(f.get(k))) for k in FINDING_KEYS)
                                for f in result['findings'] if isinstance(f, dict)]
        return True

    def add_result(self, host, task, module, result):
        """Record the drift of one result (one loop item counts as one result).

        Returns False for a result without a ``drift`` list (not a cni.node
        module, a skipped item, a censored no_log result).
        """
        if not isinstance(result, dict) or not isinstance(result.get('drift'), list):
            return False
        if module and module.split('.')[-1] == 'cni_doctor':
            self.add_findings(host, result)
        items = self._items.setdefault(host, [])
        areas = self._areas.setdefault(host, set())
        areas.update(module_areas(module))
        for entry in result['drift']:
            if not isinstance(entry, dict) or 'path' not in entry:
                continue
            path = u'%s' % (entry['path'],)
            area = area_of(path)
            areas.add(area)
            items.append(dict(task=task, module=module, path=path, area=area,
                              before=plain(entry.get('before')), after=plain(entry.get('after'))))
        return True

    def add_failure(self, host, task, module, msg, unreachable=False):
        """A task that failed (not ignored) or a host that was unreachable."""
        self._failed.setdefault(host, []).append(dict(
            task=task, module=module, msg=plain(msg) if msg is not None else None, unreachable=bool(unreachable)))

    def data(self, timestamp=None, check_mode=False):
        """The whole report as one plain dictionary (the content of drift.json)."""
        if timestamp is None:
            timestamp = time.time()
        hosts = dict((h, list(items)) for h, items in self._items.items())
        host_areas = {}
        areas = {}
        for host in hosts:
            counts = dict((a, 0) for a in self._areas.get(host, ()))
            for item in hosts[host]:
                counts[item['area']] = counts.get(item['area'], 0) + 1
            host_areas[host] = counts
            for area, n in counts.items():
                areas[area] = areas.get(area, 0) + n
        total = sum(len(items) for items in hosts.values())
        out = dict(
            version=REPORT_VERSION,
            timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(timestamp)),
            timestamp_seconds=timestamp,
            check_mode=bool(check_mode),
            playbooks=list(self.playbooks),
            drifted=total > 0,
            hosts=hosts,
            failed=dict((h, list(f)) for h, f in self._failed.items()),
            totals=dict(
                drift=total,
                hosts=dict((h, len(items)) for h, items in hosts.items()),
                areas=areas,
                host_areas=host_areas,
            ),
        )
        if self._findings:   # only when cni_doctor ran: the report of a drift run without it is unchanged
            out['findings'] = dict((h, list(found)) for h, found in self._findings.items())
            out['totals']['findings'] = dict(
                (h, dict((sev, sum(1 for f in found if f['severity'] == sev)) for sev in SEVERITIES))
                for h, found in self._findings.items())
        return out


def render_json(data):
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + '\n'


# Markdown

def _md_value(value):
    if value is None:
        return u'\u2014'
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = u' '.join(text.split()) if text.strip() else json.dumps(text)
    if len(text) > MD_CELL_MAX:
        text = text[:MD_CELL_MAX - 1] + u'\u2026'
    return _md_code(text)


def _md_code(text):
    """A code span for a table cell: pipes escaped, backticks fenced."""
    text = text.replace('|', '\\|')
    if '`' in text:
        return u'`` %s ``' % text
    return u'`%s`' % text


def _md_text(text):
    """Plain text for a table cell or a list item: one line, pipes escaped."""
    return u' '.join((u'%s' % (text,)).split()).replace('|', '\\|')


def _plural(n, word):
    return u'%d %s%s' % (n, word, '' if n == 1 else 's')


def _area_summary(counts):
    drifted = [(a, n) for a, n in sorted(counts.items()) if n]
    if not drifted:
        return u'clean'
    return u', '.join(u'%s %d' % (_md_text(a), n) for a, n in drifted)


def render_markdown(data):
    hosts = data['hosts']
    failed = data['failed']
    totals = data['totals']
    names = sorted(set(hosts) | set(failed))
    drifted_hosts = [h for h in hosts if hosts[h]]
    lines = [u'# cni.node drift report', u'']
    lines.append(u'- Finished: %s' % data['timestamp'])
    if data['check_mode']:
        lines.append(u'- Mode: check (nothing was changed; the values below differ from the desired state)')
    else:
        lines.append(u'- Mode: apply (the values below differed and were corrected)')
    if data['playbooks']:
        lines.append(u'- Playbook: %s' % u', '.join(_md_text(p) for p in data['playbooks']))
    if data['drifted']:
        lines.append(u'- Result: **drift on %d of %s**, %s' % (
            len(drifted_hosts), _plural(len(hosts), 'host'), _plural(totals['drift'], 'value')))
    else:
        lines.append(u'- Result: **no drift** on %s' % _plural(len(hosts), 'host'))
    if failed:
        lines.append(u'- Failed or unreachable: **%s**' % u', '.join(_md_text(h) for h in sorted(failed)))
    lines.append(u'')
    if not names:
        lines.append(u'No cni.node module reported on any host.')
        return u'\n'.join(lines) + u'\n'

    lines += [u'| Host | Drifted values | By area | Failed |', u'|---|---:|---|---|']
    for host in names:
        if host in hosts:
            count = u'%d' % totals['hosts'][host]
            by_area = _area_summary(totals['host_areas'][host])
        else:
            count, by_area = u'\u2014', u'not checked'
        status = u''
        if host in failed:
            status = u'unreachable' if any(f['unreachable'] for f in failed[host]) else u'failed'
        lines.append(u'| %s | %s | %s | %s |' % (_md_text(host), count, by_area, status))

    for host in names:
        lines += [u'']
        items = hosts.get(host)
        if items:
            lines.append(u'## %s: %s' % (_md_text(host), _plural(len(items), 'drifted value')))
        elif items is not None:
            lines.append(u'## %s: no drift' % _md_text(host))
        else:
            lines.append(u'## %s: not checked' % _md_text(host))
        if items is not None:
            lines += [u'', u'| Area | Drifted |', u'|---|---:|']
            for area, n in sorted(totals['host_areas'][host].items()):
                lines.append(u'| %s | %d |' % (_md_text(area), n))
        if items:
            lines += [u'', u'| Path | Before | After | Task |', u'|---|---|---|---|']
            for item in items:
                lines.append(u'| %s | %s | %s | %s |' % (
                    _md_code(u' '.join(item['path'].split())), _md_value(item['before']), _md_value(item['after']),
                    _md_text(item['task'])))
        if host in failed:
            lines.append(u'')
            for f in failed[host]:
                what = u'unreachable' if f['unreachable'] else u'failed'
                lines.append(u'- %s in task "%s": %s' % (what, _md_text(f['task']), _md_text(f['msg'] or '')))
    lines += _markdown_findings(data.get('findings') or {})
    return u'\n'.join(lines) + u'\n'


def _markdown_findings(findings):
    if not findings:
        return []
    lines = [u'', u'## Doctor findings', u'', u'| Host | Check | Severity | Subject | Evidence | Fix |',
             u'|---|---|---|---|---|---|']
    for host in sorted(findings):
        if not findings[host]:
            lines.append(u'| %s | \u2014 | healthy | | | |' % _md_text(host))
        for f in findings[host]:
            lines.append(u'| %s | %s | %s | %s | %s | %s |' % tuple(
                [_md_text(host)] + [_md_value(f[k]) if k in ('evidence', 'fix') else _md_text(f[k] or '')
                                    for k in FINDING_KEYS]))
    return lines


# Prometheus textfile (text exposition format 0.0.4)

def prom_label(value):
    """A label value: backslash, double quote and newline escaped."""
    return (u'%s' % (value,)).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _prom_number(value):
    if isinstance(value, bool):
        return u'1' if value else u'0'
    if isinstance(value, int):
        return u'%d' % value
    return repr(float(value))


def render_prometheus(data):
    hosts = data['hosts']
    failed = data['failed']
    host_areas = data['totals']['host_areas']
    lines = [
        u'# HELP cni_node_drift Values that differ from the desired state in the last run, per host and area.',
        u'# TYPE cni_node_drift gauge',
    ]
    for host in sorted(hosts):
        for area, n in sorted(host_areas[host].items()):
            lines.append(u'cni_node_drift{host="%s",area="%s"} %d' % (prom_label(host), prom_label(area), n))
    lines += [
        u'# HELP cni_node_drift_failed Whether a task failed or the host was unreachable in the last run (1) '
        u'or not (0).',
        u'# TYPE cni_node_drift_failed gauge',
    ]
    for host in sorted(set(hosts) | set(failed)):
        lines.append(u'cni_node_drift_failed{host="%s"} %d' % (prom_label(host), 1 if host in failed else 0))
    lines += [
        u'# HELP cni_node_drift_check_mode Whether the last run was in check mode (1: drift found, '
        u'not corrected) or not (0: drift corrected).',
        u'# TYPE cni_node_drift_check_mode gauge',
        u'cni_node_drift_check_mode %s' % _prom_number(data['check_mode']),
        u'# HELP cni_node_drift_last_run_timestamp_seconds Unix time at which the last drift run finished.',
        u'# TYPE cni_node_drift_last_run_timestamp_seconds gauge',
        u'cni_node_drift_last_run_timestamp_seconds %s' % _prom_number(data['timestamp_seconds']),
    ]
    lines += _prometheus_findings(data.get('findings') or {})
    return u'\n'.join(lines) + u'\n'


def _prometheus_findings(findings):
    if not findings:
        return []
    lines = [u'# HELP cni_node_doctor_findings Findings of cni_doctor in the last run, per host and severity.',
             u'# TYPE cni_node_doctor_findings gauge']
    for host in sorted(findings):
        for sev in SEVERITIES:
            lines.append(u'cni_node_doctor_findings{host="%s",severity="%s"} %d' % (
                prom_label(host), sev, sum(1 for f in findings[host] if f['severity'] == sev)))
    lines += [u'# HELP cni_node_doctor_finding One series per finding of cni_doctor in the last run (value 1).',
              u'# TYPE cni_node_doctor_finding gauge']
    seen = set()
    for host in sorted(findings):
        for f in findings[host]:
            labels = u'host="%s",check="%s",severity="%s",subject="%s"' % (
                prom_label(host), prom_label(f['check']), prom_label(f['severity']), prom_label(f['subject']))
            if labels not in seen:   # a series appears once
                seen.add(labels)
                lines.append(u'cni_node_doctor_finding{%s} 1' % labels)
    lines += [u'# HELP cni_node_doctor_healthy Whether cni_doctor found no error on the host in the last run (1).',
              u'# TYPE cni_node_doctor_healthy gauge']
    for host in sorted(findings):
        lines.append(u'cni_node_doctor_healthy{host="%s"} %d' % (
            prom_label(host), 0 if any(f['severity'] == 'error' for f in findings[host]) else 1))
    return lines


def write_report(directory, data):
    """Write drift.json, drift.md and drift.prom into ``directory`` (created when missing).

    Each file is replaced atomically. Returns the paths written.
    """
    if not os.path.isdir(directory):
        os.makedirs(directory)
    written = []
    for name, render in zip(FILES, (render_json, render_markdown, render_prometheus)):
        path = os.path.join(directory, name)
        atomic_write(path, render(data), mode=0o644)
        written.append(path)
    return written
