# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A state file read and replaced under an exclusive lock. Pure Python: no Ansible.

The lock is an ``fcntl.flock`` on a sidecar file, ``<path>.lock``, which is
never replaced or removed: locking the state file itself would not work,
because each write renames a new file over it and a waiting process would
then hold a lock on the old, unlinked file. The lock is held from before
the read until after the atomic rename of the new content, so two runs never
both read the same state and both write their own allocation.

A process that dies (even by SIGKILL) releases the lock with its file
descriptor; the state file is then either the old or the new content, never
a mix (see ``_fileutil.atomic_write``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import time

from ansible_collections.cni.node.plugins.module_utils import _fileutil
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError, StateFileError


class LockedStateFile(object):
    """Context manager: ``with LockedStateFile(path) as f: f.read() ... f.write(text)``.

    ``exclusive=False`` (check mode) takes a shared lock when the lock file
    exists and creates nothing: it only waits for a writer to finish.
    """

    def __init__(self, path, timeout=60.0, exclusive=True, param='path'):
        self.path = path
        self.lock_path = path + '.lock'
        self.timeout = timeout
        self.exclusive = exclusive
        self.param = param
        self._fd = None

    def __enter__(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        problem = _fileutil.directory_problem(directory)
        if problem:
            raise ParameterError('%s: %s' % (self.param, problem), param=self.param)
        if not os.path.isdir(directory):
            raise ParameterError('%s: the directory %s does not exist; create it first (the module does not create '
                                 'directories)' % (self.param, directory), param=self.param)
        if os.path.isdir(self.path):
            raise ParameterError('%s: %s is a directory; give the path of a file' % (self.param, self.path),
                                 param=self.param)
        try:
            if self.exclusive:
                self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            else:
                self._fd = os.open(self.lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ENOENT and not self.exclusive:
                return self   # nobody ever wrote the file: nothing to wait for
            raise StateFileError('%s: cannot open the lock file %s: %s' % (self.param, self.lock_path, exc.strerror),
                                 param=self.param)
        self._lock()
        return self

    def _lock(self):
        how = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(self._fd, how | fcntl.LOCK_NB)
                return
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                os.close(self._fd)
                self._fd = None
                raise StateFileError('%s: another run has held the lock %s for more than %s s; try again later (or '
                                     'raise lock_timeout)' % (self.param, self.lock_path, self.timeout),
                                     param=self.param)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def __exit__(self, *exc_info):
        if self._fd is not None:
            os.close(self._fd)   # releases the lock
            self._fd = None
        return False

    def read(self):
        """The state file's text, or None when it does not exist."""
        try:
            return _fileutil.read_text(self.path)
        except UnicodeDecodeError:
            raise StateFileError('%s: %s is not UTF-8 text; the file was left as it is' % (self.param, self.path),
                                 param=self.param)
        except (IOError, OSError) as exc:
            raise StateFileError('%s: cannot read %s: %s' % (self.param, self.path, exc.strerror), param=self.param)

    def write(self, text):
        """Replace the state file atomically (keeping its mode and owner), or remove it when ``text`` is None."""
        if not self.exclusive or self._fd is None:
            raise RuntimeError('write needs the exclusive lock')
        if text is None:
            _fileutil.remove(self.path)
            return
        mode, uid, gid = 0o644, -1, -1
        try:
            st = os.stat(self.path)
            mode = st.st_mode & 0o7777
            uid = -1 if st.st_uid == os.geteuid() else st.st_uid
            gid = -1 if st.st_gid == os.getegid() else st.st_gid
        except OSError:
            pass
        _fileutil.atomic_write(self.path, text, mode=mode, uid=uid, gid=gid)
