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
import errno
import fcntl
import os
import stat

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
        # The running interpreter's own symbols include libc's setns; no library search
        # (ctypes.util.find_library would run ldconfig in a subprocess).
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def netns_path(netns):
    """Path of a namespace given by name (under /run/netns) or by absolute path."""
    if '/' in netns:
        if not os.path.isabs(netns):
            raise NamespaceNotFound(
                "netns %r: a path must be absolute (e.g. /proc/1234/ns/net), or give a name under %s"
                % (netns, NETNS_RUN_DIR), param='netns')
        return netns
    if netns in ('', '.', '..'):
        raise NamespaceNotFound(
            "netns %r is not a namespace name: give a name under %s or an absolute path" % (netns, NETNS_RUN_DIR),
            param='netns')
    return os.path.join(NETNS_RUN_DIR, netns)


def open_netns(netns):
    """An open file descriptor of an existing network namespace; raises NamespaceNotFound.

    A name refers to /run/netns/NAME (what ``ip netns`` lists); a value with
    a slash is an absolute path (e.g. /proc/1234/ns/net). Nothing is
    created, and nothing but a namespace file is opened: a FIFO or a device
    at that path is refused before it is opened. The caller closes the fd.
    """
    path = netns_path(netns)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NamespaceNotFound(
                "network namespace %r does not exist (%s); create it first, e.g. with cni.node.cni_netns"
                % (netns, path), param='netns')
        raise NamespaceNotFound("netns %r: cannot access %s (%s)" % (netns, path, os.strerror(exc.errno)),
                                param='netns')
    if not stat.S_ISREG(st.st_mode):
        raise NamespaceNotFound("netns %r: %s is not a network namespace file" % (netns, path), param='netns')
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise NamespaceNotFound("netns %r: cannot open %s (%s)" % (netns, path, os.strerror(exc.errno)),
                                param='netns')
    if not _is_netns_fd(fd):
        os.close(fd)
        # A stale /run/netns entry whose bind mount is gone is a plain file.
        raise NamespaceNotFound("netns %r: %s is not a network namespace file" % (netns, path), param='netns')
    return fd


def resolve(netns):
    """Path of an existing network namespace, checked; raises NamespaceNotFound."""
    os.close(open_netns(netns))
    return netns_path(netns)


def _is_netns_fd(fd):
    """True when fd is a namespace file of a network namespace."""
    # NS_GET_NSTYPE (Linux 4.11+) names the kind of namespace.
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET
    except (IOError, OSError):
        return False


def _same_ns(fd_a, fd_b):
    a, b = os.fstat(fd_a), os.fstat(fd_b)
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
    """Run the block with the calling thread inside ``netns`` (None: stay).

    The thread returns to its own namespace when the block ends, also when
    it raises. setns(2) moves only the calling thread: cni.node modules are
    single-threaded, and nothing in the block may start threads.
    """
    if netns is None:
        yield None
        return
    target = open_netns(netns)
    try:
        home = os.open('/proc/thread-self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _same_ns(target, home):
                yield netns_path(netns)
                return
            _setns(target)
            try:
                yield netns_path(netns)
            finally:
                _setns(home)
        finally:
            os.close(home)
    finally:
        os.close(target)
