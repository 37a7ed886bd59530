# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network namespaces by name or path, without creating one by accident.

``resolve`` turns the ``netns`` module parameter into a path and checks that
it is a network namespace. ``entered`` moves the calling thread into that
namespace for the duration of a ``with`` block (setns(2) through ctypes:
Python 3.11 has no ``os.setns``) and always moves it back. Files under
/proc/sys/net opened inside the block belong to the namespace.

``status``, ``create`` and ``remove`` manage named namespaces exactly the
way iproute2's ``ip netns add``/``del`` do (a bind mount of a namespace file
onto /run/netns/NAME, /run/netns itself a shared mount point), with
unshare(2), mount(2) and umount2(2) through ctypes: no command is run.

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
import threading

from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    NamespaceNotFound,
    ObjectExists,
    PermissionDenied,
)
from ansible_collections.cni.node.plugins.module_utils._params import netns_fault

NETNS_RUN_DIR = '/run/netns'
CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 0x100000
MNT_DETACH = 0x2

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
    fault = netns_fault(netns)
    if fault == 'relative':
        raise NamespaceNotFound(
            "netns %r: a path must be absolute (e.g. /proc/1234/ns/net), or give a name under %s"
            % (netns, NETNS_RUN_DIR), param='netns')
    if fault == 'name':
        raise NamespaceNotFound(
            "netns %r is not a namespace name: give a name under %s or an absolute path" % (netns, NETNS_RUN_DIR),
            param='netns')
    if fault == 'nul':
        raise NamespaceNotFound('netns %r: must not contain a NUL byte' % (netns,), param='netns')
    return netns if '/' in netns else os.path.join(NETNS_RUN_DIR, netns)


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


def same(netns_a, netns_b):
    """True when two existing namespaces (names or paths) are one and the same."""
    fd_a = open_netns(netns_a)
    try:
        fd_b = open_netns(netns_b)
        try:
            return _same_ns(fd_a, fd_b)
        finally:
            os.close(fd_b)
    finally:
        os.close(fd_a)


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


# Named namespaces: what ``ip netns add`` / ``ip netns del`` do, without the command.

ABSENT = 'absent'
PRESENT = 'present'
STALE = 'stale'


def status(name):
    """'present' (a network namespace is bound there), 'absent', or 'stale'.

    'stale' is the empty placeholder file of a bind mount that is gone (a
    failed ``ip netns add``, or an unmount without the unlink). Anything
    else at that path (a directory, another kind of namespace) raises
    NamespaceNotFound naming ``name``.
    """
    path = netns_path(name)
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return ABSENT
        raise NamespaceNotFound('name: cannot access %s (%s)' % (path, os.strerror(exc.errno)), param='name')
    if not stat.S_ISREG(st.st_mode):
        raise NamespaceNotFound('name: %s exists and is not a namespace file; it is left alone' % path,
                                param='name')
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise NamespaceNotFound('name: cannot open %s (%s)' % (path, os.strerror(exc.errno)), param='name')
    try:
        if _is_netns_fd(fd):
            return PRESENT
        if _is_nsfs(fd):
            raise NamespaceNotFound('name: %s is bound to another kind of namespace, not a network namespace; '
                                    'it is left alone' % path, param='name')
        if os.fstat(fd).st_size:
            raise NamespaceNotFound('name: %s is a regular file with content, not a namespace; it is left alone'
                                    % path, param='name')
    finally:
        os.close(fd)
    return STALE


def _is_nsfs(fd):
    """True when fd is any namespace file (nsfs), of whatever kind."""
    try:
        fcntl.ioctl(fd, NS_GET_NSTYPE)
    except (IOError, OSError):
        return False
    return True


def _syscall_error(err, what, param='name'):
    text = '%s: %s (errno %d)' % (what, os.strerror(err), err)
    if err in (errno.EPERM, errno.EACCES):
        return PermissionDenied(text + ': needs CAP_SYS_ADMIN (run the task as root / become: true)',
                                param=param, errno=err)
    if err == errno.EEXIST:
        return ObjectExists(text, param=param, errno=err)
    return KernelRefused(text, param=param, errno=err)


def _mount(source, target, flags):
    libc = _get_libc()
    res = libc.mount(source.encode() if source is not None else b'', target.encode(), b'none',
                     ctypes.c_ulong(flags), None)
    return 0 if res == 0 else ctypes.get_errno()


def _shared_run_dir():
    """Make /run/netns a shared mount point, as iproute2 does (bind it onto itself first if needed)."""
    try:
        os.mkdir(NETNS_RUN_DIR, 0o755)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise _syscall_error(exc.errno, 'creating %s' % NETNS_RUN_DIR)
    made_mount_point = False
    while True:
        err = _mount(None, NETNS_RUN_DIR, MS_SHARED | MS_REC)
        if err == 0:
            return
        if err != errno.EINVAL or made_mount_point:
            raise _syscall_error(err, 'mount --make-shared %s' % NETNS_RUN_DIR)
        # Not a mount point yet: make it one by binding it onto itself.
        err = _mount(NETNS_RUN_DIR, NETNS_RUN_DIR, MS_BIND | MS_REC)
        if err:
            raise _syscall_error(err, 'mount --bind %s %s' % (NETNS_RUN_DIR, NETNS_RUN_DIR))
        made_mount_point = True


def _bind_new_netns(path, outcome):
    """Thread body: a new network namespace for this thread only, bound onto ``path``.

    unshare(CLONE_NEWNET) moves just the calling thread; the thread ends
    right after, so no other code ever runs inside the new namespace.
    """
    libc = _get_libc()
    if libc.unshare(CLONE_NEWNET) != 0:
        outcome.append(('unshare(CLONE_NEWNET)', ctypes.get_errno()))
        return
    err = _mount('/proc/thread-self/ns/net', path, MS_BIND)
    if err:
        outcome.append(('mount --bind /proc/thread-self/ns/net %s' % path, err))
        return
    outcome.append(None)


def create(name):
    """Create the named network namespace /run/netns/NAME; raises ObjectExists when the file exists."""
    path = netns_path(name)
    if '/' in name:
        raise NamespaceNotFound('name %r: a namespace to create needs a plain name, not a path' % name, param='name')
    _shared_run_dir()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0)
    except OSError as exc:
        raise _syscall_error(exc.errno, 'creating the namespace file %s' % path)
    os.close(fd)
    outcome = []
    worker = threading.Thread(target=_bind_new_netns, args=(path, outcome), name='cni-node-netns')
    try:
        worker.start()
        worker.join()
        if not outcome:
            raise CniNodeError('creating network namespace %r: the worker thread ended without a result' % name,
                               param='name')
        if outcome[0] is not None:
            raise _syscall_error(outcome[0][1], 'creating network namespace %r: %s' % (name, outcome[0][0]))
    except BaseException:
        _unlink(path)
        raise
    return path


def _unlink(path):
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise _syscall_error(exc.errno, 'removing %s' % path)


def remove(name):
    """Remove the named namespace: lazy unmount (MNT_DETACH) and unlink, as ``ip netns del`` does.

    Already gone is fine. The namespace itself ends when its last user
    (process, socket, open file) is gone; its links go with it.
    """
    path = netns_path(name)
    if _get_libc().umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        # EINVAL: not a mount point (a stale file); ENOENT: nothing there.
        if err not in (errno.EINVAL, errno.ENOENT):
            raise _syscall_error(err, 'umount %s' % path)
    _unlink(path)
