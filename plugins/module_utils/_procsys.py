# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel parameters through /proc/sys, directly: no sysctl(8) subprocess.

Keys use sysctl's dotted form. As in sysctl.d(5), a dot inside one path
component (an interface name such as ``eth0.100``) is written as a slash:
``net.ipv4.conf.eth0/100.rp_filter``; a key whose first separator is a slash
is a path already (``net/ipv4/conf/eth0.100/rp_filter``). ``canonical_key``
turns both spellings into the dotted one.

Reads and writes happen in the network namespace of the calling thread:
wrap them in ``_netns.entered(netns)`` to act inside a namespace.
Pure Python: no Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re

from ansible_collections.cni.node.plugins.module_utils._errors import (
    KernelRefused,
    ParameterError,
    PermissionDenied,
)

PROC_SYS = '/proc/sys'
_KEY_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.:/@+-]*\Z')


def canonical_key(key):
    """Dotted form of a key given in dotted or slashed form; raises ParameterError."""
    if not isinstance(key, str) or not key.strip():
        raise ParameterError("params: a key must be a non-empty string, got %r" % (key,), param='params')
    key = key.strip()
    if not _KEY_RE.match(key) or '..' in key or '//' in key or key.endswith(('.', '/')):
        raise ParameterError(
            "params: %r is not a sysctl key (expected e.g. net.ipv4.ip_forward)" % (key,), param='params')
    first = re.search(r'[./]', key)
    if first is None:
        raise ParameterError(
            "params: %r is not a sysctl key (expected a dotted name such as net.ipv4.ip_forward)" % (key,),
            param='params')
    if first.group(0) == '/':
        parts = key.split('/')
    else:
        parts = [p.replace('/', '.') for p in key.split('.')]
    if any(p in ('', '.', '..') for p in parts):
        raise ParameterError(
            "params: %r is not a sysctl key (a component is empty, '.' or '..')" % (key,), param='params')
    return '.'.join(p.replace('.', '/') for p in parts)


def key_path(key, root=PROC_SYS):
    """/proc/sys path of a canonical (dotted) key."""
    parts = [p.replace('/', '.') for p in key.split('.')]
    return os.path.join(root, *parts)


class ProcSys(object):
    """Read and write /proc/sys (or another root, for tests of pure logic)."""

    def __init__(self, root=PROC_SYS):
        self.root = root

    def exists(self, key):
        return os.path.isfile(key_path(key, self.root))

    def writable(self, key):
        return os.access(key_path(key, self.root), os.W_OK)

    def read(self, key):
        """Current value with whitespace collapsed; None when the key does not exist."""
        path = key_path(key, self.root)
        try:
            with open(path, 'rb') as f:
                raw = f.read()
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EINVAL, errno.EIO):
                raise KernelRefused(
                    "params.%s: cannot be read (%s): a write-only key cannot be managed declaratively"
                    % (key, os.strerror(exc.errno)), param='params', key=key)
            raise
        return ' '.join(raw.decode('utf-8', 'replace').split())

    def write(self, key, value):
        """Write a value; raises KernelRefused naming the key when the kernel says no."""
        path = key_path(key, self.root)
        try:
            fd = os.open(path, os.O_WRONLY)
        except (IOError, OSError) as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise PermissionDenied(
                    "params.%s: read-only here (%s)" % (key, os.strerror(exc.errno)), param='params', key=key)
            raise
        try:
            os.write(fd, (value + '\n').encode('utf-8'))
        except (IOError, OSError) as exc:
            raise KernelRefused(
                "params.%s: the kernel refused %r (%s)" % (key, value, os.strerror(exc.errno)),
                param='params', key=key)
        finally:
            os.close(fd)
