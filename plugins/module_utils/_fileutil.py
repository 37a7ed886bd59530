# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files written atomically, with the right owner and mode.

A reader of a managed file sees the old content or the new one, never a
half-written file: the content goes to a temporary file in the same
directory, is flushed to disk, gets its mode and owner, and is renamed over
the target. Pure Python: no Ansible.

A temporary file is named ``.<target name>.<8 characters>.tmp`` (what
``tempfile.mkstemp`` makes with that prefix and suffix: no runtime reads
it, systemd-sysctl and libcni read only their own extensions) and is held,
from creation until its rename or removal, by an exclusive ``flock`` on a
read-only descriptor (read-only, so a binary renamed into place can be
executed at once: no "Text file busy"). A run killed in between (SIGKILL,
OOM, a lost node) leaves the temporary behind, unheld: ``clean_temps``,
called by the next run of the module for its own targets, removes exactly
those, never a temporary a live run holds, never another program's file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import grp
import os
import pwd
import re
import stat
import tempfile

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError, doing

# A temporary file of this module: "." + target name + "." + mkstemp's 8 characters + ".tmp".
TEMP_RE = re.compile(r'^\.(.+)\.[a-z0-9_]{8}\.tmp\Z')
_TEMP_ATTEMPTS = 100


@doing('read')
def read_text(path):
    """Content of a text file, or None when it does not exist.

    Bytes that are not UTF-8 survive as surrogate escapes (and are written
    back as the same bytes), so a stray binary file is reported, not a crash.
    """
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'surrogateescape')
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def resolve_owner(owner, group, param_owner='owner', param_group='group'):
    """(uid, gid) for user/group names or numbers; -1 keeps the current one."""
    uid = gid = -1
    if owner is not None:
        try:
            uid = int(owner) if str(owner).isdigit() else pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise ParameterError("%s: no such user %r on the node" % (param_owner, owner), param=param_owner)
    if group is not None:
        try:
            gid = int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise ParameterError("%s: no such group %r on the node" % (param_group, group), param=param_group)
    return uid, gid


class StagedFile(object):
    """A file replacement prepared first and put in place later.

    ``prepare`` writes the new content to a temporary file in the target's
    directory (flushed to disk, with its mode and owner): the step that can
    fail for lack of space or permission. ``commit`` renames it over the
    target (or removes the target when the new content is None), which is
    atomic. ``undo`` puts the old content back after a commit; ``discard``
    drops an uncommitted temporary file.
    """

    def __init__(self, path, before, after, mode=0o644, uid=-1, gid=-1):
        self.path = path
        self.before = before
        self.after = after
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.tmp = None
        self.committed = False
        self._old_meta = None
        self._hold = None   # read-only descriptor holding the temporary's lock

    @doing('write')
    def prepare(self):
        try:
            st = os.stat(self.path)
            self._old_meta = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        except OSError:
            self._old_meta = None
        if self.after is not None:
            self.tmp, self._hold = _write_temp(self.path, self.after, self.mode, self.uid, self.gid)

    @doing('replace')
    def commit(self):
        if self.after is None:
            remove(self.path)
        else:
            os.rename(self.tmp, self.path)
            self.tmp = None
            self._release()
            _fsync_dir(os.path.dirname(os.path.abspath(self.path)))
        self.committed = True

    @doing('restore')
    def undo(self):
        """Put the old content back, with its old mode and owner."""
        if self.committed:
            if self.before is None:
                remove(self.path)
            else:
                mode, uid, gid = self._old_meta or (self.mode, self.uid, self.gid)
                atomic_write(self.path, self.before, mode, uid, gid)
            self.committed = False

    def discard(self):
        if self.tmp is not None:
            _unlink_quietly(self.tmp)
            self.tmp = None
        self._release()

    def _release(self):
        if self._hold is not None:
            os.close(self._hold)   # releases the lock
            self._hold = None


def commit_all(staged, then=None):
    """Commit staged files in order, then call ``then``; on a failure undo the commits and re-raise."""
    done = []
    try:
        for f in staged:
            f.commit()
            done.append(f)
        if then is not None:
            then()
    except BaseException:
        for f in reversed(done):
            try:
                f.undo()
            except (IOError, OSError):
                pass
        raise


def _write_temp(path, data, mode, uid, gid):
    """(temporary path, held descriptor): ``data`` flushed to disk in a held temporary beside ``path``."""
    if not isinstance(data, bytes):
        data = data.encode('utf-8', 'surrogateescape')
    directory = os.path.dirname(os.path.abspath(path))
    for _attempt in range(_TEMP_ATTEMPTS):
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
        try:
            hold = _hold(tmp, fd)
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        if hold is not None:
            break
        os.close(fd)   # a cleaner took it between its creation and the lock: take another name
    else:
        raise OSError(errno.EAGAIN, 'cannot keep a temporary file (removed as soon as created)', path)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
            if uid != -1 or gid != -1:
                os.fchown(f.fileno(), uid, gid)
    except BaseException as exc:
        if isinstance(exc, EnvironmentError) and not exc.filename:
            exc.filename = tmp   # a write on a descriptor names no file: name it for the module edge
        _unlink_quietly(tmp)
        os.close(hold)
        raise
    return tmp, hold


def _hold(tmp, fd):
    """A read-only descriptor of ``tmp`` holding its lock, or None when ``tmp`` is no longer the file ``fd`` is."""
    try:
        hold = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    try:
        fcntl.flock(hold, fcntl.LOCK_EX)   # a cleaner holds it for an instant at most
    except (IOError, OSError) as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL, errno.ENOSYS):
            os.close(hold)
            raise
        # No flock on this filesystem: a cleaner cannot take the lock either, so it never removes it.
    try:
        now = os.stat(tmp)
    except OSError:
        now = None
    mine = os.fstat(fd)
    if now is None or (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
        os.close(hold)
        return None
    return hold


def clean_temps(targets, check_mode=False):
    """Remove the temporary files killed runs left for ``targets`` (paths); the paths removed, sorted.

    Only files of this module's naming (``TEMP_RE``) for one of the targets'
    names, in the targets' directories, that are regular files and that no
    live run holds (their lock can be taken at once). In ``check_mode``
    nothing is removed: the paths a real run would remove are returned. A
    temporary that cannot be removed (no permission) is left, and not listed.
    """
    by_dir = {}
    for target in targets:
        by_dir.setdefault(os.path.dirname(os.path.abspath(target)), set()).add(os.path.basename(target))
    removed = []
    for directory, names in sorted(by_dir.items()):
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            continue
        for entry in entries:
            match = TEMP_RE.match(entry)
            if match and match.group(1) in names and _remove_if_stale(os.path.join(directory, entry), check_mode):
                removed.append(os.path.join(directory, entry))
    return removed


def _remove_if_stale(path, check_mode):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False   # gone, a symbolic link, or not ours to read
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError):
            return False   # a live run holds it
        if check_mode:
            return True
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return False
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def directory_problem(path):
    """Why ``path`` is not and cannot become a directory (a file in the way), or None."""
    if os.path.isdir(path):
        return None
    if os.path.lexists(path):
        return '%s exists and is not a directory' % path
    current = path
    while True:
        parent = os.path.dirname(current)
        if parent == current or os.path.isdir(parent):
            return None
        if os.path.lexists(parent):
            return '%s is not a directory (on the way to %s)' % (parent, path)
        current = parent


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(path, data, mode=0o644, uid=-1, gid=-1):
    """Replace ``path`` with ``data`` (str or bytes) atomically.

    The parent directory must exist: creating directories is a decision for
    the caller, not a side effect.
    """
    staged = StagedFile(path, None, data, mode, uid, gid)
    staged.prepare()
    try:
        staged.commit()
    finally:
        staged.discard()


@doing('remove')
def remove(path):
    """Remove a file; True when it existed."""
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    _fsync_dir(os.path.dirname(os.path.abspath(path)))
    return True


def _fsync_dir(directory):
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
