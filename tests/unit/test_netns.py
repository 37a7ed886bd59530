# -*- coding: utf-8 -*-
"""Network namespaces by name or path: the parts that need no root (paths, what a file is, errors).

``/run/netns`` is a temporary directory here (``NETNS_RUN_DIR`` patched);
the only namespace files opened are the test process's own
(``/proc/self/ns/net``), which anyone may open. Making and removing
namespaces needs root: tests/integration/test_cni_netns.py (its last tests).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

import pytest

from ansible_collections.cni.node.plugins.module_utils import _netns
from ansible_collections.cni.node.plugins.module_utils._errors import (
    KernelRefused,
    NamespaceNotFound,
    ObjectExists,
    PermissionDenied,
)

OWN = '/proc/self/ns/net'


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """A temporary /run/netns."""
    monkeypatch.setattr(_netns, 'NETNS_RUN_DIR', str(tmp_path))
    return tmp_path


@pytest.mark.parametrize('netns,path', [
    ('pod-a', '/run/netns/pod-a'),
    ('cni-1234-5678', '/run/netns/cni-1234-5678'),
    ('/proc/1234/ns/net', '/proc/1234/ns/net'),
    ('/var/run/netns/x', '/var/run/netns/x'),
])
def test_a_name_is_under_run_netns_and_a_path_is_itself(netns, path):
    assert _netns.netns_path(netns) == path


@pytest.mark.parametrize('netns,needle', [
    ('proc/1/ns/net', "netns 'proc/1/ns/net': a path must be absolute (e.g. /proc/1234/ns/net), or give a name "
                      "under /run/netns"),
    ('', "netns '' is not a namespace name"),
    ('.', "netns '.' is not a namespace name"),
    ('..', "netns '..' is not a namespace name: give a name under /run/netns or an absolute path"),
])
def test_relative_paths_and_dot_names_are_refused_naming_netns(netns, needle):
    with pytest.raises(NamespaceNotFound) as err:
        _netns.netns_path(netns)
    assert err.value.param == 'netns' and err.value.msg.startswith(needle)


def test_a_missing_namespace_says_how_to_make_it(run_dir):
    with pytest.raises(NamespaceNotFound) as err:
        _netns.resolve('pod-a')
    assert err.value.param == 'netns'
    assert err.value.msg == ("network namespace 'pod-a' does not exist (%s); create it first, e.g. with "
                             "cni.node.cni_netns" % (run_dir / 'pod-a'))


def test_what_is_no_namespace_file_is_refused_before_it_is_opened(run_dir):
    os.mkfifo(str(run_dir / 'fifo'))      # opening a FIFO would block
    (run_dir / 'dir').mkdir()
    (run_dir / 'plain').write_text(u'')   # a stale entry: its bind mount is gone
    for name in ('fifo', 'dir', 'plain'):
        with pytest.raises(NamespaceNotFound) as err:
            _netns.open_netns(name)
        assert err.value.msg == "netns %r: %s is not a network namespace file" % (name, run_dir / name)


def test_the_own_namespace_file_is_a_namespace_and_the_same_as_itself():
    assert _netns.resolve(OWN) == OWN
    assert _netns.same(OWN, '/proc/thread-self/ns/net')
    fd = _netns.open_netns(OWN)
    try:
        assert _netns._is_netns_fd(fd) and _netns._is_nsfs(fd)
    finally:
        os.close(fd)


def test_entering_none_or_the_own_namespace_changes_nothing():
    with _netns.entered(None) as where:
        assert where is None
    before = os.stat('/proc/thread-self/ns/net').st_ino
    with _netns.entered(OWN) as where:
        assert where == OWN
        assert os.stat('/proc/thread-self/ns/net').st_ino == before


def test_status_of_what_is_at_the_name(run_dir):
    assert _netns.status('pod-a') == _netns.ABSENT
    (run_dir / 'pod-a').write_text(u'')
    assert _netns.status('pod-a') == _netns.STALE
    (run_dir / 'pod-b').write_text(u'not empty')
    (run_dir / 'pod-c').mkdir()
    os.symlink(OWN, str(run_dir / 'pod-d'))
    for name, needle in (('pod-b', 'is a regular file with content, not a namespace; it is left alone'),
                         ('pod-c', 'exists and is not a namespace file; it is left alone'),
                         ('pod-d', 'exists and is not a namespace file; it is left alone')):
        with pytest.raises(NamespaceNotFound) as err:
            _netns.status(name)
        assert err.value.param == 'name'
        assert err.value.msg == 'name: %s %s' % (run_dir / name, needle)


def test_a_namespace_to_make_needs_a_plain_name(run_dir):
    with pytest.raises(NamespaceNotFound) as err:
        _netns.create('/proc/1/ns/net')
    assert err.value.param == 'name' and 'needs a plain name, not a path' in err.value.msg
    assert list(run_dir.iterdir()) == []


def test_removing_what_is_not_there_or_not_mounted_is_fine(run_dir, monkeypatch):
    class Libc(object):
        def __init__(self, err):
            self.err = err

        def umount2(self, path, flags):
            assert flags == _netns.MNT_DETACH
            return -1 if self.err else 0

    for err in (errno.ENOENT, errno.EINVAL):
        monkeypatch.setattr(_netns, '_libc', Libc(err))
        monkeypatch.setattr(_netns.ctypes, 'get_errno', lambda err=err: err)
        (run_dir / 'stale').write_text(u'')
        _netns.remove('stale')
        assert not (run_dir / 'stale').exists()
        _netns.remove('never-there')
    monkeypatch.setattr(_netns, '_libc', Libc(errno.EBUSY))
    monkeypatch.setattr(_netns.ctypes, 'get_errno', lambda: errno.EBUSY)
    (run_dir / 'busy').write_text(u'')
    with pytest.raises(KernelRefused) as err:
        _netns.remove('busy')
    assert err.value.param == 'name' and err.value.details['errno'] == errno.EBUSY
    assert err.value.msg == 'umount %s: %s (errno %d)' % (run_dir / 'busy', os.strerror(errno.EBUSY), errno.EBUSY)
    assert (run_dir / 'busy').exists()


@pytest.mark.parametrize('err,cls,tail', [
    (errno.EPERM, PermissionDenied, ': needs CAP_SYS_ADMIN (run the task as root / become: true)'),
    (errno.EACCES, PermissionDenied, ': needs CAP_SYS_ADMIN (run the task as root / become: true)'),
    (errno.EEXIST, ObjectExists, ''),
    (errno.EINVAL, KernelRefused, ''),
])
def test_syscall_errors_are_typed_and_name_the_parameter(err, cls, tail):
    exc = _netns._syscall_error(err, 'mount --bind x y')
    assert isinstance(exc, cls) and exc.param == 'name' and exc.details == dict(errno=err)
    assert exc.msg == 'mount --bind x y: %s (errno %d)%s' % (os.strerror(err), err, tail)
    assert _netns._syscall_error(err, 'x', param='netns').param == 'netns'


def test_netns_path_asks_the_one_check_in_params(monkeypatch):
    """The shape of a netns value is judged by _params.netns_fault alone (one check for every module)."""
    seen = []
    monkeypatch.setattr(_netns, 'netns_fault', lambda value: seen.append(value) or 'relative')
    with pytest.raises(NamespaceNotFound) as err:
        _netns.netns_path('/proc/1/ns/net')
    assert seen == ['/proc/1/ns/net'] and err.value.param == 'netns'


def test_a_nul_byte_in_netns_is_refused_naming_netns():
    with pytest.raises(NamespaceNotFound) as err:
        _netns.netns_path('/proc/1\0/ns/net')
    assert err.value.param == 'netns' and 'NUL byte' in err.value.msg
