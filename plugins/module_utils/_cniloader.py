# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a CNI network is read: which file a runtime loads, and the ``Network`` it runs. Pure Python.

The one place a network configuration is read (libcni's ``conf.go``): from a
directory, from the bytes of a file or of a cache entry, or from a module's
inline ``config``. Three questions, answered the way the runtimes answer them:

- **Which file defines network NAME** (libcni ``LoadNetworkConf``): the
  ``.conflist`` files in lexical (byte) order, the first whose ``name``
  matches; only when none does, the legacy ``.conf``/``.json`` files in
  lexical order. libcni stops at the first ``.conflist`` it cannot parse, so a
  broken file that sorts earlier hides every network after it.
- **Which network loads first** - the node's default network (containerd's
  go-cni and CRI-O): every ``.conf``, ``.conflist`` and ``.json`` file in one
  lexical order, the first one. containerd refuses to load at all when a file
  before it does not parse.
- **What a runtime runs** for network NAME (``load_network``): the file
  found as above, as a ``Network`` - the plugin objects as written, the
  effective ``cniVersion`` (the highest of ``cniVersion`` and
  ``cniVersions`` this collection implements), ``disableCheck`` and
  ``disableGC``, plus the plugins of the sibling folder ``<conf_dir>/NAME/``
  (libcni 1.2+) unless ``loadOnlyInlinedPlugins``. A single plugin
  configuration becomes a list of one, as libcni upconverts it.

Only regular files directly in the directory count, matched by their last
extension exactly (``x.conflist.bak`` and ``.x.conflist.tmp`` are ignored:
the temporary files of an atomic write are invisible to runtimes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.cni.node.plugins.module_utils import _cnispec, _fileutil
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

LIST_EXT = '.conflist'
CONF_EXTS = ('.conf', '.json')
ALL_EXTS = (LIST_EXT,) + CONF_EXTS


def _sort_key(filename):
    # Go's sort.Strings compares bytes.
    return filename.encode('utf-8', 'surrogateescape')


class ConfFile(object):
    """One network configuration file as a runtime sees it."""

    def __init__(self, path, text):
        self.path = path
        self.filename = os.path.basename(path)
        self.is_list = self.filename.endswith(LIST_EXT)
        self.text = text
        self.name = None       # network name, when the runtime can read one
        self.config = None     # normalised configuration list, when valid
        self.load_error = None  # why a runtime cannot load it (None: it loads)
        self.spec_error = None  # why it breaks the specification (None: valid)
        self.warnings = []
        self._parse()

    def _parse(self):
        try:
            data = json.loads(self.text)
        except (ValueError, RecursionError) as exc:   # RecursionError: nested too deeply
            self.load_error = self.spec_error = 'not valid JSON: %s' % exc
            return
        if not isinstance(data, dict):
            self.load_error = self.spec_error = 'not a JSON object'
            return
        self.load_error = _load_problem(data, self.is_list, os.path.dirname(self.path))
        if isinstance(data.get('name'), str):
            self.name = data['name']
        try:
            if self.is_list:
                self.config = _cnispec.normalise_list(data, require_version=False, warnings=self.warnings)
            else:
                self.config = _cnispec.normalise_conf(data, warnings=self.warnings)
        except _cnispec.ConfigError as exc:
            self.spec_error = exc.msg

    @property
    def loads(self):
        return self.load_error is None

    def summary(self):
        return dict(path=self.path, name=self.name, loads=self.loads, error=self.load_error or self.spec_error)


def _load_problem(data, is_list, conf_dir):
    """Why libcni refuses to load a parsed file, or None (only what libcni itself checks)."""
    if not is_list:
        if not isinstance(data.get('type'), str) or not data['type']:
            return 'no plugin type (a configuration list in a .conf file?)'
        return None
    name = data.get('name')
    if not isinstance(name, str):
        return 'no network name' if name is None else 'name is not a string'
    if 'cniVersion' in data and not isinstance(data['cniVersion'], str):
        return 'cniVersion is not a string'
    versions = data.get('cniVersions', [])
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        return 'cniVersions is not a list of strings'
    for v in versions:
        try:
            _cnispec.parse_version(v)
        except _cnispec.ConfigError:
            return 'cniVersions holds %r, not a version' % v
    for key in ('disableCheck', 'disableGC', 'loadOnlyInlinedPlugins'):
        value = data.get(key, False)
        if not isinstance(value, bool) and not (isinstance(value, str) and value.lower() in ('true', 'false')):
            return '%s is not true or false' % key
    plugins = data.get('plugins')
    if plugins is None:
        if os.path.isdir(os.path.join(conf_dir, name)) and not data.get('loadOnlyInlinedPlugins'):
            return None   # plugins come from the sibling folder only
        return 'no plugins'
    if not isinstance(plugins, list) or not plugins:
        return 'plugins is not a non-empty list'
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get('type'), str) or not plugin['type']:
            return 'plugins[%d] has no type' % i
    return None


def list_files(conf_dir, listdir=os.listdir):
    """Paths of the network configuration files in ``conf_dir``, in lexical order."""
    try:
        names = listdir(conf_dir)
    except OSError:
        return []
    out = []
    for name in sorted(names, key=_sort_key):
        path = os.path.join(conf_dir, name)
        if os.path.splitext(name)[1] in ALL_EXTS and os.path.isfile(path):
            out.append(path)
    return out


def scan(conf_dir, read_text, overrides=None, listdir=os.listdir):
    """``ConfFile`` of every network configuration file, in lexical order.

    ``overrides`` maps paths to the text they will have (None: removed), to
    answer for a directory as it will be after a planned change.
    """
    overrides = overrides or {}
    paths = set(list_files(conf_dir, listdir))
    paths.update(p for p, text in overrides.items() if text is not None)
    out = []
    for path in sorted(paths, key=lambda p: _sort_key(os.path.basename(p))):
        text = overrides[path] if path in overrides else read_text(path)
        if text is not None:
            out.append(ConfFile(path, text))
    return out


def default_network(files):
    """(file, problem): the file a runtime loads first, and what stops it (None when it loads)."""
    if not files:
        return None, 'no network configuration files'
    first = files[0]
    if not first.loads:
        return first, '%s sorts first but cannot be loaded (%s): containerd fails to load any network' % (
            first.path, first.load_error)
    return first, None


def lookup(files, name):
    """(file, problem) libcni's LoadNetworkConf returns for network ``name``."""
    for f in files:
        if not f.is_list:
            continue
        if not f.loads:
            return None, '%s sorts before the match and cannot be loaded (%s): libcni stops there' % (
                f.path, f.load_error)
        if f.name == name:
            return f, None
    for f in files:
        if f.is_list:
            continue
        if not f.loads:
            return None, '%s cannot be loaded (%s): libcni stops there' % (f.path, f.load_error)
        if f.name == name:
            return f, None
    return None, 'no configuration file defines network %r' % name


def duplicates(files):
    """{network name: [paths]} for names defined by more than one file (in load order)."""
    seen = {}
    for f in files:
        if f.name is not None:
            seen.setdefault(f.name, []).append(f.path)
    return dict((k, v) for k, v in seen.items() if len(v) > 1)


# ---------------------------------------------------------------- versions

def _version_tuple(value):
    if not value:
        return (0, 1, 0)
    try:
        return _cnispec.parse_version(value)
    except _cnispec.ConfigError:
        return (0, 0, 0)


def version_at_least(value, other):
    """Whether spec version ``value`` is ``other`` or later (an empty version is 0.1.0, as for libcni)."""
    return _version_tuple(value) >= _version_tuple(other)


def effective_version(cni_version, cni_versions):
    """The cniVersion libcni uses: the highest of ``cniVersion`` and ``cniVersions`` it implements."""
    if cni_versions is None:
        return cni_version or ''
    latest = _version_tuple(_cnispec.LATEST)
    candidates = [v for v in list(cni_versions) + ([cni_version] if cni_version else [])
                  if _version_tuple(v) <= latest]
    if not candidates:
        return cni_version or ''
    return max(candidates, key=_version_tuple)


# ---------------------------------------------------------------- networks

class Network(object):
    """A network configuration list as libcni holds it.

    ``plugins`` are the plugin objects as written (not normalised: a plugin
    gets exactly what the file says); ``raw`` the bytes cached with an
    attachment (libcni caches the list's own bytes).
    """

    def __init__(self, name, cni_version, plugins, raw, disable_check=False, disable_gc=False, path=None):
        self.name = name
        self.cni_version = cni_version
        self.plugins = plugins
        self.raw = raw
        self.disable_check = disable_check
        self.disable_gc = disable_gc
        self.path = path
        self.warnings = []

    def summary(self):
        return dict(name=self.name, cni_version=self.cni_version, path=self.path,
                    plugins=[p.get('type') for p in self.plugins])


def _bool(data, key, param):
    value = data.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ('true', 'false'):
        return value.lower() == 'true'
    raise ParameterError('%s: %r is not true or false' % (key, value), param=param)


def network_from_bytes(raw, path=None, param='config'):
    """A ``Network`` from the bytes of a configuration list, or of a single plugin configuration (upconverted)."""
    where = path or param
    try:
        data = json.loads(raw.decode('utf-8') if isinstance(raw, bytes) else raw)
    except ValueError as exc:
        raise ParameterError('%s: not valid JSON: %s' % (where, exc), param=param)
    if not isinstance(data, dict):
        raise ParameterError('%s: not a JSON object' % where, param=param)
    if 'plugins' not in data and isinstance(data.get('type'), str):
        # A single plugin configuration: libcni turns it into a list of one.
        data = {'name': data.get('name'), 'cniVersion': data.get('cniVersion', ''), 'plugins': [data]}
        raw = json.dumps(data, separators=(',', ':')).encode('utf-8')
    name = data.get('name')
    if not isinstance(name, str):
        raise ParameterError('%s: no network name' % where, param=param)
    version = data.get('cniVersion', '')
    if not isinstance(version, str):
        raise ParameterError('%s: cniVersion is not a string' % where, param=param)
    versions = data.get('cniVersions')
    if versions is not None and (not isinstance(versions, list) or not all(isinstance(v, str) for v in versions)):
        raise ParameterError('%s: cniVersions is not a list of strings' % where, param=param)
    plugins = data.get('plugins')
    if not isinstance(plugins, list) or not plugins:
        raise ParameterError('%s: plugins is not a non-empty list' % where, param=param)
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get('type'), str) or not plugin['type']:
            raise ParameterError('%s: plugins[%d] has no type' % (where, i), param=param)
    return Network(name, effective_version(version, versions), plugins,
                   raw if isinstance(raw, bytes) else raw.encode('utf-8'),
                   disable_check=_bool(data, 'disableCheck', param), disable_gc=_bool(data, 'disableGC', param),
                   path=path)


def inline_network(config):
    """A ``Network`` from the ``config`` module parameter (a list or a single plugin), validated by the spec core."""
    if not isinstance(config, dict):
        raise ParameterError('config: a configuration list (name, cniVersion, plugins) as a dict', param='config')
    warnings = []
    try:
        if 'plugins' in config:
            _cnispec.normalise_list(config, require_version=False, warnings=warnings)
        else:
            _cnispec.normalise_conf(config, warnings=warnings)
    except _cnispec.ConfigError as exc:
        raise ParameterError('config.%s' % exc.msg if exc.path else 'config: %s' % exc.msg, param='config')
    net = network_from_bytes(json.dumps(config, separators=(',', ':')).encode('utf-8'))
    net.warnings.extend(warnings)
    return net


def _sibling_plugins(conf_dir, name):
    """Plugins of network ``name`` in ``conf_dir/name/*.conf`` (libcni 1.2+), in lexical order."""
    folder = os.path.join(conf_dir, name)
    if not os.path.isdir(folder):
        return []
    out = []
    for fname in sorted(os.listdir(folder), key=_sort_key):
        path = os.path.join(folder, fname)
        if os.path.splitext(fname)[1] != '.conf' or not os.path.isfile(path):
            continue
        try:
            with open(path, 'rb') as f:
                plugin = json.loads(f.read().decode('utf-8'))
        except (IOError, OSError, ValueError) as exc:
            raise ParameterError('%s: cannot be loaded (%s)' % (path, exc), param='network')
        if not isinstance(plugin, dict) or not isinstance(plugin.get('type'), str) or not plugin['type']:
            raise ParameterError("%s: missing 'type'" % path, param='network')
        out.append(plugin)
    return out


def load_network(conf_dir, name, read_text=_fileutil.read_text):
    """The ``Network`` libcni's LoadNetworkConf finds for ``name`` in ``conf_dir``; ParameterError otherwise."""
    files = scan(conf_dir, read_text)
    found, problem = lookup(files, name)
    if found is None:
        raise ParameterError('network %r in %s: %s' % (name, conf_dir, problem), param='network')
    raw = found.text.encode('utf-8', 'surrogateescape')
    if found.is_list:
        data = json.loads(found.text)
        inlined = data.get('plugins') or []
        extra = [] if _bool(data, 'loadOnlyInlinedPlugins', 'network') else _sibling_plugins(conf_dir, name)
        if not inlined and not extra:
            raise ParameterError('network %r in %s: no plugin configurations' % (name, found.path), param='network')
        data = dict(data, plugins=inlined + extra)
        net = network_from_bytes(json.dumps(data).encode('utf-8'), path=found.path, param='network')
        if not extra:
            net.raw = raw   # libcni caches the list's own bytes; with sibling plugins, the whole chain
    else:
        net = network_from_bytes(raw, path=found.path, param='network')
    if found.spec_error:
        net.warnings.append('%s breaks the CNI specification (%s); running it as a runtime would'
                            % (found.path, found.spec_error))
    return net
