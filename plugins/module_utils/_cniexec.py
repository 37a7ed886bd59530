# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find and run CNI plugin binaries, as a runtime does. Pure Python: no Ansible.

A plugin runs without a shell, with the CNI_* environment variables, its
configuration on stdin and a timeout; it answers JSON on stdout. Used for the
VERSION command (cni_network's ``cni_version: auto`` and ``validate``) and by
the runtime modules for ADD/DEL/CHECK. A plugin that fails a command is a
``CniFailure`` (raised by the runtime's runner, tolerated by cni_gc), with the
CNI error code it gave.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import subprocess
import time

from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError

DEFAULT_TIMEOUT = 10
_SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


class PluginError(CniNodeError):
    """A plugin binary is missing, unsafe, did not answer, or answered with a CNI error."""


class CniFailure(PluginError):
    """A plugin failed a command: its CNI error code (None when it gave none), message and details."""

    def __init__(self, msg, code=None, cni_msg=None, cni_details=None, plugin=None, command=None, param=None):
        super(CniFailure, self).__init__(msg, param=param, cni_code=code, cni_msg=cni_msg, cni_details=cni_details,
                                         plugin=plugin, command=command)
        self.code = code
        self.cni_msg = cni_msg
        self.cni_details = cni_details
        self.plugin = plugin
        self.command = command


def find_plugin(plugin_type, bin_dirs):
    """Path of the first ``bin_dirs`` entry holding a file named ``plugin_type``, or None (like libcni's FindInPath)."""
    for directory in bin_dirs:
        path = os.path.join(directory, plugin_type)
        if os.path.isfile(path):
            return path
    return None


def binary_problems(path):
    """Why a runtime should not run ``path`` (a list of sentences; empty when it is fine).

    The binary (links resolved) must be a regular file, executable, owned by
    root and not writable by group or others, and so must every directory
    from / down to it (owned by root, not writable by group or others unless
    sticky): whoever can replace a plugin binary, or rename a directory on
    its path, runs code as root at the next pod start.
    """
    problems = []
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        return ['cannot be read (%s)' % os.strerror(exc.errno)]
    if not stat.S_ISREG(st.st_mode):
        return ['is not a regular file']
    if not st.st_mode & 0o111:
        problems.append('is not executable (mode %04o)' % stat.S_IMODE(st.st_mode))
    problems.extend(_owner_problems(real if real == os.path.abspath(path) else '%s (-> %s)' % (path, real), st))
    directory = os.path.dirname(real)
    while True:
        try:
            dst = os.stat(directory)
        except OSError as exc:
            problems.append('lies in %s, which cannot be read (%s)' % (directory, os.strerror(exc.errno)))
            break
        if not dst.st_mode & stat.S_ISVTX:
            problems.extend('lies in ' + p for p in _owner_problems(directory, dst))
        elif dst.st_uid != 0:
            problems.append('lies in %s, owned by uid %d, not root' % (directory, dst.st_uid))
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return problems


def _owner_problems(what, st):
    out = []
    if st.st_uid != 0:
        out.append('%s is owned by uid %d, not root' % (what, st.st_uid))
    if st.st_mode & 0o022:
        out.append('%s is writable by %s (mode %04o)' % (
            what, 'group and others' if st.st_mode & 0o022 == 0o022 else 'group' if st.st_mode & 0o020 else 'others',
            stat.S_IMODE(st.st_mode)))
    return out


class Invocation(object):
    """What one plugin run gave: exit code, raw and parsed stdout, stderr, duration in seconds."""

    def __init__(self, path, command, env, stdin, returncode, stdout, stderr, duration):
        self.path = path
        self.command = command
        self.env = env
        self.stdin = stdin
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.duration = duration
        try:
            self.answer = json.loads(stdout) if stdout.strip() else None
        except ValueError:
            self.answer = None


def execute(path, command, stdin, env=None, timeout=DEFAULT_TIMEOUT):
    """Run a plugin with ``stdin`` (bytes) and a minimal environment; an ``Invocation``.

    ``env`` adds CNI_* variables; the plugin never gets the caller's
    environment. A plugin still running after ``timeout`` seconds is killed
    and a ``PluginError`` raised.
    """
    full_env = {'PATH': _SAFE_PATH, 'CNI_COMMAND': command}
    full_env.update(env or {})
    started = time.monotonic()
    try:
        proc = subprocess.run([path], input=stdin, env=full_env, cwd='/', stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise PluginError('%s did not answer %s within %s s (killed)' % (path, command, timeout), plugin=path,
                          timeout=timeout)
    except OSError as exc:
        raise PluginError('cannot run %s: %s' % (path, os.strerror(exc.errno) if exc.errno else exc), plugin=path)
    return Invocation(path, command, full_env, stdin, proc.returncode, proc.stdout.decode('utf-8', 'replace'),
                      proc.stderr.decode('utf-8', 'replace'), time.monotonic() - started)


def run_plugin(path, command, config, env=None, timeout=DEFAULT_TIMEOUT):
    """Run a plugin: (returncode, parsed JSON answer or None, stderr text).

    ``config`` is the object sent on stdin. ``env`` adds CNI_* variables; the
    plugin gets a minimal environment, never the caller's.
    """
    inv = execute(path, command, json.dumps(config).encode('utf-8'), env=env, timeout=timeout)
    return inv.returncode, inv.answer, inv.stderr.strip()


def versions(path, timeout=DEFAULT_TIMEOUT, probe_version='1.1.0'):
    """The spec versions a plugin supports, from its answer to VERSION.

    A plugin that does not know the VERSION command predates spec 0.2.0 and
    supports 0.1.0 only (as libcni concludes).
    """
    rc, answer, err = run_plugin(path, 'VERSION', {'cniVersion': probe_version}, timeout=timeout)
    if rc == 0 and isinstance(answer, dict) and isinstance(answer.get('supportedVersions'), list) \
            and all(isinstance(v, str) for v in answer['supportedVersions']):
        return list(answer['supportedVersions'])
    msg = answer.get('msg') if isinstance(answer, dict) else None
    if rc != 0 and msg and 'unknown CNI_COMMAND' in msg:
        return ['0.1.0']
    raise PluginError('%s is not a CNI plugin answering VERSION (exit code %d): %s'
                      % (path, rc, msg or err[:300] or 'no JSON answer'), plugin=path)
