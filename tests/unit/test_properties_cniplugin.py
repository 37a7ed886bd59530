# -*- coding: utf-8 -*-
"""Property tests (hypothesis) of plugin archives: member names, hostile tar files, corrupt archives.

A member name is taken only as a plain file name at the top level (never
anything that resolves outside ``bin_dir``); real tar archives, built in
memory with links, devices, FIFOs, ``../x``, absolute paths and unicode
names among the plugins, are refused whole or extracted into the work
directory only; nothing is ever written elsewhere. A truncated or damaged
archive is refused naming ``src``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import random
import re
import tarfile
import tempfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.cni.node.plugins.module_utils import _cniplugin
from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError

settings.register_profile('cni-node-properties', derandomize=True, deadline=None, database=None,
                          max_examples=200, suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile('cni-node-properties')

BIN_DIR = '/opt/cni/bin'
TYPES = [tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
         tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE, tarfile.GNUTYPE_LONGNAME,
         b'X', b'7']
PART = st.sampled_from(['bridge', 'host-local', '..', '.', '', 'a..b', '...', 'C:', 'c:x', '\\..', '..\\x', 'x\0y',
                        '\u00e9', '\u2024\u2024', '\uff0e\uff0e', ' ', '-x', '.hidden', 'x' * 101, 'LICENSE'])
NAMES = st.one_of(
    st.lists(PART, min_size=1, max_size=4).map('/'.join),
    st.lists(PART, min_size=1, max_size=3).map(lambda parts: '/' + '/'.join(parts)),
    st.text(st.characters(exclude_categories=('Cs',)), max_size=24),
    st.text(st.sampled_from('./\\a:\0'), max_size=10),
)


def _inside(bin_dir, name):
    """``name`` joined to ``bin_dir`` names a direct child of it (no traversal, no absolute escape)."""
    path = os.path.normpath(os.path.join(bin_dir, name))
    return os.path.dirname(path) == bin_dir and os.path.basename(path) == name


@settings(PROFILE, max_examples=300)
@given(NAMES, st.sampled_from(TYPES))
def test_member_names_never_leave_bin_dir(name, kind):
    member = tarfile.TarInfo(name)
    member.type = kind
    try:
        plain = _cniplugin._member_name(member)   # pylint: disable=protected-access
    except _cniplugin.UnsafeArchive as exc:
        assert exc.param == 'src' and exc.msg.startswith('src: archive member %r ' % name), exc.msg
        return
    if plain is None:   # the archive's top directory
        assert member.isdir() and name.strip('/.') == '' and not name.startswith('/'), name
        return
    assert member.isfile(), (name, kind)
    assert _inside(BIN_DIR, plain), (name, plain)
    assert re.match(r'^[A-Za-z0-9][A-Za-z0-9._+-]*\Z', plain), plain
    assert [p for p in name.split('/') if p not in ('', '.')] == [plain], name


# Real archives --------------------------------------------------------------

SAFE = st.sampled_from(['bridge', 'host-local', 'loopback', 'portmap', 'LICENSE', 'README.md', 'x+y_1.2-3'])
HOSTILE = st.sampled_from(['symlink', 'hardlink', 'chardev', 'blockdev', 'fifo', 'dotdot', 'absolute', 'nested',
                           'subdir', 'unicode', 'backslash', 'pax-dotdot', 'longname-dotdot', 'duplicate'])


@st.composite
def archives(draw):
    """(tar bytes, {executable name: content}, hostile kinds, a name twice) of an archive built in memory."""
    members = []   # (TarInfo, data or None)
    wanted = {}
    for name in draw(st.lists(SAFE, max_size=4, unique=True)):
        data = draw(st.binary(max_size=64))
        mode = draw(st.sampled_from([0o755, 0o644, 0o700, 0o4755]))
        info = tarfile.TarInfo(draw(st.sampled_from(['', './'])) + name)
        info.size, info.mode = len(data), mode
        members.append((info, data))
        if mode & 0o111:
            wanted[name] = data
    kinds = draw(st.lists(HOSTILE, max_size=2))
    twice = False
    for kind in kinds:
        members.append(_hostile(kind, draw(st.sampled_from(['../victim', '/tmp/victim', 'bridge', '..', 'x']))))
        if kind == 'duplicate':   # one more executable 'bridge'
            twice = twice or 'bridge' in wanted
            wanted['bridge'] = members[-1][1]
    order = draw(st.permutations(list(range(len(members)))))
    members = [members[i] for i in order]
    if draw(st.booleans()):
        top = tarfile.TarInfo('.')
        top.type = tarfile.DIRTYPE
        members.insert(0, (top, None))
    fmt = draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT]))
    compression = draw(st.sampled_from(['gz', 'bz2', 'xz', '']))
    buf = io.BytesIO()
    try:
        with tarfile.open(fileobj=buf, mode='w:' + compression, format=fmt) as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
    except ValueError:   # a name this tar format cannot hold (ustar: long or non-ASCII names)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode='w:' + compression, format=tarfile.PAX_FORMAT) as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
    hostile = [k for k in kinds if k != 'duplicate']
    return buf.getvalue(), wanted, hostile, twice


def _hostile(kind, target):
    data = None
    if kind in ('symlink', 'hardlink'):
        info = tarfile.TarInfo('evil')
        info.type = tarfile.SYMTYPE if kind == 'symlink' else tarfile.LNKTYPE
        info.linkname = target
    elif kind in ('chardev', 'blockdev', 'fifo'):
        info = tarfile.TarInfo('dev0')
        info.type = {'chardev': tarfile.CHRTYPE, 'blockdev': tarfile.BLKTYPE, 'fifo': tarfile.FIFOTYPE}[kind]
        info.devmajor, info.devminor = 1, 3
    elif kind == 'subdir':
        info = tarfile.TarInfo('sub')
        info.type = tarfile.DIRTYPE
    else:
        name = {'dotdot': '../victim', 'absolute': '/tmp/victim', 'nested': 'bin/bridge', 'unicode': 'br\u00efdge',
                'backslash': '..\\victim', 'pax-dotdot': '../' + 'p' * 120, 'longname-dotdot': 'x/../../victim',
                'duplicate': 'bridge'}[kind]
        info = tarfile.TarInfo(name)
        data = b'#!/bin/sh\necho pwned\n'
        info.size, info.mode = len(data), 0o755
    return info, data


def _tree(root):
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            st_ = os.lstat(path)
            out[os.path.relpath(path, root)] = (st_.st_mode, st_.st_size)
    return out


def _extract(data):
    """Run candidates_from_archive on ``data`` in a fresh tree: (result or exception, files outside work)."""
    with tempfile.TemporaryDirectory(prefix='cnt-props-') as root:
        outer = os.path.join(root, 'outer')
        work = os.path.join(outer, 'work', 'in')
        os.makedirs(work)
        archive = os.path.join(outer, 'plugins.tgz')
        with open(archive, 'wb') as f:
            f.write(data)
        before = _tree(root)
        try:
            got = _cniplugin.candidates_from_archive(archive, work)
        except CniNodeError as exc:
            got = exc
        after = _tree(root)
        outside = dict((k, v) for k, v in after.items() if not k.startswith(os.path.join('outer', 'work', 'in') + '/'))
        assert outside == before, 'written outside the work directory: %s' % sorted(set(outside) ^ set(before))
        files = {}
        for name in os.listdir(work):
            path = os.path.join(work, name)
            assert os.path.isfile(path) and not os.path.islink(path), name
            with open(path, 'rb') as f:
                files[name] = f.read()
        if not isinstance(got, Exception):
            assert all(os.path.dirname(p) == work for p in got.values()), got
        return got, files


@settings(PROFILE, max_examples=150)
@given(archives())
def test_hostile_archives_are_refused_whole_or_extracted_inside(case):
    data, wanted, hostile, twice = case
    got, files = _extract(data)
    if hostile or twice:
        assert isinstance(got, _cniplugin.UnsafeArchive), (hostile, twice, got)
        assert got.param == 'src' and got.msg.startswith('src: '), got.msg
        if hostile:
            assert files == {}, sorted(files)   # refused before the first byte is written
        return
    assert not isinstance(got, Exception), got
    assert sorted(got) == sorted(files) == sorted(wanted)
    assert files == wanted


def _incompressible_archive(seed, compression):
    """12 KiB of random plugin bytes: damage lands in compressed data beyond what opening the archive reads
    ahead (8 KiB), so that it shows while the members are listed or extracted, not only in tarfile.open."""
    rnd = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:' + compression) as tar:
        for name in ('bridge', 'portmap', 'loopback'):
            data = rnd.getrandbits(8 * 4000).to_bytes(4000, 'little')
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


DAMAGE_SOURCES = st.one_of(
    archives().map(lambda case: case[0]),
    st.tuples(st.integers(0, 2 ** 32), st.sampled_from(['gz', 'bz2', 'xz', ''])).map(
        lambda args: _incompressible_archive(*args)),
)


@settings(PROFILE, max_examples=150)
@given(DAMAGE_SOURCES, st.integers(0, 2 ** 32), st.sampled_from(['cut', 'flip', 'zero']), st.integers(0, 7))
# Found: EOFError from getmembers() of a cut .tgz; LZMAError from a .txz with one bit flipped past 8 KiB.
@example(_incompressible_archive(0, 'gz'), 5, 'cut', 0)
@example(_incompressible_archive(0, 'xz'), 5, 'flip', 0)
def test_damaged_archives_are_refused_naming_src(data, seed, how, bit):
    if not data:
        return
    pos = random.Random(seed).randrange(len(data))   # anywhere, not mostly in the first bytes
    if how == 'cut':
        data = data[:pos]
    elif how == 'flip':
        data = data[:pos] + bytes([data[pos] ^ (1 << bit)]) + data[pos + 1:]
    else:
        data = data[:pos] + b'\0' * 512 + data[pos + 512:]
    got, _files = _extract(data)
    if isinstance(got, Exception):
        assert got.param == 'src' and got.msg.startswith('src: '), got.msg
