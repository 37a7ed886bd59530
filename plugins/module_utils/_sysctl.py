# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Core of cni_sysctl: normalise, plan, apply. Pure Python: no Ansible.

``plan`` reads actual state and computes the difference to the desired
state (the same in check mode and in a real run), and ``apply`` carries out
exactly that plan:

1. stage the persistence file (and the modules-load.d file) as temporary
   files next to their targets: the step that can fail for space or
   permission, done before anything changes;
2. load the kernel modules that missing keys need (``load_modules``);
3. write each runtime value to /proc/sys and read it back; when the kernel
   refuses or changes (clamps) a value, every value written so far is put
   back and the run fails naming the key, so the node is left as it was;
4. rename the staged files into place (``commit_all``); a failure there
   undoes the renames and puts the runtime values back too.

``run`` is the whole of a module run, inside ``netns`` when given. The
module passes in ``ProcSys`` and ``KernelModules`` (with its way of running
modprobe), as the link modules pass in ``Netlink``.

Everything that can be known before a write (unknown keys, wrong shapes,
read-only keys, keys that are not per-namespace, a missing directory) is
refused by ``plan``, before anything changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.cni.node.plugins.module_utils import _fileutil, _netns
from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    ParameterError,
    StateFileError,
)
from ansible_collections.cni.node.plugins.module_utils._params import absolute_path, netns_value
from ansible_collections.cni.node.plugins.module_utils._procsys import canonical_key
from ansible_collections.cni.node.plugins.module_utils._result import Changes

HEADER = ('# Managed by cni.node.cni_sysctl: changes made here are overwritten.\n')

# Key prefix -> kernel module that provides the keys.
KEY_MODULES = (
    ('net.bridge.', 'br_netfilter'),
    ('net.netfilter.nf_conntrack_', 'nf_conntrack'),
    ('net.ipv4.vs.', 'ip_vs'),
)

_FILE_RE = re.compile(r'^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*\.conf\Z')
_INT_RE = re.compile(r'^-?[0-9]+\Z')
_TRUE = ('true', 'yes')
_FALSE = ('false', 'no')


def module_for_key(key):
    """Kernel module that provides ``key``, or None."""
    for prefix, module in KEY_MODULES:
        if key.startswith(prefix):
            return module
    return None


def _decimal(token):
    """str(int(token)) of an _INT_RE token, without int() (which refuses more than 4300 digits)."""
    digits = token.lstrip('-').lstrip('0') or '0'
    return '-' + digits if token.startswith('-') and digits != '0' else digits


def normalise_value(key, value):
    """The string the kernel reads back for ``value``; raises ParameterError.

    Booleans (and the strings true/false/yes/no) become 1/0, numbers their
    decimal text (``007`` -> ``7``), lists their items joined by a space, and
    runs of whitespace one space (the kernel prints multi-value keys with
    tabs).
    """
    where = 'params.%s' % key
    if value is None:
        raise ParameterError('%s: a value is required with state=present' % where, param='params')
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ParameterError('%s: %r is not a valid value (sysctl values are integers or strings)' % (where, value),
                             param='params')
    if isinstance(value, (list, tuple)):
        if not value:
            raise ParameterError('%s: an empty list is not a value' % where, param='params')
        return ' '.join(t for t in (normalise_value(key, v) for v in value) if t)   # '' items add no space
    if isinstance(value, str):
        if '\n' in value or '\r' in value or '\0' in value:
            raise ParameterError('%s: a value must be a single line' % where, param='params')
        tokens = [_decimal(t) if _INT_RE.match(t) else t for t in value.split()]
        text = ' '.join(tokens)
        if text.lower() in _TRUE:
            return '1'
        if text.lower() in _FALSE:
            return '0'
        return text
    raise ParameterError('%s: %r is not a valid value (expected an integer, a string, a boolean or a list)'
                         % (where, value), param='params')


def shape_error(key, current, desired):
    """Message when ``desired`` cannot fit a key that now holds ``current``."""
    cur = current.split()
    if cur and all(_INT_RE.match(t) for t in cur):
        want = desired.split()
        if len(want) != len(cur) or not all(_INT_RE.match(t) for t in want):
            what = 'an integer' if len(cur) == 1 else '%d integers separated by spaces' % len(cur)
            return ('params.%s: %r is not valid: the key holds %s (now %r)' % (key, desired, what, current))
    return None


def parse_conf(text, path='sysctl file'):
    """Entries of a sysctl.d file as {canonical key: normalised value}."""
    entries = {}
    for lineno, line in enumerate((text or '').splitlines(), 1):
        line = line.strip()
        if not line or line[0] in '#;':
            continue
        if '=' not in line:
            raise StateFileError('%s line %d is not "key = value": %r' % (path, lineno, line))
        key, value = line.split('=', 1)
        key = key.strip().lstrip('-')
        try:
            key = canonical_key(key)
        except ParameterError:
            raise StateFileError('%s line %d: %r is not a sysctl key' % (path, lineno, key))
        entries[key] = ' '.join(value.split())
    return entries


def render_conf(entries):
    """Canonical content of the managed sysctl.d file, lines in the entries' order."""
    return HEADER + ''.join('%s = %s\n' % (k, v) for k, v in entries.items())


def render_modules(modules):
    return ('# Managed by cni.node.cni_sysctl: modules its kernel parameters need.\n'
            + ''.join('%s\n' % m for m in sorted(modules)))


def parse_modules(text):
    return set(line.split('#', 1)[0].strip() for line in (text or '').splitlines()
               if line.split('#', 1)[0].strip())


class Spec(object):
    """Validated, normalised arguments of cni_sysctl."""

    def __init__(self, params, state='present', persist=None, sysctl_dir='/etc/sysctl.d',
                 file='90-cni-node.conf', exclusive=False, load_modules=True,
                 modules_load_dir='/etc/modules-load.d', netns=None):
        if state not in ('present', 'absent'):
            raise ParameterError('state: %r is not valid (present or absent)' % (state,), param='state')
        self.state = state
        self.netns = netns_value(netns)
        if persist is None:
            persist = netns is None
        if persist and netns is not None:
            raise ParameterError(
                'persist: a network namespace does not survive a reboot, so its values cannot be '
                'persisted in sysctl.d; use persist=false with netns', param='persist')
        self.persist = persist
        if not persist and (state == 'absent' or exclusive):
            raise ParameterError(
                '%s only changes the managed file, so it needs persist=true (persist is false%s)'
                % ('state=absent' if state == 'absent' else 'exclusive=true',
                   ' by default with netns' if netns is not None else ''),
                param='state' if state == 'absent' else 'exclusive')
        if not _FILE_RE.match(file or ''):
            raise ParameterError(
                'file: %r is not valid: a plain file name ending in .conf (systemd-sysctl reads only *.conf)'
                % (file,), param='file')
        absolute_path(sysctl_dir, 'sysctl_dir')
        absolute_path(modules_load_dir, 'modules_load_dir')
        if os.path.normpath(sysctl_dir) == os.path.normpath(modules_load_dir):
            raise ParameterError('modules_load_dir: must differ from sysctl_dir (both files are named %s)' % file,
                                 param='modules_load_dir')
        self.path = os.path.join(sysctl_dir, file)
        self.sysctl_dir = sysctl_dir
        self.modules_path = os.path.join(modules_load_dir, file)
        self.modules_load_dir = modules_load_dir
        self.exclusive = exclusive
        self.load_modules = load_modules
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ParameterError('params: expected a dictionary of key: value, got %s' % type(params).__name__,
                                 param='params')
        if not params and not exclusive:
            raise ParameterError('params: at least one key is required (or exclusive=true to empty the file)',
                                 param='params')
        self.params = {}
        for raw_key, value in params.items():
            key = canonical_key(raw_key)
            if key in self.params:
                raise ParameterError('params: %r and another spelling name the same key %s' % (raw_key, key),
                                     param='params')
            if netns is not None and not key.startswith('net.'):
                raise ParameterError(
                    'params.%s: not a per-network-namespace key, so it cannot be set with netns '
                    '(only net.* keys live in a network namespace; this one is global to the node)' % key,
                    param='params')
            self.params[key] = normalise_value(key, value) if state == 'present' else None


class Plan(object):
    """What a run changes: filled by ``plan``, carried out by ``apply``."""

    def __init__(self, desired):
        self.changes = Changes()
        self.desired = desired   # {key: value} asked for at runtime ({} with state=absent)
        self.load = []           # modules to load
        self.writes = []         # (key, before, after) runtime writes, in the order asked for
        self.file = None         # (path, before_text, after_text) or None
        self.modules_file = None
        self.actual = {}         # runtime values read before the run
        self.values = None       # runtime values after the run (state=present), filled by ``run``
        self.cleaned = []        # temporaries of killed runs removed (check mode: to remove), filled by ``run``


def plan(spec, procsys, kmods, read_text, host_exists=None):
    """Compute the plan. ``procsys`` reads the (namespace's) /proc/sys.

    ``host_exists`` (set of keys present on the host) sharpens the error for
    a net.* key that is global and so absent inside a namespace.
    """
    p = Plan(spec.params if spec.state == 'present' else {})
    if spec.state == 'present':
        _plan_runtime(spec, p, procsys, kmods, host_exists)
    if spec.persist:
        _plan_files(spec, p, kmods, read_text)
    return p


def _check_writable(key, cur, want, procsys):
    """Refuse, before any write, what the kernel is known to refuse."""
    msg = shape_error(key, cur, want)
    if msg:
        raise ParameterError(msg, param='params')
    if cur != want and not procsys.writable(key):
        raise ParameterError(
            'params.%s: read-only here (/proc/sys mounted read-only, or a key that is read-only '
            'inside a network namespace); it cannot be set to %r' % (key, want), param='params')


def _plan_runtime(spec, p, procsys, kmods, host_exists):
    # Keys are written in the order they were given: one key can reset
    # another (net.ipv4.ip_forward resets net.ipv4.conf.*.forwarding), so the
    # order is the user's to choose, as in a sysctl.d file.
    for key, want in spec.params.items():
        cur = procsys.read(key)
        p.actual[key] = cur
        if cur is None:
            module = module_for_key(key)
            if module and spec.load_modules and not kmods.loaded(module):
                if module not in p.load:
                    problem = kmods.load_problem(module)
                    if problem:
                        raise ParameterError(
                            'load_modules: params.%s needs kernel module %s, which cannot be loaded here: %s'
                            % (key, module, problem), param='load_modules', module=module)
                    p.load.append(module)
                    p.changes.add('module/%s' % module, 'not loaded', 'loaded')
            elif spec.netns is not None and host_exists is not None and key in host_exists:
                raise ParameterError(
                    'params.%s: exists on the host but not inside network namespace %r: it is a global '
                    'key, not a per-namespace one, and cannot be set with netns' % (key, spec.netns),
                    param='params')
            elif module and not spec.load_modules:
                raise ParameterError(
                    'params.%s: unknown to this kernel; it is provided by the %s module: load it first or '
                    'set load_modules=true' % (key, module), param='params')
            else:
                raise ParameterError(
                    'params.%s: unknown key: there is no /proc/sys entry for it%s' % (
                        key, ' inside network namespace %r' % spec.netns if spec.netns else ''),
                    param='params')
        else:
            _check_writable(key, cur, want, procsys)
        if cur != want:
            p.writes.append((key, cur, want))
            p.changes.add('sysctl/%s' % key, cur, want)


def _existing_dir(path, param):
    problem = _fileutil.directory_problem(path)
    if problem:
        raise ParameterError('%s: %s' % (param, problem), param=param)


def _plan_files(spec, p, kmods, read_text):
    _existing_dir(spec.sysctl_dir, 'sysctl_dir')
    if not os.path.isdir(spec.sysctl_dir):
        raise ParameterError('sysctl_dir: %s does not exist; create it first (the module does not create '
                             'directories)' % spec.sysctl_dir, param='sysctl_dir')
    before_text = read_text(spec.path)
    before = parse_conf(before_text, spec.path) if before_text is not None else {}
    # Keys already in the file first (in their order), then the task's keys
    # in the order given: systemd-sysctl applies the lines in file order.
    if spec.state == 'present':
        after = {} if spec.exclusive else dict((k, v) for k, v in before.items() if k not in spec.params)
        after.update(spec.params)
    else:
        after = {} if spec.exclusive else dict((k, v) for k, v in before.items() if k not in spec.params)
    after_text = render_conf(after) if after else None
    if after_text != before_text:
        keys = list(before) + [k for k in after if k not in before]
        for key in keys:
            p.changes.add('persist/%s' % key, before.get(key), after.get(key))
        if before == after:
            # Same entries, other order or formatting: the file is rewritten.
            p.changes.add('file%s' % spec.path, 'not in canonical form', 'canonical form')
        p.changes.add_text(spec.path, before_text, after_text)
        p.file = (spec.path, before_text, after_text)
    if spec.load_modules:
        _plan_modules_file(spec, p, kmods, read_text, after)


def _plan_modules_file(spec, p, kmods, read_text, entries):
    wanted = set(m for m in (module_for_key(k) for k in entries) if m and not kmods.builtin(m))
    before_text = read_text(spec.modules_path)
    after_text = render_modules(wanted) if wanted else None
    if after_text == before_text:
        return
    if wanted:
        _existing_dir(spec.modules_load_dir, 'modules_load_dir')
    if wanted and not os.path.isdir(spec.modules_load_dir):
        raise ParameterError('modules_load_dir: %s does not exist; create it first' % spec.modules_load_dir,
                             param='modules_load_dir')
    before = parse_modules(before_text)
    for module in sorted(before | wanted):
        p.changes.add('modules_load/%s' % module, module in before, module in wanted)
    p.changes.add_text(spec.modules_path, before_text, after_text)
    p.modules_file = (spec.modules_path, before_text, after_text)


def _writes_after_loading(p, procsys):
    """The writes to do, with keys that loading a module made appear checked first."""
    writes = []
    for key, before, after in p.writes:
        if before is None:
            before = procsys.read(key)
            if before is None:
                raise KernelRefused('params.%s: still unknown after loading %s' % (key, module_for_key(key)),
                                    param='params', key=key)
            p.actual[key] = before
            if before == after:
                continue
            _check_writable(key, before, after, procsys)
        writes.append((key, before, after))
    return writes


def run(spec, procsys, kmods, check_mode=False):
    """The whole of a cni_sysctl run, inside ``spec.netns`` when given: plan, apply unless check mode, read back.

    The plan's ``values`` holds each key's value after the run (state=present),
    its ``cleaned`` the temporary files that killed runs left beside the
    managed files and that this run removed (check mode: would remove).
    """
    host_exists = None
    if spec.netns is not None:
        # Read on the host, before entering: sharpens the error for a global key.
        host_exists = set(k for k in spec.params if procsys.exists(k))
    with _netns.entered(spec.netns):
        p = plan(spec, procsys, kmods, _fileutil.read_text, host_exists)
        if spec.persist:
            targets = [spec.path] + ([spec.modules_path] if spec.load_modules else [])
            p.cleaned = _fileutil.clean_temps(targets, check_mode=check_mode)
        if not check_mode:
            apply(p, procsys, kmods)
        if spec.state == 'present':
            p.values = dict((k, procsys.read(k)) for k in spec.params)
    return p


def apply(p, procsys, kmods):
    """Carry out a plan: stage the files, set the runtime values, then rename the files into place.

    Files are written to temporary files first (the step that can fail for
    space or permission), then the runtime values are set, then the files
    are renamed into place; a failure at any step leaves the node as it was
    (loaded modules stay loaded).
    """
    staged = [_fileutil.StagedFile(*change) for change in (p.file, p.modules_file) if change]
    try:
        for f in staged:
            f.prepare()
        apply_runtime(p, procsys, kmods, commit=lambda: _fileutil.commit_all(staged))
    finally:
        for f in staged:
            f.discard()


def apply_runtime(p, procsys, kmods, commit=None):
    """Carry out a plan's runtime part, then ``commit`` (the files).

    Every check that can come before a write does: keys that appear only
    once their module is loaded are checked after loading and before the
    first write. Each value is read back after its write; keys that a later
    write moved are set once more, and the whole set is checked at the end
    (two keys that cannot both hold fail the run). On any failure,
    ``commit`` included, every value this run wrote is put back; the error
    says what was put back and what could not be.
    """
    for module in p.load:
        kmods.load(module)
    writes = _writes_after_loading(p, procsys)
    written = []
    try:
        for key, before, after in writes:
            procsys.write(key, after)
            written.append(key)
            got = procsys.read(key)
            if got != after:
                raise KernelRefused(
                    'params.%s: the kernel changed %r to %r (out of range or clamped)' % (key, after, got),
                    param='params', key=key, requested=after, kernel=got)
        # One key can reset another (net.ipv4.ip_forward resets every
        # net.ipv4.conf.*.forwarding): set the keys a write moved once more,
        # in the order given, then check the whole set.
        for key, want in p.desired.items():
            if procsys.read(key) != want:
                procsys.write(key, want)
                if key not in written:
                    written.append(key)
        moved = [(k, want, procsys.read(k)) for k, want in p.desired.items()]
        moved = [m for m in moved if m[1] != m[2]]
        if moved:
            key, want, got = moved[0]
            raise KernelRefused(
                'params.%s: is %r after the run, not %r: setting another key of this task (%s) changes it, '
                'so both cannot hold; do not set one value under two names (for example net.ipv4.ip_forward '
                'and net.ipv4.conf.all.forwarding)' % (key, got, want, ', '.join(k for k in written if k != key)),
                param='params', key=key)
        if commit is not None:
            commit()
    except Exception as exc:
        note = _restore(p, procsys, written)
        if isinstance(exc, CniNodeError):
            exc.msg += note
            exc.args = (exc.msg,)
        raise


def _restore(p, procsys, written):
    """Put back the values written by this run; a sentence saying how that went."""
    if not written:
        return ''
    for key in reversed(written):
        try:
            procsys.write(key, p.actual[key])
        except Exception:  # pylint: disable=broad-exception-caught
            pass
    lost = [k for k in p.actual if p.actual[k] is not None and procsys.read(k) != p.actual[k]]
    note = '; the values this run had written were put back (%s)' % ', '.join(written)
    if lost:
        note += ', except %s (now %s)' % (', '.join(lost), ', '.join(repr(procsys.read(k)) for k in lost))
    if p.load:
        note += '; loaded modules stay loaded (%s)' % ', '.join(p.load)
    return note
