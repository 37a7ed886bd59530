# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Core of cni_plugin: sources, safe archives, per-binary sha256, plan and apply.

Pure Python (no Ansible). Downloads go through an opener the module passes
in (``opener(url)`` returns a readable response: the module hands in
ansible's ``open_url`` with its timeout and TLS settings, a test a plain
urllib opener), as the link modules pass in ``Netlink``. ``run`` is the
whole of a module run. The flow:

0. ``Source`` tells what ``src`` is (a URL, an archive or a folder on the
   node) and, for an archive, its sha256 before any download (pinned, or
   from the checksum file). When the manifest of ``bin_dir`` shows that
   the binaries there are exactly what that archive gives, nothing is
   downloaded (``unchanged_from_manifest``).
1. ``candidates_from_archive`` / ``candidates_from_folder`` list the plugin
   binaries a source offers. An archive is refused whole, before anything
   is extracted, when any member is a link, a device, a FIFO, has an
   absolute path, a ``..`` component or a path below the top level, and
   refused naming ``src`` when it is cut short or corrupt (it is read to
   its end before anything is installed).
2. ``plan`` compares each wanted binary's sha256 (and mode) with what
   ``bin_dir`` holds, and lists binaries to remove (``exclusive``).
3. ``apply`` stages every new binary as a temporary file in ``bin_dir``
   (same filesystem), then renames each over its target: a running exec
   sees the old file or the new one, never half a file. Before that, ``run``
   removes the temporaries that killed runs left for these binaries
   (``_fileutil.clean_temps``; the plan's ``cleaned``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import hashlib
import json
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zlib

from ansible_collections.cni.node.plugins.module_utils import _cniexec
from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    ParameterError,
    doing,
)
from ansible_collections.cni.node.plugins.module_utils._fileutil import (
    StagedFile,
    atomic_write,
    clean_temps,
    directory_problem,
    read_text,
    remove,
)
from ansible_collections.cni.node.plugins.module_utils._params import absolute_path
from ansible_collections.cni.node.plugins.module_utils._result import Changes

BINARY_MODE = 0o755
# What the last install from an archive put into bin_dir: lets a no-change
# run prove that bin_dir matches the archive without downloading it again.
MANIFEST = '.cni-node-plugins.json'

MAX_CHECKSUM_FILE = 1 << 20

_HEX64 = re.compile(r'^[0-9a-fA-F]{64}\Z')
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*\Z')
_URL = re.compile(r'^https?://', re.I)


class UnsafeArchive(CniNodeError):
    """An archive holds a member that could write outside the target or is not a plain file."""


class ChecksumMismatch(CniNodeError):
    """A download does not match its expected sha256."""


class PluginFailed(CniNodeError):
    """A plugin binary did not answer VERSION as the CNI specification says."""


def parse_checksum(value):
    """('sha256', hex) or ('url', url) for the ``checksum`` parameter."""
    if not isinstance(value, str) or not value.strip():
        raise ParameterError('checksum: required: sha256:<64 hex digits>, or the http(s) URL of a sha256 file',
                             param='checksum')
    value = value.strip()
    if value.lower().startswith('sha256:'):
        digest = value.split(':', 1)[1].strip()
        if not _HEX64.match(digest):
            raise ParameterError('checksum: %r is not sha256:<64 hex digits>' % value, param='checksum')
        return 'sha256', digest.lower()
    if re.match(r'^https?://', value):
        return 'url', value
    raise ParameterError('checksum: %r is not valid: give sha256:<64 hex digits>, or the http(s) URL of a '
                         'sha256 file (as upstream publishes next to each release)' % value, param='checksum')


def digest_from_checksum_file(text, archive_name):
    """The sha256 for ``archive_name`` in a checksum file ("<hex>  <name>" lines, or one bare hex)."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip() and not line.startswith('#')]
    found = []
    for line in lines:
        parts = line.split()
        if not _HEX64.match(parts[0]):
            continue
        if len(parts) == 1:
            found.append(parts[0].lower())
        elif os.path.basename(parts[-1].lstrip('*')) == archive_name:
            return parts[0].lower()
    if len(found) == 1 and len(lines) == 1:
        return found[0]
    raise ParameterError('checksum: the checksum file lists no sha256 for %s' % archive_name, param='checksum')


@doing('read')
def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def check_digest(path, expected, what):
    got = sha256_file(path)
    if got != expected:
        raise ChecksumMismatch('checksum: %s has sha256 %s, expected %s: refusing it (tampered or incomplete '
                               'download, or the wrong checksum)' % (what, got, expected), param='checksum')
    return got


def _fetch_error(url, exc):
    return ParameterError('src: cannot download %s (%s)' % (url, exc), param='src')


def download(opener, url, dest):
    """Stream ``url`` to ``dest``; the response is closed whatever happens.

    A failure of the transfer (connect, HTTP status, a read that breaks off)
    names ``src``; a failure to write ``dest`` (disk full, permissions) is an
    OSError with the path, which the module's edge reports as such: it is not
    the URL's fault.
    """
    try:
        resp = opener(url)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise _fetch_error(url, exc)
    try:
        with open(dest, 'wb') as f:
            while True:
                try:
                    chunk = resp.read(1 << 20)
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    raise _fetch_error(url, exc)
                if not chunk:
                    break
                try:
                    f.write(chunk)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, dest)
    finally:
        close = getattr(resp, 'close', None)
        if close is not None:
            close()


def fetch_text(opener, url):
    """The text of a checksum file (its first MAX_CHECKSUM_FILE bytes); errors name ``checksum``."""
    try:
        resp = opener(url)
        return resp.read(MAX_CHECKSUM_FILE).decode('utf-8', 'replace')
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise ParameterError('checksum: cannot download %s (%s)' % (url, exc), param='checksum')


def expected_digest(checksum, archive_name, opener):
    """The sha256 the ``checksum`` parameter gives for ``archive_name`` (pinned, or from a checksum file)."""
    kind, value = parse_checksum(checksum)
    if kind == 'sha256':
        return value
    return digest_from_checksum_file(fetch_text(opener, value), archive_name)


class Source(object):
    """The source of the binaries: its kind, and for an archive its sha256 (known before any download)."""

    def __init__(self, src, checksum, opener):
        self.opener = opener
        self.src = src
        if not src:
            raise ParameterError('src: required with state=present (a URL, an archive or a folder on the node)',
                                 param='src')
        self.digest = None
        if _URL.match(src):
            if not checksum:
                raise ParameterError('checksum: required when src is a URL (sha256:<hex> or the URL of a sha256 '
                                     'file)', param='checksum')
            self.kind = 'url'
            self.name = os.path.basename(src.split('?', 1)[0]) or 'archive.tgz'
            self.digest = expected_digest(checksum, self.name, opener)
        elif os.path.isdir(src):
            self.kind = 'folder'
        elif os.path.isfile(src):
            self.kind = 'archive'
            if checksum:
                self.digest = check_digest(src, expected_digest(checksum, os.path.basename(src), opener), src)
            else:
                self.digest = sha256_file(src)
        else:
            raise ParameterError('src: %s is not an http(s) URL and not an archive or folder on the node' % src,
                                 param='src')

    def candidates(self, workdir):
        """{name: path} of the binaries the source offers, checked and extracted into workdir."""
        if self.kind == 'folder':
            return candidates_from_folder(self.src)
        archive = self.src
        if self.kind == 'url':
            archive = os.path.join(workdir, self.name)
            download(self.opener, self.src, archive)
            check_digest(archive, self.digest, self.src)
        extracted = os.path.join(workdir, 'plugins')
        os.mkdir(extracted, 0o700)
        return candidates_from_archive(archive, extracted)


def _member_name(member):
    """Plain file name of an archive member, or None for the top directory; raises UnsafeArchive."""
    name = member.name
    if name.startswith('/') or re.match(r'^[A-Za-z]:', name):
        raise UnsafeArchive('src: archive member %r has an absolute path: refusing the whole archive' % name,
                            param='src')
    parts = [p for p in name.split('/') if p not in ('', '.')]
    if '..' in parts:
        raise UnsafeArchive('src: archive member %r has a ".." component: refusing the whole archive' % name,
                            param='src')
    if member.issym() or member.islnk():
        raise UnsafeArchive('src: archive member %r is a link: refusing the whole archive (only regular files '
                            'are installed)' % name, param='src')
    if member.isdev() or member.isfifo() or not (member.isfile() or member.isdir()):
        raise UnsafeArchive('src: archive member %r is not a regular file (device, FIFO or other): refusing '
                            'the whole archive' % name, param='src')
    if member.isdir():
        if parts:
            raise UnsafeArchive('src: archive member %r is a subdirectory: release archives are flat; refusing '
                                'the whole archive' % name, param='src')
        return None
    if len(parts) != 1 or not _NAME.match(parts[0]):
        raise UnsafeArchive('src: archive member %r is not a plain file name at the top level: refusing the '
                            'whole archive' % name, param='src')
    return parts[0]


@contextlib.contextmanager
def _reading_archive(archive):
    """A damaged archive (cut short, corrupt) is refused naming ``src``; other errors pass."""
    try:
        yield
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ParameterError('src: %s is not a readable tar archive (%s)' % (archive, exc), param='src')
    except (IOError, OSError) as exc:
        if exc.errno is not None:
            raise   # the system's error (no space for the extracted copy, ...): the module edge names it
        # gzip's BadGzipFile and bz2's "Invalid data stream" are OSErrors without an errno.
        raise ParameterError('src: %s is not a readable tar archive (%s)' % (archive, exc), param='src')


def candidates_from_archive(archive, workdir):
    """Extract the plugin binaries of a .tgz into ``workdir``: {name: path}.

    Every member is checked before the first byte is written. Regular
    files with an executable bit are plugins; others (LICENSE, README.md)
    are left out. The archive is read to its end, so a compressed archive
    that is cut short or corrupt (its checksum) is refused, naming ``src``.
    """
    with _reading_archive(archive):
        tar = tarfile.open(archive, 'r:*')
    with tar:
        with _reading_archive(archive):
            members = tar.getmembers()
        plain = [(m, _member_name(m)) for m in members]
        out = {}
        for member, name in plain:
            if name is None or not member.mode & 0o111:
                continue
            if name in out:
                raise UnsafeArchive('src: archive holds %s twice: refusing it' % name, param='src')
            path = os.path.join(workdir, name)
            with _reading_archive(archive):
                src = tar.extractfile(member)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
            with os.fdopen(fd, 'wb') as dst:
                while True:
                    with _reading_archive(archive):
                        block = src.read(1 << 20)
                    if not block:
                        break
                    dst.write(block)
            out[name] = path
        with _reading_archive(archive):
            while tar.fileobj.read(1 << 20):
                pass   # to the end: a compressed stream checks its CRC and length there
    return out


@doing('read')
def candidates_from_folder(folder):
    """Plugin binaries in a folder on the node: regular executable files, links not followed."""
    try:
        entries = sorted(os.listdir(folder))
    except OSError as exc:
        raise ParameterError('src: cannot read folder %s (%s)' % (folder, os.strerror(exc.errno)), param='src')
    out = {}
    for name in entries:
        st = os.lstat(os.path.join(folder, name))
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111 and _NAME.match(name):
            out[name] = os.path.join(folder, name)
    return out


@doing('read')
def installed(bin_dir):
    """{name: (sha256 or None for a non-regular entry, mode)} of what bin_dir holds."""
    out = {}
    try:
        names = os.listdir(bin_dir)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return out
        raise
    for name in names:
        path = os.path.join(bin_dir, name)
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) or name.startswith('.'):
            continue
        digest = sha256_file(path) if stat.S_ISREG(st.st_mode) else None
        out[name] = (digest, stat.S_IMODE(st.st_mode))
    return out


def verified_versions(path):
    """The CNI versions a binary supports (its VERSION answer); PluginFailed names ``verify``."""
    try:
        return _cniexec.versions(path)
    except _cniexec.PluginError as exc:
        raise PluginFailed('verify: %s' % exc, param='verify')


def read_manifest(bin_dir):
    """The manifest of bin_dir as a dict, or None (missing, unreadable or not ours)."""
    try:
        with open(os.path.join(bin_dir, MANIFEST)) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get('version') != 1 or not isinstance(data.get('binaries'), dict):
        return None
    return data


def render_manifest(archive_sha256, binaries):
    """Manifest text: the archive's sha256 and, per binary it offers, sha256 and versions."""
    return json.dumps(dict(version=1, archive_sha256=archive_sha256, binaries=binaries),
                      indent=2, sort_keys=True) + '\n'


def unchanged_from_manifest(bin_dir, archive_sha256, names=None, exclusive=False, verify=True):
    """The ``binaries`` result when bin_dir already holds exactly what the archive gives, else None.

    True only when the manifest was written for this very archive (by
    sha256; it lists every binary the archive offers), every wanted binary
    in bin_dir still has the sha256 and mode the manifest records, with
    ``verify`` each was verified, and with ``exclusive`` nothing else is there:
    then the archive need not be downloaded again. Any doubt returns None
    and the caller takes the full path.
    """
    manifest = read_manifest(bin_dir)
    if manifest is None or manifest.get('archive_sha256') != archive_sha256:
        return None
    offered = manifest['binaries']
    wanted = list(names) if names else sorted(offered)
    if not wanted or any(n not in offered for n in wanted):
        return None
    if verify and any(not isinstance(offered[n].get('versions'), list) for n in wanted):
        return None   # never verified: take the full path, which runs VERSION
    have = installed(bin_dir)
    if exclusive and set(have) != set(wanted):
        return None
    out = {}
    for name in wanted:
        if have.get(name) != (offered[name].get('sha256'), BINARY_MODE):
            return None
        out[name] = dict(offered[name], path=os.path.join(bin_dir, name))
    return out


class Spec(object):
    """The arguments of cni_plugin. ``src`` and ``checksum`` are checked by ``Source`` when the run needs them."""

    def __init__(self, src=None, checksum=None, names=None, bin_dir='/opt/cni/bin', exclusive=False, verify=True,
                 state='present'):
        if state not in ('present', 'absent'):
            raise ParameterError('state: %r is not valid (present or absent)' % (state,), param='state')
        if state == 'absent' and not names:
            raise ParameterError('names: required with state=absent (the binaries to remove)', param='names')
        if src and not _URL.match(src):
            absolute_path(src, 'src')
        self.src = src
        self.checksum = checksum
        self.names = names
        self.bin_dir = absolute_path(bin_dir, 'bin_dir')
        self.exclusive = exclusive
        self.verify = verify
        self.state = state


class Plan(object):
    def __init__(self):
        self.changes = Changes()
        self.create_dir = False
        self.installs = []    # (name, source path)
        self.removals = []    # names
        self.binaries = {}    # name -> {sha256, path}
        self.cleaned = []     # temporaries of killed runs removed (check mode: to remove)


def plan(bin_dir, candidates, names=None, exclusive=False, state='present'):
    """What to install and remove so that ``bin_dir`` holds the wanted binaries."""
    p = Plan()
    have = installed(bin_dir)
    if state == 'absent':
        for name in names or []:
            if name in have:
                p.removals.append(name)
                p.changes.add('binary/%s' % name, have[name][0], None)
        return p
    if names:
        missing = [n for n in names if n not in candidates]
        if missing:
            raise ParameterError('names: %s not in the source (it offers: %s)'
                                 % (', '.join(missing), ', '.join(sorted(candidates)) or 'nothing'), param='names')
        wanted = dict((n, candidates[n]) for n in names)
    else:
        wanted = dict(candidates)
    if not wanted:
        raise ParameterError('src: offers no plugin binary (no regular executable file)', param='src')
    if not os.path.isdir(bin_dir):
        p.create_dir = True
        p.changes.add('dir/%s' % bin_dir.strip('/'), None, 'directory')
    for name in sorted(wanted):
        digest = sha256_file(wanted[name])
        p.binaries[name] = dict(sha256=digest, path=os.path.join(bin_dir, name))
        before = have.get(name)
        if before is None or before[0] != digest:
            p.installs.append((name, wanted[name]))
            p.changes.add('binary/%s' % name, before[0] if before else None, digest)
        elif before[1] != BINARY_MODE:
            p.installs.append((name, wanted[name]))
            p.changes.add('binary/%s/mode' % name, '%04o' % before[1], '%04o' % BINARY_MODE)
    if exclusive:
        for name in sorted(set(have) - set(wanted)):
            p.removals.append(name)
            p.changes.add('binary/%s' % name, have[name][0], None)
    return p


def apply(p, bin_dir):
    """Install and remove as planned: stage every new binary, then rename each into place.

    All binaries are staged first (where space and permission errors show).
    Each rename is atomic on its own; a failing rename is not undone by
    deleting the binaries renamed before it (they are complete, working
    binaries, better than none), and the error names the binary.
    """
    if p.create_dir:
        with doing('create the directory'):
            os.makedirs(bin_dir, BINARY_MODE)
    staged = []
    try:
        for name, source in p.installs:
            with open(source, 'rb') as f:
                data = f.read()
            s = StagedFile(os.path.join(bin_dir, name), None, data, mode=BINARY_MODE)
            s.prepare()
            staged.append(s)
        for s in staged:
            s.commit()
    finally:
        for s in staged:
            s.discard()
    for name in p.removals:
        remove(os.path.join(bin_dir, name))


def write_manifest(bin_dir, text):
    """Record what an archive gives (None: no archive, nothing to record).

    The manifest only states which sha256s an archive gives; it stays true
    whatever happens to bin_dir later, because every use compares it with
    the binaries actually there.
    """
    path = os.path.join(bin_dir, MANIFEST)
    if text is not None and read_text(path) != text:
        atomic_write(path, text, mode=0o644)


def run(spec, opener, tmpdir=None, check_mode=False):
    """The whole of a cni_plugin run: the plan, carried out unless ``check_mode``.

    Downloads and extraction happen in a temporary directory (under
    ``tmpdir``) that is always removed. With state=present the plan's
    ``binaries`` is the result's ``binaries``; when the manifest proves that
    ``bin_dir`` holds exactly what the archive gives, the plan is empty and
    nothing is downloaded.
    """
    workdir = tempfile.mkdtemp(prefix='cni_plugin-', dir=tmpdir)
    try:
        return _run(spec, opener, workdir, check_mode)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(spec, opener, workdir, check_mode):
    problem = directory_problem(spec.bin_dir)
    if problem:
        raise ParameterError('bin_dir: %s' % problem, param='bin_dir')
    manifest = None
    if spec.state == 'present':
        source = Source(spec.src, spec.checksum, opener)
        done = None
        if source.digest:
            done = unchanged_from_manifest(spec.bin_dir, source.digest, spec.names, spec.exclusive, spec.verify)
        if done is not None:
            # bin_dir holds exactly what this archive gives: no download.
            p = Plan()
            p.binaries = done
        else:
            offered = source.candidates(workdir)
            p = plan(spec.bin_dir, offered, names=spec.names, exclusive=spec.exclusive)
            if spec.verify:
                for name, info in p.binaries.items():
                    info['versions'] = verified_versions(offered[name])
            if source.digest:
                # Every binary the archive offers, with versions where verified.
                recorded = dict((name, dict(sha256=sha256_file(path)))
                                for name, path in offered.items() if name not in p.binaries)
                for name, info in p.binaries.items():
                    recorded[name] = dict((k, v) for k, v in info.items() if k != 'path')
                manifest = render_manifest(source.digest, recorded)
    else:
        p = plan(spec.bin_dir, {}, names=spec.names, state='absent')
    # Temporaries a killed run left for the binaries this run is about (and the manifest).
    targets = set(p.binaries) | set(spec.names or []) | set(p.removals) | {MANIFEST}
    p.cleaned = clean_temps([os.path.join(spec.bin_dir, name) for name in targets], check_mode=check_mode)
    if not check_mode:
        apply(p, spec.bin_dir)
        write_manifest(spec.bin_dir, manifest)
    return p
