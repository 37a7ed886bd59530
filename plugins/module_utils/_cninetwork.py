# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Core of cni_network: desired list, plan, apply. Pure Python: no Ansible.

``Spec`` validates the arguments and builds the desired configuration list
(refused before anything happens when it breaks the CNI specification).
``plan`` reads the directory, resolves ``cni_version: auto`` and checks the
plugin binaries (``validate``), compares the configuration semantically (the
parsed, normalised JSON, never the text), and decides which files to write and
remove; it refuses a change that would leave two files defining the network.
``apply`` writes the network's file atomically first, then removes the files
``exclusive`` drops, so a runtime watching the directory never sees it
without a network; a failure puts back what was done. With ``backup`` (a
callable the module passes in: its ``backup_local``) ``apply`` first copies
every file it replaces or removes. ``run`` is the whole of a module run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import stat

from ansible_collections.cni.node.plugins.module_utils import _cniexec, _cniloader, _cnispec, _dhcp, _errors, _fileutil
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._fileutil import StagedFile, commit_all
from ansible_collections.cni.node.plugins.module_utils._params import absolute_path, check_paths
from ansible_collections.cni.node.plugins.module_utils._result import Changes

DEFAULT_MODE = 0o644


def parse_mode(value, param='mode'):
    """An octal file mode from ``'0644'``, ``'644'`` or an integer."""
    if value is None:
        return DEFAULT_MODE
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str) and re.match(r'^0?[0-7]{3,4}\Z', value.strip()):
        mode = int(value.strip(), 8)
    else:
        raise ParameterError('%s: %r is not valid (expected an octal mode such as "0644"; symbolic modes are not '
                             'supported)' % (param, value), param=param)
    if not 0 <= mode <= 0o7777:
        raise ParameterError('%s: %o is out of range' % (param, mode), param=param)
    return mode


class Prober(object):
    """Plugin binaries on the node (replaced by a fake in unit tests)."""

    def __init__(self, timeout=_cniexec.DEFAULT_TIMEOUT):
        self.timeout = timeout

    def find(self, plugin_type, bin_dirs):
        return _cniexec.find_plugin(plugin_type, bin_dirs)

    def problems(self, path):
        return _cniexec.binary_problems(path)

    def versions(self, path):
        return _cniexec.versions(path, timeout=self.timeout)


class Spec(object):
    """Validated arguments of cni_network and the desired configuration list."""

    def __init__(self, name, plugins=None, cni_version='auto', disable_check=False, disable_gc=False,
                 conf_dir='/etc/cni/net.d', bin_dirs=None, priority=10, validate=True, exclusive=False,
                 mode=None, state='present', owner=None, group=None):
        if state not in ('present', 'absent'):
            raise ParameterError('state: %r is not valid (present or absent)' % (state,), param='state')
        self.state = state
        self.name = _cnispec.check_name(name)
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 999:
            raise ParameterError('priority: %r is not valid (expected an integer from 0 to 999; it orders the files '
                                 'a runtime reads, lowest first)' % (priority,), param='priority')
        self.priority = priority
        if conf_dir is None:
            raise ParameterError('conf_dir: must be an absolute path, got None', param='conf_dir')
        self.conf_dir = os.path.normpath(absolute_path(conf_dir, 'conf_dir'))
        self.filename = '%02d-%s.conflist' % (priority, name)
        self.path = os.path.join(self.conf_dir, self.filename)
        if bin_dirs is not None and not isinstance(bin_dirs, (list, tuple)):
            raise ParameterError('bin_dirs: %r is not a list of absolute directory paths' % (bin_dirs,),
                                 param='bin_dirs')
        self.bin_dirs = list(bin_dirs) if bin_dirs else ['/opt/cni/bin']
        check_paths(dict(bin_dirs=self.bin_dirs), ['bin_dirs'])
        self.validate = validate
        self.exclusive = exclusive
        self.mode = parse_mode(mode)
        self.warnings = []
        self.auto = cni_version in (None, 'auto')
        if not self.auto:
            _cnispec.check_version(cni_version, 'cni_version')
        self.cni_version = None if self.auto else cni_version
        self.desired = None
        if state == 'present':
            if not plugins:
                raise ParameterError('plugins: at least one plugin is required with state=present (the chain, for '
                                     'example [{type: bridge, ...}, {type: portmap, ...}])', param='plugins')
            raw = {'name': name, 'cniVersion': self.cni_version or _cnispec.LATEST, 'plugins': plugins}
            if disable_check:
                raw['disableCheck'] = True
            if disable_gc:
                raw['disableGC'] = True
            # Validated now with the version given (or the latest for auto;
            # validated again once auto resolves).
            self.desired = _cnispec.normalise_list(raw, warnings=[] if self.auto else self.warnings)
            self.raw = raw
        # -1: keep the file's owner or group (a new file gets the module's).
        self.uid, self.gid = _fileutil.resolve_owner(owner, group)

    def binaries(self):
        """(JSON path of the type, plugin type) of every binary the chain runs: plugins and their IPAM."""
        out = []
        for i, plugin in enumerate(self.desired['plugins']):
            out.append(('plugins[%d].type' % i, plugin['type']))
            ipam = plugin.get('ipam')
            if isinstance(ipam, dict) and ipam.get('type'):
                out.append(('plugins[%d].ipam.type' % i, ipam['type']))
        return out


class Plan(object):
    def __init__(self):
        self.changes = Changes()
        self.path = None          # the network's own file
        self.write = None         # StagedFile for the network's file, or None
        self.attrs = None         # (path, mode or None, uid, gid) to set on an unchanged file
        self.remove = []          # StagedFile per file to remove
        self.removed = []         # their paths
        self.cni_version = None
        self.plugin_versions = {}
        self.binaries = {}
        self.missing = []         # binaries not found, tolerated in check mode
        self.default_network = None
        self.config = None
        self.backup_files = []    # backups apply made (backup), in the order of the files
        self.backup_file = None   # the backup of the network's own file, when it had one
        self.cleaned = []         # temporaries of killed runs removed (check mode: to remove)


def _read_state(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st


def resolve_binaries(spec, prober, p, missing_ok=False):
    """Find each binary; with ``validate``, check it; ask versions when needed.

    ``missing_ok`` (check mode): a missing binary is a warning, not an error.
    """
    need_versions = spec.auto or spec.validate
    for jpath, ptype in spec.binaries():
        if ptype in p.binaries:
            continue
        path = prober.find(ptype, spec.bin_dirs)
        if path is None and missing_ok and (spec.auto or spec.validate):
            # Check mode: an earlier task of the same run (cni_plugin) may
            # install it; the real run checks it for real.
            p.missing.append(ptype)
            spec.warnings.append('%s: no plugin binary %r in bin_dirs (%s); check mode assumes an earlier task '
                                 'installs it (a real run fails if it is still missing)'
                                 % (jpath, ptype, ', '.join(spec.bin_dirs)))
            continue
        if path is None:
            if spec.auto or spec.validate:
                raise ParameterError(
                    '%s: no plugin binary %r in bin_dirs (%s); install it (cni.node.cni_plugin) or fix the type%s'
                    % (jpath, ptype, ', '.join(spec.bin_dirs),
                       '' if spec.auto else ', or set validate=false'), param='plugins', json_path=jpath)
            continue
        p.binaries[ptype] = path
        # A binary is checked before it is ever run (cni_version: auto runs
        # it even with validate=false): the module runs it as root.
        if spec.validate or spec.auto:
            problems = prober.problems(path)
            if problems:
                raise ParameterError('validate: plugin binary %s (%s) %s; a runtime runs it as root, so only root may '
                                     'be able to change it' % (path, jpath, '; '.join(problems)),
                                     param='validate', json_path=jpath)
        if need_versions:
            try:
                p.plugin_versions[ptype] = prober.versions(path)
            except _cniexec.PluginError as exc:
                raise ParameterError('%s: %s' % (jpath, exc.msg), param='plugins', json_path=jpath)


def _resolve_version(spec, p, existing_version=None):
    if spec.auto and p.missing and not p.plugin_versions:
        # Check mode with none of the binaries installed yet: the version the
        # file has now (else the newest spec version) stands in for it.
        return existing_version or _cnispec.SPEC_VERSIONS[-1]
    if spec.auto:
        version = _cnispec.highest_common(p.plugin_versions.values())
        if version is None:
            raise ParameterError('cni_version: auto found no spec version every plugin supports (%s)' % '; '.join(
                '%s: %s' % (t, ', '.join(v)) for t, v in sorted(p.plugin_versions.items())), param='cni_version')
        return version
    if spec.validate:
        for ptype, versions in sorted(p.plugin_versions.items()):
            if spec.cni_version not in versions:
                raise ParameterError(
                    'cni_version: %s is not supported by plugin %s (%s supports %s); use one of those, or auto'
                    % (spec.cni_version, ptype, p.binaries[ptype], ', '.join(versions)), param='cni_version')
    return spec.cni_version


def _parse_existing(text):
    """(normalised config or None, problem or None) of the file's current text."""
    if text is None:
        return None, None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:   # RecursionError: nested too deeply
        return None, 'not valid JSON (%s)' % exc
    try:
        return _cnispec.normalise_list(data), None
    except _cnispec.ConfigError as exc:
        return None, 'invalid: %s' % exc.msg


def _same_network_file(filename, name):
    """A file this module would have written for ``name`` at another priority."""
    return re.match(r'^[0-9]{2,3}-%s\.conflist\Z' % re.escape(name), filename) is not None


def plan(spec, prober, read_text, uid=-1, gid=-1, check_mode=False):
    """Compute the plan; raises ParameterError before any change.

    In ``check_mode`` a missing plugin binary is a warning: an earlier task
    of the same run may install it (the real run still requires it).
    """
    p = Plan()
    p.path = spec.path
    problem = _fileutil.directory_problem(spec.conf_dir)
    if problem:
        raise ParameterError('conf_dir: %s' % problem, param='conf_dir')
    if not os.path.isdir(spec.conf_dir):
        raise ParameterError('conf_dir: %s does not exist; create it first (the module does not create '
                             'directories)' % spec.conf_dir, param='conf_dir')
    files = _cniloader.scan(spec.conf_dir, read_text)
    after_text = None
    before_text = read_text(spec.path)
    before_conf, problem = _parse_existing(before_text)
    if spec.state == 'present':
        resolve_binaries(spec, prober, p, missing_ok=check_mode)
        p.cni_version = _resolve_version(spec, p, (before_conf or {}).get('cniVersion'))
        raw = dict(spec.raw, cniVersion=p.cni_version)
        p.config = _cnispec.normalise_list(raw, warnings=spec.warnings if spec.auto else [])
        spec.warnings.extend(_dhcp.socket_warnings(p.config))
        after_text = _cnispec.render(p.config)
    ours = spec.path
    if spec.state == 'present':
        _plan_file(spec, p, ours, before_text, before_conf, problem, after_text, uid, gid)
    elif before_text is not None:
        p.changes.add('file%s' % ours, 'present', 'absent')
        p.changes.add_text(ours, before_text, None)
        p.remove.append(_removal(ours, before_text))
        p.removed.append(ours)
    # Other files: removed by exclusive, or when they are this network's file
    # at another priority; any other file defining the network is refused.
    shadows = []
    for f in files:
        if f.path == ours:
            continue
        if spec.exclusive or (_same_network_file(f.filename, spec.name) and f.name == spec.name):
            p.changes.add('file%s' % f.path, 'present', 'absent')
            p.changes.add_text(f.path, f.text, None)
            p.remove.append(_removal(f.path, f.text))
            p.removed.append(f.path)
        elif f.name == spec.name and spec.state == 'present':
            shadows.append(f.path)
    if shadows:
        raise ParameterError(
            'name: network %r is also defined by %s; a runtime would load only one of them (%s by libcni\'s order), '
            'silently ignoring the other. Remove the other file, or use exclusive=true'
            % (spec.name, ', '.join(shadows), _first_for(spec, read_text, after_text, p.removed)),
            param='name', shadowed_by=shadows)
    overrides = dict((path, None) for path in p.removed)
    if spec.state == 'present':
        overrides[ours] = after_text if p.write else before_text
    after_files = _cniloader.scan(spec.conf_dir, read_text, overrides=overrides)
    first, trouble = _cniloader.default_network(after_files)
    p.default_network = dict(path=first.path, name=first.name) if first else None
    if trouble and first is not None:
        spec.warnings.append('default network: %s' % trouble)
    for name, paths in sorted(_cniloader.duplicates(after_files).items()):
        if name != spec.name:
            spec.warnings.append('network %r is defined by more than one file (%s): a runtime loads only %s'
                                 % (name, ', '.join(paths), paths[0]))
    return p


def _first_for(spec, read_text, after_text, removed):
    overrides = dict((path, None) for path in removed)
    overrides[spec.path] = after_text
    found, _problem = _cniloader.lookup(_cniloader.scan(spec.conf_dir, read_text, overrides=overrides), spec.name)
    return found.path if found else 'neither'


def _removal(path, text):
    st = _read_state(path)
    if st is None:
        return StagedFile(path, text, None)
    return StagedFile(path, text, None, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)


def _plan_file(spec, p, path, before_text, before_conf, problem, after_text, uid, gid):
    st = _read_state(path) if before_text is not None else None
    if before_text is None:
        p.changes.add('file%s' % path, 'absent', 'present')
        p.changes.add('config', None, p.config)
    elif problem is not None:
        p.changes.add('config', problem, p.config)
    else:
        for jpath, before, after in _cnispec.diff_paths(before_conf, p.config):
            p.changes.add('config/%s' % jpath, before, after)
    attrs = [None, -1, -1]
    if st is not None:
        cur_mode = stat.S_IMODE(st.st_mode)
        if cur_mode != spec.mode:
            p.changes.add('mode%s' % path, '%04o' % cur_mode, '%04o' % spec.mode)
            attrs[0] = spec.mode
        if uid != -1 and st.st_uid != uid:
            p.changes.add('owner%s' % path, st.st_uid, uid)
            attrs[1] = uid
        if gid != -1 and st.st_gid != gid:
            p.changes.add('group%s' % path, st.st_gid, gid)
            attrs[2] = gid
    if before_text is None or problem is not None or before_conf != p.config:
        p.changes.add_text(path, before_text, after_text)
        # Unless owner/group are given, a rewritten file keeps its owner and group.
        keep_uid = uid if uid != -1 or st is None else st.st_uid
        keep_gid = gid if gid != -1 or st is None else st.st_gid
        p.write = StagedFile(path, before_text, after_text, mode=spec.mode, uid=keep_uid, gid=keep_gid)
    elif attrs != [None, -1, -1]:
        # Same meaning: the file stays as it is; only its attributes change.
        p.attrs = (path,) + tuple(attrs)


def run(spec, prober, check_mode=False, backup=None):
    """The whole of a cni_network run: the plan, carried out (``backup`` first) unless ``check_mode``.

    The plan's ``cleaned`` lists the temporary files of the network's file
    that killed runs left in ``conf_dir``, removed (check mode: to remove).
    Nothing locks ``conf_dir``; a temporary a live run holds is never removed.
    """
    p = plan(spec, prober, _fileutil.read_text, spec.uid, spec.gid, check_mode=check_mode)
    p.cleaned = _fileutil.clean_temps([spec.path], check_mode=check_mode)
    if not check_mode:
        apply(p, backup=backup)
    return p


def apply(p, backup=None):
    """Carry out the plan: write (atomically), then set attributes, then remove; undo all on failure.

    ``backup(path)`` (the module's ``backup_local``) is called first for
    every existing file the plan replaces or removes and returns the
    backup's path; they land in ``p.backup_files``, and the backup of the
    network's own file (``p.path``) in ``p.backup_file``.
    """
    staged = ([p.write] if p.write else []) + p.remove
    if backup is not None:
        for f in staged:
            if f.before is not None:
                made = backup(f.path)
                p.backup_files.append(made)
                if f.path == p.path:
                    p.backup_file = made
    try:
        if p.write:
            p.write.prepare()
        commit_all(staged, then=lambda: _set_attrs(p.attrs))
    finally:
        if p.write:
            p.write.discard()


@_errors.doing('set the mode and owner of')
def _set_attrs(attrs):
    if attrs:
        path, mode, uid, gid = attrs
        if mode is not None:
            os.chmod(path, mode)
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
