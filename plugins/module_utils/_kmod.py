# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel modules: is one loaded, is it built in, load it.

Reading state goes through /proc and /lib/modules; loading needs modprobe
(it resolves dependencies and options), run by a callable the module passes
in, so this file stays free of Ansible. Pure Python otherwise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.cni.node.plugins.module_utils._errors import KernelRefused


class KernelModules(object):
    """State of kernel modules on this node."""

    def __init__(self, runner=None, proc_modules='/proc/modules', sys_module='/sys/module',
                 lib_modules='/lib/modules', release=None):
        self.runner = runner
        self.proc_modules = proc_modules
        self.sys_module = sys_module
        self.lib_modules = lib_modules
        self.release = release or os.uname()[2]
        self._builtin = None

    @property
    def modular(self):
        """False on a kernel without module support: everything is built in."""
        return os.path.exists(self.proc_modules)

    def builtin(self, name):
        """True when the module is compiled into the kernel (or the kernel is not modular)."""
        if not self.modular:
            return True
        if self._builtin is None:
            self._builtin = set()
            path = os.path.join(self.lib_modules, self.release, 'modules.builtin')
            try:
                with open(path) as f:
                    for line in f:
                        base = os.path.basename(line.strip())
                        if base.endswith('.ko'):
                            self._builtin.add(base[:-3].replace('-', '_'))
            except (IOError, OSError):
                pass
        return name.replace('-', '_') in self._builtin

    def loaded(self, name):
        """True when the module is loaded or built in."""
        name = name.replace('-', '_')
        if self.builtin(name):
            return True
        try:
            with open(self.proc_modules) as f:
                return any(line.split(' ', 1)[0] == name for line in f)
        except (IOError, OSError):
            return os.path.isdir(os.path.join(self.sys_module, name))

    def load_problem(self, name):
        """Why ``name`` cannot be loaded (modprobe --dry-run), or None when it can."""
        if self.runner is None:
            return 'no way to run modprobe'
        try:
            rc, out, err = self.runner(['modprobe', '--dry-run', '--quiet', '--', name])
        except (IOError, OSError) as exc:
            return 'modprobe: %s' % exc
        if rc != 0:
            return 'modprobe --dry-run %s failed (rc=%s): %s' % (name, rc, (err or out).strip() or 'no output')
        return None

    def load(self, name):
        """Load a module with modprobe; raises KernelRefused with modprobe's words."""
        if self.runner is None:
            raise KernelRefused("load_modules: cannot load %s: no way to run modprobe" % name,
                                param='load_modules')
        rc, out, err = self.runner(['modprobe', '--', name])
        if rc != 0:
            raise KernelRefused(
                "load_modules: modprobe %s failed (rc=%s): %s" % (name, rc, (err or out).strip()),
                param='load_modules', module=name)
