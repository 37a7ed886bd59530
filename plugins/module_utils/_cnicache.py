# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runtime side of one attachment and libcni's cache of it. Pure Python: no Ansible, no netlink.

An attachment is (network, container ID, interface name). Its runtime side
is a ``RuntimeConf`` (libcni's): container ID, network namespace path,
``CNI_ARGS`` pairs and capability arguments, checked the way libcni checks
them (``validate_ids``, ``normalise_args``, ``netns_path``).

The cache, as libcni (``libcni/api.go``) keeps it, so that containerd,
CRI-O and cnitool (all libcni underneath) and this collection read each
other's attachments:

- **Layout**: one file per attachment,
  ``<cache_dir>/results/<network>-<containerID>-<ifname>`` (``cache_dir``
  is ``/var/lib/cni`` by default); the ``results`` directory has mode 0700,
  each file 0600.
- **Format**: one JSON object of kind ``cniCacheV1`` with the keys
  ``kind``, ``containerId``, ``config`` (the configuration list's bytes,
  base64 - Go's encoding of a byte slice), ``ifName``, ``networkName``, then,
  left out when empty (Go's ``omitempty``), ``netns``, ``cniArgs`` (a list
  of ``[key, value]`` pairs), ``capabilityArgs`` (an object) and ``result``
  (the CNI result of ADD). ``encode_cache`` writes them in that order.
  cni.node adds ``cni.node/labels`` (the attachment's labels, a dict;
  ``LABELS_KEY``) when labels are given: libcni, containerd and cnitool
  ignore keys they do not know.
- **Who writes what**: a runtime writes the entry after ADD ran through the
  whole chain (``config`` is the list it ran) and removes it after DEL; it
  reads ``result`` back as ``prevResult`` for CHECK and DEL (spec 0.4.0 and
  later) and the arguments (``cniArgs``, ``capabilityArgs``) for the DEL of
  what it cached. Before ``cniCacheV1`` libcni cached the bare result: such
  an entry still gives its result, nothing else (``CacheEntry.legacy``).
- **Listing** (libcni's GetCachedAttachments): every ``cniCacheV1`` entry of
  ``results`` in lexical order, skipping those without ``ifName`` or
  ``networkName`` (and, here, names starting with a dot: the temporary files
  of an atomic write); cni_gc judges each one by its network namespace.
- **The namespace of an entry** (``CacheEntry.namespace``; cni_gc and
  cni_info both judge by it): libcni records it in two places, trusted in
  this order, the first one that names a namespace decides:

  1. ``netns``: the CNI_NETNS the runtime ran ADD with. Only libcni 1.2 and
     later write it (for GC); older libcni, and the runtimes built on it
     (podman 4.x with the CNI backend, containerd and CRI-O of that age),
     leave it out.
  2. ``result.interfaces[].sandbox``: where the plugins say they put the
     container's interface. A result of spec 0.3.0 or later has
     ``interfaces``; 0.1.0/0.2.0 results (``ip4``/``ip6``) have none. The
     interface named like the entry's ``ifName`` is taken first; without
     one, the sandbox all sandboxed interfaces share (several different
     ones: none). Only an absolute path counts (a sandbox may be another
     kind of reference, e.g. a VM's).

  Nothing else in the entry names it (``cniArgs`` and ``capabilityArgs``
  are the runtime's arguments; ``K8S_POD_NAMESPACE`` is a Kubernetes
  namespace, not a network namespace). An entry with neither cannot be
  judged. The bare results of legacy entries are read the same way (2.).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import json
import os
import re

from ansible_collections.cni.node.plugins.module_utils import _cniloader, _fileutil, _ifname, _netns
from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError, ParameterError, StateFileError
from ansible_collections.cni.node.plugins.module_utils._params import netns_fault

CACHE_KIND = 'cniCacheV1'
LABELS_KEY = 'cni.node/labels'
DEFAULT_CACHE_DIR = '/var/lib/cni'
_ID_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.\-]*\Z')


# ---------------------------------------------------------------- the runtime side of an attachment

def validate_ids(network, container_id, ifname):
    """Refuse what libcni refuses: container ID and network name ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``, a valid ifname."""
    if not isinstance(container_id, str) or not _ID_RE.match(container_id):
        raise ParameterError('container_id %r: a letter or digit, then letters, digits, "_", "." or "-" '
                             '(what libcni accepts)' % (container_id,), param='container_id')
    if not isinstance(network, str) or not _ID_RE.match(network):
        raise ParameterError('network name %r: a letter or digit, then letters, digits, "_", "." or "-"'
                             % (network,), param='network')
    # The kernel's rule (_ifname): 15 bytes, not characters; the message names the parameter.
    _ifname.check_ifname(ifname, 'ifname')


def netns_path(netns):
    """CNI_NETNS for a namespace given by name (under /run/netns) or by absolute path."""
    if not netns:
        return ''
    fault = netns_fault(netns)
    if fault == 'relative':
        raise ParameterError('netns %r: a path must be absolute, or give a name under %s'
                             % (netns, _netns.NETNS_RUN_DIR), param='netns')
    if fault == 'name':
        raise ParameterError('netns %r is not a namespace name' % netns, param='netns')
    if fault == 'nul':
        raise ParameterError('netns %r: must not contain a NUL byte' % (netns,), param='netns')
    return netns if '/' in netns else os.path.join(_netns.NETNS_RUN_DIR, netns)


def namespace_exists(path):
    """Whether ``path`` is a live network namespace (a /run/netns entry whose bind mount is gone is not)."""
    try:
        _netns.resolve(path)
    except CniNodeError:
        return False
    return True


def normalise_args(args):
    """CNI_ARGS as libcni keeps them: a list of [key, value] pairs (from a dict or a list of pairs)."""
    if args is None:
        return []
    if isinstance(args, dict):
        pairs = list(args.items())
    elif isinstance(args, (list, tuple)):
        pairs = []
        for item in args:
            if isinstance(item, dict) and set(item) == set(['key', 'value']):
                pairs.append((item['key'], item['value']))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs.append(tuple(item))
            else:
                raise ParameterError('args: %r is not a [key, value] pair' % (item,), param='args')
    else:
        raise ParameterError('args: a dict of strings or a list of [key, value] pairs', param='args')
    out = []
    for key, value in pairs:
        key, value = str(key), '' if value is None else str(value)
        if not key or '=' in key or ';' in key or ';' in value:
            raise ParameterError('args: %r=%r cannot be passed in CNI_ARGS (no "=" in keys, no ";" anywhere)'
                                 % (key, value), param='args')
        out.append([key, value])
    return out


class RuntimeConf(object):
    """The runtime side of one attachment (libcni's RuntimeConf)."""

    def __init__(self, container_id, netns, ifname, args=None, capability_args=None, labels=None):
        self.container_id = container_id
        self.netns = netns or ''
        self.ifname = ifname
        self.args = normalise_args(args)
        self.capability_args = dict(capability_args or {})
        self.labels = labels    # None: not managed (kept as cached); a dict: the attachment's labels


# ---------------------------------------------------------------- the cache

def cache_path(cache_dir, network, container_id, ifname):
    """Where libcni keeps the attachment's entry: ``<cache_dir>/results/<network>-<containerID>-<ifname>``."""
    if not network or not container_id or not ifname:
        raise ParameterError('a cache entry needs the network name (%r), container ID (%r) and ifname (%r)'
                             % (network, container_id, ifname))
    return os.path.join(cache_dir, 'results', '%s-%s-%s' % (network, container_id, ifname))


def encode_cache(network, rt, result):
    """The cache entry libcni writes after ADD (``cniCacheV1``), as a dict in libcni's key order."""
    entry = {
        'kind': CACHE_KIND,
        'containerId': rt.container_id,
        'config': base64.b64encode(network.raw).decode('ascii'),
        'ifName': rt.ifname,
        'networkName': network.name,
    }
    if rt.netns:
        entry['netns'] = rt.netns
    if rt.args:
        entry['cniArgs'] = [list(p) for p in rt.args]
    if rt.capability_args:
        entry['capabilityArgs'] = rt.capability_args
    if result:
        entry['result'] = result
    if rt.labels:
        entry[LABELS_KEY] = dict(rt.labels)
    return entry


class CacheEntry(object):
    """One cached attachment, as read back. ``error`` says why it cannot be used (then only removal helps)."""

    def __init__(self, path, data=None, error=None):
        self.path = path
        self.data = data or {}
        self.error = error
        self.legacy = False
        if data is not None and data.get('kind') != CACHE_KIND:
            # Before cniCacheV1 libcni cached the bare result.
            self.legacy = True

    @property
    def result(self):
        if self.error:
            return None
        return self.data if self.legacy else self.data.get('result')

    @property
    def container_id(self):
        return self.data.get('containerId')

    @property
    def ifname(self):
        return self.data.get('ifName')

    @property
    def network_name(self):
        return self.data.get('networkName')

    @property
    def netns(self):
        """The entry's own ``netns`` key (what libcni 1.2+ records); ``namespace()`` looks further."""
        return self.data.get('netns', '')

    def namespace(self):
        """(path, source) of the attachment's network namespace, ``('', None)`` when the entry names none.

        ``source`` says where it was found: ``netns`` or
        ``result.interfaces[<index>].sandbox`` (the order of trust is in the
        module's header).
        """
        if self.error:
            return '', None
        netns = None if self.legacy else self.data.get('netns')
        if isinstance(netns, str) and netns:
            return netns, 'netns'
        return result_sandbox(self.result, self.ifname)

    @property
    def labels(self):
        """The labels cni.node recorded with the attachment (``{}`` when none)."""
        value = None if self.legacy or self.error else self.data.get(LABELS_KEY)
        return dict(value) if isinstance(value, dict) else {}

    @property
    def cni_args(self):
        return self.data.get('cniArgs') or []

    @property
    def capability_args(self):
        return self.data.get('capabilityArgs') or {}

    def config_bytes(self):
        """The cached configuration list's bytes, or None."""
        value = self.data.get('config')
        if self.legacy or not isinstance(value, str):
            return None
        try:
            return base64.b64decode(value.encode('ascii'), validate=True)
        except (ValueError, TypeError):
            return None

    def network(self):
        """The cached configuration as a ``Network`` (None when absent or unreadable)."""
        raw = self.config_bytes()
        if raw is None:
            return None
        try:
            return _cniloader.network_from_bytes(raw, path=self.path, param='cache_dir')
        except ParameterError:
            return None

    def runtime_conf(self, fallback):
        """The runtime arguments the attachment was made with (libcni's GetNetworkListCachedConfig)."""
        if self.legacy or self.error:
            return fallback
        return RuntimeConf(self.container_id or fallback.container_id, self.namespace()[0] or fallback.netns,
                           self.ifname or fallback.ifname, self.data.get('cniArgs') or fallback.args,
                           self.data.get('capabilityArgs') or {})


def result_sandbox(result, ifname=None):
    """(path, source) of the namespace a CNI result puts the container in (``interfaces[].sandbox``).

    The interface named ``ifname`` decides; without one, the sandbox every
    sandboxed interface shares. ``('', None)`` when the result names no
    namespace, or names several.
    """
    interfaces = result.get('interfaces') if isinstance(result, dict) else None
    if not isinstance(interfaces, list):
        return '', None      # no result, or one of spec 0.1.0/0.2.0
    found = []
    for index, iface in enumerate(interfaces):
        sandbox = iface.get('sandbox') if isinstance(iface, dict) else None
        if not isinstance(sandbox, str) or not os.path.isabs(sandbox):
            continue         # on the host (empty), or not a path
        source = 'result.interfaces[%d].sandbox' % index
        if ifname and iface.get('name') == ifname:
            return sandbox, source
        found.append((sandbox, source))
    if found and len(set(sandbox for sandbox, _source in found)) == 1:
        return found[0]
    return '', None


def read_cache(path):
    """The ``CacheEntry`` at ``path``, None when there is none."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        return CacheEntry(path, error='cannot be read (%s)' % os.strerror(exc.errno))
    try:
        data = json.loads(raw.decode('utf-8'))
    except ValueError as exc:
        return CacheEntry(path, error='not valid JSON (%s)' % exc)
    if not isinstance(data, dict):
        return CacheEntry(path, error='not a JSON object')
    return CacheEntry(path, data)


def write_cache(path, entry):
    """Write a cache entry atomically (directory 0700, file 0600, like libcni).

    Stale temporaries of this entry's name (a run killed between writing and
    renaming) are removed first; a live run's temporary is held and kept.
    """
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise StateFileError('cannot create the cache directory %s: %s' % (directory, os.strerror(exc.errno)),
                                 param='cache_dir')
    _fileutil.clean_temps([path])   # what a run killed while writing this entry left (only unheld temporaries)
    _fileutil.atomic_write(path, json.dumps(entry, separators=(',', ':')), mode=0o600)


def remove_cache(path):
    return _fileutil.remove(path)


def cached_attachments(cache_dir, network=None, container_id=None):
    """Every usable ``cniCacheV1`` entry in ``cache_dir/results`` (libcni's GetCachedAttachments), sorted."""
    directory = os.path.join(cache_dir, 'results')
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    out = []
    for name in names:
        if name.startswith('.'):
            continue
        entry = read_cache(os.path.join(directory, name))
        if entry is None or entry.error or entry.legacy:
            continue
        if not entry.ifname or not entry.network_name:
            continue
        if network is not None and entry.network_name != network:
            continue
        if container_id is not None and entry.container_id != container_id:
            continue
        out.append(entry)
    return out
