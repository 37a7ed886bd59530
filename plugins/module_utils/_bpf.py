# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The BPF toolchain adapter of cni_xdp: clang, bpftool, a private bpffs, the object's ELF.

- ``read_object(path, section)`` reads a BPF ELF file with the standard
  library (no tool): it must be an ELF file for ``EM_BPF`` with a section
  ``section`` holding one program (a function symbol); the answer is that
  function's name, the name libbpf and bpftool know the program by. Errors
  name ``object`` (or ``source``) or ``section``, before anything is loaded.
- ``compile_source(clang, source, cache_dir)`` compiles a C file with
  ``clang -O2 -g -target bpf -c`` into ``<cache_dir>/<sha256 of the source>.o``
  (written atomically; a cached object is reused). A compile error fails
  naming the file and line, with clang's message.
- ``Bpf`` runs ``bpftool`` (found on PATH, version-checked, argv lists, no
  shell) inside a private bpffs: ``private_bpffs()`` moves this process into
  a mount namespace of its own (unshare(2), every mount private) and mounts
  a bpffs on a temporary directory there. Programs loaded to learn their tag
  and the programs an interface had before (pinned so that an undo can put
  them back) live only in that bpffs: when the process leaves it (or exits)
  the bpffs goes, and the kernel frees every program no interface holds.
  Nothing is pinned in the node's /sys/fs/bpf, nothing is left behind.
- Attaching and detaching run ``bpftool net attach|detach`` with the calling
  thread inside the interface's network namespace (``_netns.entered``), so the
  child process is there too.

Which program is on which interface, in which mode, is read through the
netlink adapter (``_netlink.Netlink.xdp``), not here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile

from ansible_collections.cni.node.plugins.module_utils import _fileutil, _netns
from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    MissingDependency,
    NotSupported,
    ParameterError,
    PermissionDenied,
)

EM_BPF = 247
MIN_BPFTOOL = (5, 6)        # `net attach ... overwrite`, `prog loadall`, JSON output
MIN_CLANG = (10, 0)
DEFAULT_TIMEOUT = 120
VERIFIER_LINES = 15         # the last lines of the verifier's log a failure shows

# bpftool's attach types, by cni_xdp's mode (auto: no flag, the kernel chooses native when the driver can).
ATTACH_TYPES = {'auto': 'xdp', 'native': 'xdpdrv', 'generic': 'xdpgeneric', 'offload': 'xdpoffload'}

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

TOOL_PACKAGES = {'bpftool': 'bpftool', 'clang': 'clang (and libbpf-dev for <bpf/bpf_helpers.h>)'}


# ---------------------------------------------------------------- the ELF file

def read_object(path, section, param='object'):
    """The name of the one program in ``section`` of BPF ELF file ``path``; ParameterError otherwise."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except (IOError, OSError) as exc:
        raise ParameterError('%s: cannot read %s: %s' % (param, path, os.strerror(exc.errno or errno.EIO)),
                             param=param)
    if data[:4] != b'\x7fELF':
        raise ParameterError('%s: %s is not an ELF file (not a compiled BPF object)' % (param, path), param=param)
    if len(data) < 64 or data[4:5] != b'\x02':
        raise ParameterError('%s: %s is not a 64-bit ELF file (BPF objects are)' % (param, path), param=param)
    end = '<' if data[5:6] == b'\x01' else '>'
    machine = struct.unpack_from(end + 'H', data, 18)[0]
    if machine != EM_BPF:
        raise ParameterError('%s: %s is an ELF file for machine %d, not a BPF object (EM_BPF, %d)'
                             % (param, path, machine, EM_BPF), param=param)
    sections = _sections(data, end, path, param)
    names = [name for name, _sh in sections]
    if section not in names:
        shown = [n for n, sh in sections if n and sh['type'] == 1 and sh['flags'] & 0x4 and sh['size']]  # code
        raise ParameterError('section: %s has no section %r (its program sections: %s)'
                             % (path, section, ', '.join(shown) or 'none'), param='section')
    index = names.index(section)
    functions = []
    for name, sh in sections:
        if sh['type'] != 2:       # SHT_SYMTAB
            continue
        strtab = sections[sh['link']][1]
        for offset in range(sh['offset'], sh['offset'] + sh['size'], 24):
            st_name, st_info, _other, st_shndx, st_value, _size = struct.unpack_from(end + 'IBBHQQ', data, offset)
            if st_info & 0xf == 2 and st_shndx == index:    # STT_FUNC in our section
                functions.append((st_value, _cstr(data, strtab['offset'] + st_name)))
    if not functions:
        raise ParameterError('section: section %r of %s holds no program (no function symbol)' % (section, path),
                             param='section')
    return sorted(functions)[0][1]


def _sections(data, end, path, param):
    try:
        shoff = struct.unpack_from(end + 'Q', data, 40)[0]
        shentsize, shnum, shstrndx = struct.unpack_from(end + 'HHH', data, 58)
        headers = []
        for i in range(shnum):
            fields = struct.unpack_from(end + 'IIQQQQIIQQ', data, shoff + i * shentsize)
            headers.append(dict(name=fields[0], type=fields[1], flags=fields[2], offset=fields[4], size=fields[5],
                                link=fields[6]))
        names = headers[shstrndx]['offset']
        return [(_cstr(data, names + sh['name']), sh) for sh in headers]
    except (struct.error, IndexError):
        raise ParameterError('%s: %s is a truncated or corrupt ELF file' % (param, path), param=param)


def _cstr(data, offset):
    stop = data.find(b'\0', offset)
    return data[offset:stop if stop >= 0 else len(data)].decode('utf-8', 'replace')


# ---------------------------------------------------------------- tools

def _version(text):
    match = re.search(r'(\d+)\.(\d+)', text or '')
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_tool(name, minimum, param, which=shutil.which, run=None):
    """Absolute path of tool ``name`` on PATH with at least version ``minimum``; MissingDependency otherwise."""
    path = which(name)
    if path is None:
        raise MissingDependency('%s: %s is not installed on the node (Debian package: %s)'
                                % (param, name, TOOL_PACKAGES.get(name, name)), param=param)
    run = run or _run
    code, out, err = run([path, '--version'], timeout=30)
    found = _version(out + err) if code == 0 else None
    if found is None or found < minimum:
        raise MissingDependency('%s: %s is version %s, cni_xdp needs %d.%d or later'
                                % (param, path, '.'.join(str(x) for x in found) if found else 'unknown',
                                   minimum[0], minimum[1]), param=param)
    return path


def _run(argv, timeout=DEFAULT_TIMEOUT):
    """(exit code, stdout, stderr) of ``argv`` (a list, no shell)."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True)
    except OSError as exc:
        return 127, '', '%s: %s' % (argv[0], os.strerror(exc.errno or errno.ENOENT))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return 124, out.decode('utf-8', 'replace'), 'timed out after %s s' % timeout
    return proc.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


# ---------------------------------------------------------------- compiling

def source_digest(path):
    return file_digest(path, 'source')


def multiarch_include(clang, run=None):
    """``-I/usr/include/<triplet>`` for <asm/types.h> (Debian's multiarch layout), or []."""
    code, out, _err = (run or _run)([clang, '-print-multiarch'], timeout=30)
    triplet = out.strip() if code == 0 else ''
    path = '/usr/include/%s' % triplet
    return ['-I' + path] if triplet and os.path.isdir(path) else []


def _is_elf(path):
    try:
        with open(path, 'rb') as f:
            return f.read(4) == b'\x7fELF'
    except (IOError, OSError):
        return False


def compile_source(clang, source, cache_dir, run=None):
    """(object path, sha256, compiled now?) for C file ``source``; the cache is keyed by the source's sha256."""
    run = run or _run
    digest = source_digest(source)
    target = os.path.join(cache_dir, '%s.o' % digest)
    if _is_elf(target):   # a file a crash left empty or cut is no hit: compiled again, then replaced
        return target, digest, False
    try:
        os.makedirs(cache_dir, 0o755)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise ParameterError('cache_dir: cannot create %s: %s' % (cache_dir, os.strerror(exc.errno)),
                                 param='cache_dir')
    fd, temp = tempfile.mkstemp(prefix='.%s.' % digest[:12], suffix='.o', dir=cache_dir)
    os.close(fd)
    try:
        argv = [clang, '-O2', '-g', '-target', 'bpf'] + multiarch_include(clang, run) + [
            '-c', source, '-o', temp]
        code, _out, err = run(argv)
        if code != 0:
            raise ParameterError('source: %s does not compile: %s' % (source, compile_error(err, source)),
                                 param='source', compiler_output=err.strip().splitlines()[-40:])
        os.chmod(temp, 0o644)
        with open(temp, 'rb') as f:   # on disk before its name says it is there
            os.fsync(f.fileno())
        os.rename(temp, target)
        temp = None
    finally:
        if temp is not None:
            _fileutil.remove(temp)
    return target, digest, True


def compile_error(stderr, source):
    """The first ``file:line:col: error: ...`` of clang's output (the source's own first), else its last line."""
    lines = [line for line in (stderr or '').splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r'^.+?:\d+:\d+: (fatal )?error: ', line)]
    own = [line for line in errors if line.startswith(source + ':')]
    if own or errors:
        return (own or errors)[0]
    return lines[-1] if lines else 'clang failed without a message'


# ---------------------------------------------------------------- the private bpffs

def _libc():
    return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)


@contextlib.contextmanager
def private_bpffs():
    """A bpffs directory visible only to this process (and its children) for the block; see the module doc.

    Afterwards the process is back in its own mount namespace, in the working
    directory it had (setns resets it to /), and the empty directory is gone:
    it is removed from the original namespace, where it never was a mount point.
    """
    libc = _libc()
    cwd = os.getcwd()
    home = os.open('/proc/self/ns/mnt', os.O_RDONLY | os.O_CLOEXEC)
    directory = None
    try:
        if libc.unshare(CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            if err == errno.EPERM:
                raise PermissionDenied('a private mount namespace for bpffs needs CAP_SYS_ADMIN (become: true)')
            raise NotSupported('unshare(CLONE_NEWNS) failed: %s' % os.strerror(err))
        try:
            if libc.mount(None, b'/', None, MS_REC | MS_PRIVATE, None) != 0:
                raise NotSupported('making the private mount namespace private failed: %s'
                                   % os.strerror(ctypes.get_errno()))
            directory = tempfile.mkdtemp(prefix='cni-node-bpffs-')
            if libc.mount(b'bpf', directory.encode(), b'bpf', 0, None) != 0:
                raise NotSupported('mounting a bpffs failed: %s (the kernel needs CONFIG_BPF_SYSCALL)'
                                   % os.strerror(ctypes.get_errno()))
            try:
                yield directory
            finally:
                libc.umount2(directory.encode(), MNT_DETACH)   # the namespace goes anyway; leaving it drops the mount
        finally:
            if libc.setns(home, CLONE_NEWNS) != 0:
                raise KernelRefused('returning to the mount namespace of the module failed: %s'
                                    % os.strerror(ctypes.get_errno()))
            try:
                os.chdir(cwd)
            except OSError:
                pass   # the directory went away meanwhile: stay at /
    finally:
        os.close(home)
        if directory is not None:
            try:
                os.rmdir(directory)
            except OSError:
                pass   # not empty or already gone: never worth hiding the real error for


# ---------------------------------------------------------------- bpftool

def verifier_tail(stderr, lines=VERIFIER_LINES):
    """The last lines of the verifier's log in libbpf's output, else of the whole output."""
    text = stderr or ''
    match = re.search(r'-- BEGIN PROG LOAD LOG --\n(.*?)-- END PROG LOAD LOG --', text, re.S)
    body = match.group(1) if match else text
    kept = [line for line in body.splitlines() if line.strip()]
    return kept[-lines:]


class Bpf(object):
    """bpftool inside a private bpffs (``pin_dir``, from ``private_bpffs``)."""

    def __init__(self, bpftool, pin_dir, run=None):
        self.bpftool = bpftool
        self.pin_dir = pin_dir
        self.run = run or _run
        self._count = 0

    def _tool(self, what, args, param, netns=None):
        with _netns.entered(netns):
            code, out, err = self.run([self.bpftool] + args)
        if code != 0:
            text = ' '.join(line.strip() for line in (err or out).splitlines() if line.strip())[-600:]
            raise KernelRefused('%s: %s: %s' % (param, what, text or 'bpftool exited with %d' % code),
                                param=param)
        return out

    def _json(self, what, args, param):
        out = self._tool(what, ['--json'] + args, param)
        try:
            return json.loads(out)
        except ValueError:
            raise CniNodeError('%s: bpftool answered no JSON: %r' % (what, out[:200]))

    def load(self, path, program, param='object', offload_dev=None, netns=None, shown=None):
        """Load every program of object ``path`` as XDP (the verifier runs); program ``program``'s info
        (``id``, ``tag``, ``name``) and its pin. Nothing is attached. A rejection fails with the log's tail."""
        self._count += 1
        directory = os.path.join(self.pin_dir, 'load%d' % self._count)
        args = ['prog', 'loadall', path, directory, 'type', 'xdp']
        if offload_dev:
            args += ['dev', offload_dev]
        with _netns.entered(netns if offload_dev else None):
            code, out, err = self.run([self.bpftool] + args)
        if code != 0:
            tail = verifier_tail(err or out)
            raise KernelRefused('%s: the kernel did not load %s: %s' % (param, shown or path, '\n'.join(tail)),
                                param=param, verifier_log=tail)
        pin = os.path.join(directory, program)
        if not os.path.exists(pin):
            raise ParameterError('section: bpftool loaded %s but no program %r' % (path, program), param='section')
        info = self._json('reading the loaded program', ['prog', 'show', 'pinned', pin], param)
        return program_info(info), pin

    def info(self, prog_id):
        """``id``, ``tag``, ``name`` of loaded program ``prog_id`` (None when it is gone)."""
        try:
            return program_info(self._json('reading program %d' % prog_id, ['prog', 'show', 'id', str(prog_id)],
                                           'dev'))
        except CniNodeError:
            return None

    def pin(self, prog_id):
        """Pin program ``prog_id`` in the private bpffs (an undo can then put it back); the pin's path."""
        path = os.path.join(self.pin_dir, 'prog%d' % prog_id)
        if not os.path.exists(path):
            self._tool('keeping program %d for an undo' % prog_id, ['prog', 'pin', 'id', str(prog_id), path], 'dev')
        return path

    # The step methods (``_steps.Runner`` calls them; ``what`` first).

    def attach(self, what, netns, ifname, mode, pin, replace=True):
        args = ['net', 'attach', ATTACH_TYPES[mode], 'pinned', pin, 'dev', ifname]
        self._tool(what, args + (['overwrite'] if replace else []), 'mode' if mode != 'auto' else 'dev', netns)

    def detach(self, what, netns, ifname, mode):
        self._tool(what, ['net', 'detach', ATTACH_TYPES[mode], 'dev', ifname], 'dev', netns)

    def restore(self, what, netns, ifname, mode, pin, now_mode):
        """Put ``pin`` back in ``mode`` (None: nothing) where ``now_mode`` holds a program now (None: none)."""
        if now_mode is not None and now_mode != mode:
            self.detach(what, netns, ifname, now_mode)
        if mode is not None:
            self.attach(what, netns, ifname, mode, pin)


def program_info(data):
    return dict(id=data.get('id'), tag=data.get('tag'), name=data.get('name'))


def file_digest(path, param):
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (IOError, OSError) as exc:
        raise ParameterError('%s: cannot read %s: %s' % (param, path, os.strerror(exc.errno or errno.EIO)),
                             param=param)


class Toolchain(object):
    """What ``_xdp.run`` asks of the BPF side: the wanted program (``program``) and a ``Bpf`` (``session``).

    Tools are looked up when first needed. In check mode a source missing
    from the cache is compiled into a temporary directory, removed at the
    end of the session: check mode writes nothing.
    """

    def __init__(self, run=None):
        self.run = run or _run
        self._bpftool = None
        self._temp = None

    def bpftool(self):
        if self._bpftool is None:
            self._bpftool = find_tool('bpftool', MIN_BPFTOOL, 'object', run=self.run)
        return self._bpftool

    def program(self, spec, check_mode=False):
        """``{path, sha256, program, param}`` of the wanted program (compiling ``source`` when needed)."""
        if spec.source is not None:
            clang = find_tool('clang', MIN_CLANG, 'source', run=self.run)
            cache = spec.cache_dir
            if check_mode and not os.path.isfile(os.path.join(cache, '%s.o' % source_digest(spec.source))):
                self._temp = self._temp or tempfile.mkdtemp(prefix='cni-node-xdp-')
                cache = self._temp
            path = compile_source(clang, spec.source, cache, run=self.run)[0]
            param = 'source'
        else:
            path, param = spec.object, 'object'
        name = read_object(path, spec.section, param=param)
        shown = path if spec.source is None else '%s (compiled: %s)' % (spec.source, path)
        return dict(path=path, sha256=file_digest(path, param), program=name, param=param, shown=shown)

    @contextlib.contextmanager
    def session(self):
        try:
            tool = self.bpftool()
            with private_bpffs() as directory:
                yield Bpf(tool, directory, run=self.run)
        finally:
            if self._temp is not None:
                shutil.rmtree(self._temp, ignore_errors=True)
                self._temp = None
