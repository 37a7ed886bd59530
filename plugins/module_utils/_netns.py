# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network namespaces by name or path, without creating one by accident.

``resolve`` turns the ``netns`` module parameter into a path and checks that
it is a network namespace. ``entered`` moves the calling thread into that
namespace for the duration of a ``with`` block (setns(2) through ctypes:
Python 3.11 has no ``os.setns``) and always moves it back. Files under
/proc/sys/net opened inside the block belong to the namespace.

Pure Python: no Ansible, no pyroute2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os

from ansible_collections.cni.node.plugins.module_utils._errors import (
    NamespaceNotFound,
    PermissionDenied,
)

NETNS_RUN_DIR = '/run/netns'
CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703

_libc = None


def _get_libc():
    global _libc  # pylint: disable=global-statement
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
    return _libc


def netns_path(netns):
    """Path of a namespace given by name (under /run/netns) or by path."""
    if '/' in netns:
        return netns
    if netns in ('', '.', '..'):
        raise NamespaceNotFound(
            "netns %r is not a namespace name: give a name under %s or an absolute path" % (netns, NETNS_RUN_DIR),
            param='netns')
    return os.path.join(NETNS_RUN_DIR, netns)


def resolve(netns):
    """Return the path of an existing network namespace or raise NamespaceNotFound.

    A name refers to /run/netns/NAME (what ``ip netns`` lists); a value with
    a slash is taken as a path (e.g. /proc/1234/ns/net). Nothing is created.
    """
    path = netns_path(netns)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
    except OSError as exc:
        raise NamespaceNotFound(
            "network namespace %r does not exist (%s: %s); create it first, e.g. with "
            "cni.node.cni_netns" % (netns, path, os.strerror(exc.errno)),
            param='netns')
    try:
        if not _is_netns_fd(fd):
            raise NamespaceNotFound(
                "netns %r (%s) is not a network namespace file" % (netns, path), param='netns')
    finally:
        os.close(fd)
    return path


def _is_netns_fd(fd):
    """True when fd is a namespace file of a network namespace."""
    # NS_GET_NSTYPE (Linux 4.11+) names the kind of namespace; a stale
    # /run/netns entry whose bind mount is gone is a plain file and fails.
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET
    except (IOError, OSError):
        return False


def same_as_current(path):
    """True when path is the namespace this thread is in already."""
    a = os.stat(path)
    b = os.stat('/proc/thread-self/ns/net')
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _setns(fd):
    if _get_libc().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        if err in (errno.EPERM, errno.EACCES):
            raise PermissionDenied(
                "entering a network namespace needs CAP_SYS_ADMIN (run the task as root / become: true)",
                param='netns')
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def entered(netns):
    """Run the block with the calling thread inside ``netns`` (None: stay)."""
    if netns is None:
        yield None
        return
    path = resolve(netns)
    if same_as_current(path):
        yield path
        return
    home = os.open('/proc/thread-self/ns/net', os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
    try:
        target = os.open(path, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield path
        finally:
            _setns(home)
    finally:
        os.close(home)
