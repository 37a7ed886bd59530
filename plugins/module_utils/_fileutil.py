# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files written atomically, with the right owner and mode.

A reader of a managed file sees the old content or the new one, never a
half-written file: the content goes to a temporary file in the same
directory, is flushed to disk, gets its mode and owner, and is renamed over
the target. Pure Python: no Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import grp
import os
import pwd
import stat
import tempfile

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError


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

    def prepare(self):
        try:
            st = os.stat(self.path)
            self._old_meta = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        except OSError:
            self._old_meta = None
        if self.after is not None:
            self.tmp = _write_temp(self.path, self.after, self.mode, self.uid, self.gid)

    def commit(self):
        if self.after is None:
            remove(self.path)
        else:
            os.rename(self.tmp, self.path)
            self.tmp = None
            _fsync_dir(os.path.dirname(os.path.abspath(self.path)))
        self.committed = True

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
    if not isinstance(data, bytes):
        data = data.encode('utf-8', 'surrogateescape')
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if uid != -1 or gid != -1:
            os.chown(tmp, uid, gid)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


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
