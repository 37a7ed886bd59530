# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which network configuration a CNI runtime loads from a directory. Pure Python.

Two questions, answered the way the runtimes answer them:

- **Which file defines network NAME** (libcni ``LoadNetworkConf``): the
  ``.conflist`` files in lexical (byte) order, the first whose ``name``
  matches; only when none does, the legacy ``.conf``/``.json`` files in
  lexical order. libcni stops at the first ``.conflist`` it cannot parse, so a
  broken file that sorts earlier hides every network after it.
- **Which network loads first** - the node's default network (containerd's
  go-cni and CRI-O): every ``.conf``, ``.conflist`` and ``.json`` file in one
  lexical order, the first one. containerd refuses to load at all when a file
  before it does not parse.

Only regular files directly in the directory count, matched by their last
extension exactly (``x.conflist.bak`` and ``.x.conflist.tmp`` are ignored:
the temporary files of an atomic write are invisible to runtimes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.cni.node.plugins.module_utils import _cnispec

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
