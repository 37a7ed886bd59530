# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The result shape every cni.node module returns.

A ``Changes`` object collects what differs between actual and desired state
while a module plans. From it come, in one shape for every module:

- ``changed``: whether anything differs (check mode: would differ);
- ``drift``: a list of ``{path, before, after}`` items, one per differing
  value, so the drift report can aggregate results of all modules;
- ``diff``: a list of ``{before, after, before_header, after_header}``
  entries that ``--diff`` renders (one per area: kernel state, each file).

Paths read ``<area>/<object>[/<attribute>]``, e.g. ``sysctl/net.ipv4.ip_forward``
or ``link/br0/mtu``. Pure Python: no Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class Changes(object):
    """Collects differences; renders changed, drift and diff."""

    def __init__(self):
        self.drift = []
        self._areas = {}
        self._area_order = []
        self._texts = []

    def _area(self, name):
        if name not in self._areas:
            self._areas[name] = ({}, {})
            self._area_order.append(name)
        return self._areas[name]

    def add(self, path, before, after, area=None):
        """Record one value. Nothing is recorded when before == after."""
        if before == after:
            return False
        self.drift.append(dict(path=path, before=before, after=after))
        b, a = self._area(area or path.split('/', 1)[0])
        key = path.split('/', 1)[1] if '/' in path else path
        b[key] = before
        a[key] = after
        return True

    def add_text(self, header, before, after):
        """Record the before/after text of a file (None = absent) for --diff.

        Text diffs are for display; the caller records the values that
        matter with ``add`` so that drift stays structured.
        """
        if before == after:
            return False
        self._texts.append(dict(
            before=before or '', after=after or '',
            before_header='%s (%s)' % (header, 'absent' if before is None else 'before'),
            after_header='%s (%s)' % (header, 'absent' if after is None else 'after'),
        ))
        return True

    @property
    def changed(self):
        return bool(self.drift) or bool(self._texts)

    def diff(self):
        out = []
        for name in self._area_order:
            before, after = self._areas[name]
            out.append(dict(before=before, after=after, before_header=name, after_header=name))
        out.extend(self._texts)
        return out

    def result(self, diff_mode=True, **extra):
        """Module return values: changed, drift, diff (when diff_mode) and extras."""
        res = dict(changed=self.changed, drift=list(self.drift))
        if diff_mode:
            res['diff'] = self.diff()
        res.update(extra)
        return res
