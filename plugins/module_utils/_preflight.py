# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Core of cni_preflight: read-only checks that a node can take a profile, before anything changes.

Four groups of checks, each a dict ``name``, ``ok``, ``required``,
``evidence`` (what was read, and where), ``fix`` (what to do; None when ok):

- ``kernel.<feature>``: the kernel objects a profile needs (``FEATURES``),
  found by file probes only, in this order: a runtime trace of the feature
  (``/sys/module/NAME``, ``/proc/sys/net/bridge`` for br_netfilter, ``bpf``
  in ``/proc/filesystems``), ``/proc/modules``, ``modules.builtin`` and
  ``modules.dep`` of ``/lib/modules/RELEASE``, then the kernel's own
  configuration (``/proc/config.gz`` or ``/boot/config-RELEASE``). Nothing is
  created, loaded or probed by trial: no throwaway link, no modprobe. A
  feature that is built as a module, not loaded, and whose module file is
  present passes (the kernel loads link kinds on demand; cni_sysctl's
  ``load_modules`` loads br_netfilter). When none of the sources can tell,
  the check is not ok but not required either (a warning).
- ``sysctl.writable``: the kernel parameters a run writes (net.* keys) are
  writable here: ``access(W_OK)`` on each file (a read-only mount of
  ``/proc/sys``, as in a container, answers EROFS), with the mount's flag
  from ``statvfs`` as evidence. Keys that do not exist are listed, not
  failed: their kernel check says why.
- ``underlay.exists`` / ``underlay.up`` / ``underlay.mtu``: the underlay
  interface, from one netlink dump of the links (the caller passes the
  dump); its MTU must be at least the overlay MTU plus the VXLAN
  encapsulation (50 bytes over IPv4, 70 over IPv6).
- ``conf_dir.conflicts``: network configuration files of other tools in the
  runtime's directory that sort before the profile's own
  (``PRIORITY-NETWORK.conflist``): a runtime loads the first file in lexical
  order as its default network, so such a file (``10-flannel.conflist``,
  ``87-podman-bridge.conflist``, ``10-calico.conflist``) takes the pods.

Pure Python: no Ansible, no pyroute2 (the module passes the link dump).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import os
import re

from ansible_collections.cni.node.plugins.module_utils import _cniloader, _procsys
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._ifname import check_ifname
from ansible_collections.cni.node.plugins.module_utils._overlay import VXLAN_OVERHEAD, family_name

CHECKS = ('kernel', 'sysctl', 'underlay', 'conf_dir')

# feature -> (kernel config symbol, module names, runtime traces, what needs it)
# A trace is a path whose existence proves the feature is live in this kernel.
FEATURES = {
    'bridge': ('CONFIG_BRIDGE', ('bridge',), ('/sys/module/bridge',), 'the pod bridge'),
    'veth': ('CONFIG_VETH', ('veth',), ('/sys/module/veth',), 'the pods\' veth pairs (bridge, ptp plugins)'),
    'vxlan': ('CONFIG_VXLAN', ('vxlan',), ('/sys/module/vxlan',), 'the overlay\'s VXLAN device'),
    'br_netfilter': ('CONFIG_BRIDGE_NETFILTER', ('br_netfilter',), ('/proc/sys/net/bridge',),
                     'net.bridge.bridge-nf-call-iptables (kube-proxy, portmap on bridged traffic)'),
    'nf_tables': ('CONFIG_NF_TABLES', ('nf_tables',), ('/sys/module/nf_tables',),
                  'iptables-nft (ipMasq, portmap) and cni_policy\'s tables'),
    'macvlan': ('CONFIG_MACVLAN', ('macvlan',), ('/sys/module/macvlan',), 'the macvlan plugin'),
    'ipvlan': ('CONFIG_IPVLAN', ('ipvlan',), ('/sys/module/ipvlan',), 'the ipvlan plugin'),
    'xdp': ('CONFIG_BPF_SYSCALL', (), ('/proc/sys/kernel/unprivileged_bpf_disabled',),
            'cni_xdp (the bpf(2) system call; generic XDP comes with it)'),
    'bpffs': ('CONFIG_BPF_SYSCALL', (), (), 'cni_xdp\'s private bpf file system'),
}

# What each profile kind of cni.node.profile needs.
PROFILES = {
    'bridge': ('bridge', 'veth', 'br_netfilter', 'nf_tables'),
    'overlay': ('bridge', 'veth', 'vxlan', 'br_netfilter', 'nf_tables'),
    'dhcp': ('bridge', 'veth', 'br_netfilter', 'nf_tables'),
}

DEFAULT_SYSCTL_KEYS = ('net.ipv4.ip_forward',)

# Who writes which configuration file: what the evidence names for a conflict.
_TOOLS = (
    ('flannel', 'flannel'), ('calico', 'Calico'), ('canal', 'Canal'), ('cilium', 'Cilium'),
    ('weave', 'Weave Net'), ('podman', 'Podman'), ('crio', 'CRI-O'), ('containerd', 'containerd'),
    ('kindnet', 'kindnet'), ('antrea', 'Antrea'), ('multus', 'Multus'), ('k3s', 'k3s'),
    ('kube-router', 'kube-router'), ('nerdctl', 'nerdctl'),
)


def check(name, ok, evidence, fix=None, required=True):
    """One check as the module returns it."""
    return dict(name=name, ok=bool(ok), required=bool(required), evidence=evidence, fix=None if ok else fix)


class Spec(object):
    """cni_preflight's parameters, validated and normalised."""

    def __init__(self, profile=None, features=None, checks=None, sysctl_keys=None, underlay=None,
                 overlay_mtu=None, underlay_family='ipv4', conf_dir='/etc/cni/net.d', network='cni-node',
                 priority=10, exclusive=False):
        self.exclusive = bool(exclusive)
        self.features = []
        if profile is not None:
            if profile not in PROFILES:
                raise ParameterError('profile: %r is not valid: %s' % (profile, ', '.join(sorted(PROFILES))),
                                     param='profile')
            self.features.extend(PROFILES[profile])
        for i, name in enumerate(features or []):
            if name not in FEATURES:
                raise ParameterError('features[%d]: %r is not valid: %s' % (i, name, ', '.join(sorted(FEATURES))),
                                     param='features')
            if name not in self.features:
                self.features.append(name)
        chosen = list(checks) if checks else None
        for i, name in enumerate(chosen or []):
            if name not in CHECKS:
                raise ParameterError('checks[%d]: %r is not valid: %s' % (i, name, ', '.join(CHECKS)),
                                     param='checks')
        if chosen and 'kernel' in chosen and not self.features:
            raise ParameterError('checks: kernel needs profile or features (which kernel objects to look for)',
                                 param='checks')
        if chosen and 'underlay' in chosen and not underlay:
            raise ParameterError('checks: underlay needs underlay (the name of the underlay interface)',
                                 param='checks')
        if chosen is None:
            chosen = [c for c in CHECKS if (c != 'kernel' or self.features) and (c != 'underlay' or underlay)]
        self.checks = [c for c in CHECKS if c in chosen]
        self.sysctl_keys = []
        for i, key in enumerate(DEFAULT_SYSCTL_KEYS if sysctl_keys is None else sysctl_keys):
            try:
                self.sysctl_keys.append(_procsys.canonical_key(key))
            except ParameterError as exc:
                raise ParameterError('sysctl_keys[%d]: %s' % (i, exc.msg.split(': ', 1)[-1]), param='sysctl_keys')
        self.underlay = underlay
        if underlay:
            check_ifname(underlay, 'underlay')
        if overlay_mtu is not None and (isinstance(overlay_mtu, bool) or not isinstance(overlay_mtu, int)
                                        or not 68 <= overlay_mtu <= 65535):
            raise ParameterError('overlay_mtu: %r is not valid (expected an MTU from 68 to 65535)' % (overlay_mtu,),
                                 param='overlay_mtu')
        self.overlay_mtu = overlay_mtu
        self.family = family_name(underlay_family, 'underlay_family')
        self.conf_dir = conf_dir
        self.network = network
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 999:
            raise ParameterError('priority: %r is not valid (expected an integer from 0 to 999)' % (priority,),
                                 param='priority')
        self.filename = '%02d-%s.conflist' % (priority, network)


class Kernel(object):
    """What the running kernel has, read from files only (paths can point elsewhere for tests)."""

    def __init__(self, root='/', release=None):
        self.root = root
        self.release = release or os.uname()[2]
        self._loaded = self._builtin = self._dep = self._config = None
        self.config_source = None

    def path(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def exists(self, path):
        return os.path.exists(self.path(path))

    def _read(self, path):
        try:
            with open(self.path(path), 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except (IOError, OSError):
            return None

    @property
    def modular(self):
        return self.exists('/proc/modules')

    def loaded(self):
        if self._loaded is None:
            text = self._read('/proc/modules') or ''
            self._loaded = set(line.split(' ', 1)[0] for line in text.splitlines() if line)
        return self._loaded

    @staticmethod
    def _module_names(text):
        out = set()
        for line in (text or '').splitlines():
            base = os.path.basename(line.split(':', 1)[0].strip())
            base = re.sub(r'\.ko(\.(xz|gz|zst))?\Z', '', base)
            if base:
                out.add(base.replace('-', '_'))
        return out

    def builtin(self):
        if self._builtin is None:
            text = self._read('/lib/modules/%s/modules.builtin' % self.release)
            self._builtin = None if text is None else self._module_names(text)
        return self._builtin

    def module_files(self):
        if self._dep is None:
            text = self._read('/lib/modules/%s/modules.dep' % self.release)
            self._dep = None if text is None else self._module_names(text)
        return self._dep

    def config(self):
        """{symbol: 'y'|'m'|'n'} of the running kernel's configuration, or None when it is nowhere to be read."""
        if self._config is None:
            text = None
            gz = self.path('/proc/config.gz')
            if os.path.exists(gz):
                try:
                    with gzip.open(gz, 'rb') as f:
                        text = f.read().decode('utf-8', 'replace')
                    self.config_source = '/proc/config.gz'
                except (IOError, OSError, EOFError):
                    text = None
            if text is None:
                text = self._read('/boot/config-%s' % self.release)
                if text is not None:
                    self.config_source = '/boot/config-%s' % self.release
            if text is None:
                return None
            config = {}
            for line in text.splitlines():
                m = re.match(r'^(CONFIG_[A-Za-z0-9_]+)=(.*)$', line)
                if m:
                    config[m.group(1)] = m.group(2).strip('"')
                    continue
                m = re.match(r'^# (CONFIG_[A-Za-z0-9_]+) is not set', line)
                if m:
                    config[m.group(1)] = 'n'
            self._config = config
        return self._config

    def filesystems(self):
        text = self._read('/proc/filesystems') or ''
        return set(line.split()[-1] for line in text.splitlines() if line.split())


def kernel_check(kernel, feature):
    """The ``kernel.<feature>`` check."""
    symbol, modules, traces, needed_by = FEATURES[feature]
    name = 'kernel.' + feature
    fix_load = ('load it (modprobe %s) and persist it in /etc/modules-load.d, or use a kernel that has %s'
                % (modules[0], symbol)) if modules else 'use a kernel built with %s=y' % symbol
    for trace in traces:
        if kernel.exists(trace):
            return check(name, True, '%s exists: live in this kernel' % trace)
    if feature == 'bpffs':
        if 'bpf' in kernel.filesystems():
            return check(name, True, '/proc/filesystems lists bpf')
    for mod in modules:
        if mod in kernel.loaded():
            return check(name, True, 'module %s is loaded (/proc/modules)' % mod)
        builtin = kernel.builtin()
        if builtin is not None and mod in builtin:
            return check(name, True, 'module %s is built in (/lib/modules/%s/modules.builtin)' % (mod, kernel.release))
    config = kernel.config()
    value = config.get(symbol) if config is not None else None
    if feature == 'bpffs' and value != 'y':
        return check(name, False, '/proc/filesystems does not list bpf%s' % (
            '; %s: %s=%s' % (kernel.config_source, symbol, value or 'n') if config is not None else ''),
            'use a kernel built with CONFIG_BPF_SYSCALL=y')
    if value == 'y':
        return check(name, True, '%s: %s=y (built in)' % (kernel.config_source, symbol))
    if value == 'm' and modules:
        files = kernel.module_files()
        if files is not None and modules[0] in files:
            where = (kernel.config_source, symbol, kernel.release)
            return check(name, True, '%s: %s=m; not loaded, module file listed in /lib/modules/%s/modules.dep '
                         '(loaded on demand, or by cni_sysctl load_modules)' % where)
        return check(name, False, '%s: %s=m, but %s is not loaded and no module file is in /lib/modules/%s '
                     '(a container sees the host\'s kernel, not its modules)' % (
                         kernel.config_source, symbol, modules[0], kernel.release),
                     'on the host: modprobe %s (needed for %s)' % (modules[0], needed_by))
    if config is not None and value in (None, 'n'):
        return check(name, False, '%s: %s is not set: this kernel has no %s' % (
            kernel.config_source, symbol, feature), 'use a kernel built with %s (needed for %s)' % (symbol, needed_by))
    if modules and kernel.module_files() is not None and modules[0] in kernel.module_files():
        return check(name, True, 'module file of %s listed in /lib/modules/%s/modules.dep (not loaded: loaded on '
                     'demand, or by cni_sysctl load_modules)' % (modules[0], kernel.release))
    return check(name, False, 'cannot tell: not loaded, no trace (%s), no modules.builtin/modules.dep for %s, no '
                 'kernel configuration (/proc/config.gz, /boot/config-%s)' % (
                     ', '.join(traces) or 'none', kernel.release, kernel.release),
                 fix_load + ' (needed for %s)' % needed_by, required=False)


def sysctl_check(keys, root=_procsys.PROC_SYS, statvfs=os.statvfs):
    """The ``sysctl.writable`` check."""
    missing, denied, fine = [], [], []
    for key in keys:
        path = _procsys.key_path(key, root)
        if not os.path.isfile(path):
            missing.append(key)
        elif os.access(path, os.W_OK):
            fine.append(key)
        else:
            denied.append(key)
    try:
        readonly = bool(statvfs(os.path.join(root, 'net')).f_flag & os.ST_RDONLY)
        mount = '%s/net is on a %s mount' % (root, 'read-only' if readonly else 'read-write')
    except OSError as exc:
        mount = 'statvfs %s/net: %s' % (root, exc.strerror)
    parts = [mount]
    if fine:
        parts.append('writable: %s' % ', '.join(fine))
    if denied:
        parts.append('NOT writable: %s' % ', '.join(denied))
    if missing:
        parts.append('absent (see the kernel checks): %s' % ', '.join(missing))
    return check('sysctl.writable', not denied, '; '.join(parts),
                 'make %s writable: a container needs /proc/sys/net mounted read-write (a bind mount of it remounted '
                 'rw, or docker --sysctl), a node needs root' % root)


def underlay_checks(links, spec):
    """The ``underlay.*`` checks, from one link dump (dicts with name, up, mtu)."""
    dev = spec.underlay
    link = next((item for item in links if item.get('name') == dev), None)
    if link is None:
        names = sorted(item.get('name') for item in links if item.get('name'))
        return [check('underlay.exists', False, 'no interface %s; the node has %s' % (dev, ', '.join(names)),
                      'set the underlay interface (overlay_underlay_dev) to one of the node\'s interfaces')]
    out = [check('underlay.exists', True, 'interface %s (index %s)' % (dev, link.get('index')))]
    out.append(check('underlay.up', link.get('up'), '%s is %s' % (dev, 'up' if link.get('up') else 'down'),
                     'bring it up (ip link set %s up) and make the node bring it up at boot' % dev))
    overhead = VXLAN_OVERHEAD[spec.family]
    mtu = link.get('mtu') or 0
    if spec.overlay_mtu is None:
        ok = mtu - overhead >= 68
        out.append(check('underlay.mtu', ok, '%s MTU %d: overlay MTU at most %d (%d bytes of VXLAN over %s)'
                         % (dev, mtu, mtu - overhead, overhead, spec.family),
                         'raise the MTU of %s' % dev))
    else:
        need = spec.overlay_mtu + overhead
        out.append(check('underlay.mtu', mtu >= need, '%s MTU %d, overlay MTU %d needs %d (%d bytes of VXLAN over %s)'
                         % (dev, mtu, spec.overlay_mtu, need, overhead, spec.family),
                         'raise the MTU of %s to %d or more, or lower the overlay MTU to %d'
                         % (dev, need, mtu - overhead)))
    return out


def _sort_key(filename):
    # libcni sorts file names as Go strings: by their bytes.
    return filename.encode('utf-8', 'surrogateescape')


def _tool(filename):
    low = filename.lower()
    for key, tool in _TOOLS:
        if key in low:
            return tool
    return None


def conf_dir_check(spec, read_text):
    """The ``conf_dir.conflicts`` check."""
    files = _cniloader.scan(spec.conf_dir, read_text)
    ours = _sort_key(spec.filename)
    same = re.compile(r'^[0-9]{2,3}-%s\.conflist\Z' % re.escape(spec.network))
    before, after = [], []
    for f in files:
        if same.match(f.filename) and f.name == spec.network:
            continue   # the profile's own file (at this or another priority)
        tool = _tool(f.filename)
        what = '%s (%s%s)' % (f.filename, 'network %s' % f.name if f.name else 'unreadable',
                              ', %s' % tool if tool else '')
        (before if _sort_key(f.filename) < ours else after).append(what)
    parts = ['%s: ours is %s' % (spec.conf_dir, spec.filename)]
    if not files:
        parts.append('no configuration files')
    if before:
        parts.append('sorting before it (a runtime loads the first): %s' % '; '.join(before))
    if after:
        parts.append('after it (not loaded by default): %s' % '; '.join(after))
    if before and spec.exclusive:
        parts.append('exclusive: cni_network removes every other file, these included')
    return check('conf_dir.conflicts', spec.exclusive or not before, ', '.join(parts),
                 'remove the other tool\'s files (or set bridge_exclusive/overlay_exclusive: true to have '
                 'cni_network remove them), or give the profile a lower priority than theirs')


def run(spec, kernel, links=None, read_text=None, proc_sys=_procsys.PROC_SYS):
    """(checks, missing): every chosen check, and the names of the required ones that failed.

    ``links`` is a callable returning the link dump (called only for the
    underlay checks); ``read_text`` reads a file's text or returns None.
    """
    checks = []
    if 'kernel' in spec.checks:
        checks.extend(kernel_check(kernel, f) for f in spec.features)
    if 'sysctl' in spec.checks:
        checks.append(sysctl_check(spec.sysctl_keys, proc_sys))
    if 'underlay' in spec.checks:
        checks.extend(underlay_checks(links(), spec))
    if 'conf_dir' in spec.checks:
        checks.append(conf_dir_check(spec, read_text))
    missing = [c['name'] for c in checks if c['required'] and not c['ok']]
    return checks, missing


def message(checks, missing):
    """The failure message: every failed required check with its evidence and fix."""
    by_name = dict((c['name'], c) for c in checks)
    lines = ['%s: %s -> %s' % (n, by_name[n]['evidence'], by_name[n]['fix']) for n in missing]
    return 'preflight: %d of %d required checks failed, nothing was changed: %s' % (
        len(missing), sum(1 for c in checks if c['required']), ' | '.join(lines))
