# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``persist`` argument of cni_bridge and cni_vxlan: whether, where and which files, planned and written.

``Files`` checks ``persist`` (``auto``, ``true``, ``false``) and
``persist_root``, decides whether persistence is active on this node
(``decide``), compares the files a module wants (``bridge_items``,
``vxlan_items``: the documents of ``_networkd``) with the ones on disk into
drift items ``persist/<ifname>/<kind>`` (and ``persist/networkd.conf``) of
the module's ``Changes``, and writes them: staged before the kernel
changes (``prepare``: a full disk or a read-only /etc fails the run before
anything changed), put in place after them (``commit``), atomically, mode
0644; the boot unit's link in ``systemd-networkd.service.wants`` is a
symbolic link replaced by a rename, as ``systemctl enable`` makes it.

Drift compares the files' sections and keys (``_networkd.canonical``), not
their bytes: a comment added by hand is not drift.

Pure Python: no Ansible. Nothing here runs systemctl: enabling
systemd-networkd is the roles' (``ansible.builtin.systemd_service``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.cni.node.plugins.module_utils import _fileutil, _networkd
from ansible_collections.cni.node.plugins.module_utils._errors import NotSupported, ParameterError

NETWORKD_BINARIES = ('usr/lib/systemd/systemd-networkd', 'lib/systemd/systemd-networkd')
BOOTED = '/run/systemd/system'   # exists when systemd is PID 1 (sd_booted)
TRUE = ('true', 'yes', 'on', '1')
FALSE = ('false', 'no', 'off', '0')


def check_mode_value(value):
    """``'auto'``, True or False from the ``persist`` argument; ParameterError naming it."""
    if value is None:
        return 'auto'
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == 'auto':
        return 'auto'
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ParameterError('persist %r: use auto, true or false' % (value,), param='persist')


def check_root(value):
    if value in (None, ''):
        return '/'
    if not os.path.isabs(value) or '\0' in value:
        raise ParameterError('persist_root: must be an absolute path, got %r' % (value,), param='persist_root')
    return value


def networkd_installed(root):
    """The systemd-networkd binary under ``root``, or None."""
    for rel in NETWORKD_BINARIES:
        path = os.path.join(root, rel)
        if os.path.exists(path):
            return path
    return None


def decide(mode, root, netns=None, booted=BOOTED):
    """``(active, reason)``; with ``mode`` True a node that cannot persist fails (NotSupported naming persist)."""
    if mode is False:
        return False, 'persist=false: no files are written or removed'
    if netns:
        if mode is True:
            raise ParameterError('persist=true: a link in network namespace %r cannot be persisted (systemd-networkd '
                                 'configures the node\'s own namespace); use persist=false' % netns, param='persist')
        return False, 'skipped: the link is in network namespace %s, which systemd-networkd does not configure' % netns
    networkd = networkd_installed(root)
    if mode is True:
        if networkd is None:
            where = ' or '.join(os.path.join(root, rel) for rel in NETWORKD_BINARIES)
            raise NotSupported('persist=true: systemd-networkd is not installed (no %s): install it, or use '
                               'persist=auto or false' % where, param='persist')
        return True, 'persist=true: systemd-networkd files written'
    if not os.path.isdir(booted):
        return False, 'skipped (persist=auto): the node did not boot systemd (no %s)' % booted
    if networkd is None:
        return False, 'skipped (persist=auto): systemd-networkd is not installed'
    return True, 'persist=auto: systemd is PID 1 and systemd-networkd is installed'


class Item(object):
    """One file (or symbolic link, ``link``) the module wants: ``content`` None means absent."""

    def __init__(self, kind, rel, content, link=False, path_key=None):
        self.kind = kind
        self.rel = rel
        self.content = content
        self.link = link
        self.path_key = path_key   # drift path; default persist/<name>/<kind>


def bridge_items(spec):
    """The Items of cni_bridge ``spec``: its .netdev and .network (absent with state=absent), the drop-in."""
    names = _networkd.file_names(spec.name)
    if spec.state == 'absent':
        return [Item('netdev', names['netdev'], None), Item('network', names['network'], None)]
    docs = _networkd.bridge_files(spec)
    return [Item(kind, names[kind], _networkd.render(docs[kind], 'cni_bridge')) for kind in ('netdev', 'network')]


def vxlan_items(spec, want, protocol):
    """``(Items, notes)`` of cni_vxlan ``spec`` and its ``want``: .netdev, .network, the boot unit and its link."""
    names = _networkd.file_names(spec.name)
    unit, wants = _networkd.unit_names(spec.name)
    if spec.state == 'absent':
        return [Item('netdev', names['netdev'], None), Item('network', names['network'], None),
                Item('unit', unit, None), Item('wants', wants, None, link=True)], []
    docs, notes = _networkd.vxlan_files(spec, want, protocol)
    unit_doc = _networkd.vxlan_unit(spec, want)
    items = [Item(kind, names[kind], _networkd.render(docs[kind], 'cni_vxlan')) for kind in ('netdev', 'network')]
    items.append(Item('unit', unit, None if unit_doc is None else _networkd.render(unit_doc, 'cni_vxlan')))
    items.append(Item('wants', wants, None if unit_doc is None else '/' + unit, link=True))
    return items, notes


class Files(object):
    """The persisted files of one link: plan, prepare, commit (see the module docstring)."""

    def __init__(self, name, mode='auto', root='/', netns=None, booted=BOOTED):
        self.name = name
        self.mode = check_mode_value(mode)
        self.root = check_root(root)
        self.active, self.reason = decide(self.mode, self.root, netns, booted)
        self.todo = []      # (Item, path) to write or remove
        self.files = []     # paths present after the run
        self.notes = []
        self.staged = []

    def path(self, rel):
        return os.path.join(self.root, rel)

    def plan(self, changes, items, notes=()):
        """Record the drift of ``items`` (plus the networkd.conf drop-in) in ``changes``."""
        if not self.active:
            return
        self.notes = list(notes)
        items = list(items)
        present = any(item.content is not None for item in items)
        conf = _networkd.render(_networkd.networkd_conf(), 'cni_bridge, cni_vxlan')
        if not present and self._others_left(items):
            conf = False   # other links' files still need it: left alone
        elif not present:
            conf = None
        if conf is not False:
            items.append(Item('conf', _networkd.CONF_DROPIN, conf, path_key='persist/networkd.conf'))
        for item in items:
            path = self.path(item.rel)
            before = _read_link(path) if item.link else _fileutil.read_text(path)
            if item.link:
                same = before == item.content
                told = before, item.content
            else:
                told = _networkd.canonical(before), _networkd.canonical(item.content)
                same = told[0] == told[1]
            if not same:
                key = item.path_key or u'persist/%s/%s' % (self.name, item.kind)
                changes.add(key, told[0], told[1])
                if not item.link:
                    changes.add_text(path, before, item.content)
                self.todo.append((item, path))
            if item.content is not None:
                self.files.append(path)

    def _others_left(self, items):
        """Whether files of other links (``50-cni-node-*``) stay in the network directory after this run."""
        mine = set(os.path.basename(item.rel) for item in items)
        try:
            entries = os.listdir(self.path(_networkd.NETWORK_DIR))
        except OSError:
            return False
        return any(e.startswith('50-cni-node-') and e.endswith(('.netdev', '.network')) and e not in mine
                   for e in entries)

    def prepare(self):
        """Directories made (0755) and new contents staged beside their targets; nothing replaced yet."""
        _fileutil.clean_temps([path for _item, path in self.todo])
        try:
            for item, path in self.todo:
                if item.content is None:
                    continue
                directory = os.path.dirname(path)
                if not os.path.isdir(directory):
                    problem = _fileutil.directory_problem(directory)
                    if problem:
                        raise ParameterError('persist_root: %s' % problem, param='persist_root')
                    os.makedirs(directory, 0o755)
                if not item.link:
                    staged = _fileutil.StagedFile(path, None, item.content, 0o644)
                    staged.prepare()
                    self.staged.append(staged)
        except BaseException:
            self.discard()
            raise

    def commit(self):
        """Files replaced or removed; the boot unit's link made or removed."""
        try:
            _fileutil.commit_all(self.staged)
            for item, path in self.todo:
                if item.link:
                    _replace_link(path, item.content)
                elif item.content is None:
                    _fileutil.remove(path)
        finally:
            self.discard()

    def around(self, apply_kernel):
        """``apply_kernel()`` with the files staged before it and put in place only after it succeeded."""
        self.prepare()
        try:
            result = apply_kernel()
            self.commit()
            return result
        finally:
            self.discard()

    def discard(self):
        for staged in self.staged:
            staged.discard()
        self.staged = []

    def result(self):
        """The ``persist`` return value."""
        return dict(active=self.active, reason=self.reason, files=sorted(self.files) if self.active else [],
                    notes=self.notes)


def _read_link(path):
    """Target of symbolic link ``path``; None when absent; the text ``not a symbolic link`` for anything else."""
    try:
        return os.readlink(path)
    except OSError:
        return 'not a symbolic link' if os.path.lexists(path) else None


def _replace_link(path, target):
    if target is None:
        _fileutil.remove(path)
        return
    tmp = '%s.cni-node-new' % path
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, path)
