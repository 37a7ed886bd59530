# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Garbage collection for one CNI network: leaked host-local leases and stale cached attachments. Pure Python.

The "no IP addresses available in range set" failure comes from leases that
outlive their container: the runtime never ran DEL (a crash, a node reboot
with the namespace gone, a killed kubelet). For a network this core finds:

- **live attachments**: cached results (libcni's cache) whose network
  namespace still exists, plus the attachments the caller declares valid;
- **stale attachments**: cached results of this network whose namespace is
  gone. They are released through DEL of the cached configuration, as libcni's
  GC does, which releases their leases and removes portmap rules; the cache
  entry goes too;
- **orphan leases**: host-local lease files (one per address, under
  ``<dataDir>/<network>``, holding ``<containerID>\\r\\n<ifname>``) of no
  live or stale attachment. They are removed under host-local's own lock
  (flock on ``<dir>/lock``), after reading the file again under that lock.

An entry's namespace is read where libcni versions and runtimes record it:
the entry's ``netns`` (libcni 1.2+), else the cached result's
``interfaces[].sandbox`` (podman 4 with the CNI backend, older containerd
and CRI-O); see ``_cnicache.CacheEntry.namespace``. A live attachment is
never released. An attachment whose cache entry names no namespace anywhere
cannot be judged and is kept. Check mode plans the same and does nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import ipaddress
import os

from ansible_collections.cni.node.plugins.module_utils import _cnicache, _cniexec, _dhcp
from ansible_collections.cni.node.plugins.module_utils._result import Changes

DEFAULT_DATA_DIR = '/var/lib/cni/networks'
LINE_BREAK = '\r\n'


def lease_dirs(network):
    """The host-local lease directories of a network's chain (``<dataDir>/<network name>``), in chain order."""
    out = []
    for plugin in network.plugins:
        ipam = plugin.get('ipam') if plugin.get('type') != 'host-local' else plugin
        if isinstance(ipam, dict) and ipam.get('type') == 'host-local':
            data_dir = ipam.get('dataDir') if isinstance(ipam.get('dataDir'), str) and ipam['dataDir'] \
                else DEFAULT_DATA_DIR
            path = os.path.join(data_dir, network.name)
            if path not in out:
                out.append(path)
    return out


class Lease(object):
    """One host-local lease file: the address, and the container and interface holding it."""

    def __init__(self, path, address, container_id, ifname):
        self.path = path
        self.address = address
        self.container_id = container_id
        self.ifname = ifname    # None: a lease written before host-local recorded the interface

    def holder(self):
        return self.container_id if self.ifname is None else '%s/%s' % (self.container_id, self.ifname)


def parse_lease(text):
    """(container ID, ifname or None) of a lease file's content."""
    text = text.strip()
    if LINE_BREAK in text:
        cid, ifname = text.split(LINE_BREAK, 1)
        return cid.strip(), ifname.strip()
    return text, None


def read_leases(directory):
    """Every lease in a host-local directory (files named by an address), sorted by address."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    out = []
    for name in names:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            continue          # lock, last_reserved_ip.N
        path = os.path.join(directory, name)
        try:
            with open(path, newline='') as f:
                cid, ifname = parse_lease(f.read())
        except (IOError, OSError, UnicodeDecodeError):
            continue
        out.append(Lease(path, address, cid, ifname))
    return sorted(out, key=lambda lease: (lease.address.version, lease.address))


@contextlib.contextmanager
def host_local_lock(directory):
    """host-local's lock of a lease directory: flock on ``<dir>/lock``, held for the block."""
    fd = os.open(os.path.join(directory, 'lock'), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # releases the lock


def release_lease(lease):
    """Remove a lease file under host-local's lock, when it still names the same holder; True when removed."""
    with host_local_lock(os.path.dirname(lease.path)):
        try:
            with open(lease.path, newline='') as f:
                now = parse_lease(f.read())
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
        if now != (lease.container_id, lease.ifname):
            return False      # re-allocated meanwhile: not ours to remove
        os.unlink(lease.path)
        return True


def _attachment(entry):
    """An entry as the result lists it: container, ifname, the namespace it was judged by and where that came from."""
    netns, source = entry.namespace()
    return dict(container_id=entry.container_id, ifname=entry.ifname, netns=netns or None, netns_source=source)


class Plan(object):
    """What a GC run releases: stale attachments (DEL), orphan leases, and what it keeps."""

    def __init__(self, network):
        self.network = network
        self.live = []          # cache entries kept
        self.unjudged = []      # cache entries without a namespace path: kept
        self.stale = []         # cache entries to DEL
        self.leases = []        # every lease seen
        self.orphans = []       # leases to remove as files
        self.changes = Changes()
        self.errors = []
        self.valid = set()
        self.dhcp = []          # dhcp leases of stale attachments, released through the daemon by their DEL

    def released(self):
        out = []
        stale_keys = set((e.container_id, e.ifname) for e in self.stale)
        for lease in self.leases:
            how = None
            if lease in self.orphans:
                how = 'lease_file'
            elif (lease.container_id, lease.ifname) in stale_keys or (
                    lease.ifname is None and lease.container_id in set(k[0] for k in stale_keys)):
                how = 'DEL'
            if how:
                out.append(dict(address=str(lease.address), container_id=lease.container_id, ifname=lease.ifname,
                                lease_file=lease.path, via=how))
        return out + self.dhcp

    def kept(self):
        out = [dict(_attachment(e), why='valid' if (e.container_id, e.ifname) in self.valid else 'live')
               for e in self.live]
        out.extend(dict(_attachment(e), why='no netns in the cache') for e in self.unjudged)
        cached = set((e.container_id, e.ifname) for e in self.live + self.unjudged)
        out.extend(dict(container_id=cid, ifname=ifname, netns=None, netns_source=None, why='valid')
                   for cid, ifname in sorted(self.valid) if (cid, ifname) not in cached)
        return out

    def summary(self):
        return dict(
            released=self.released(),
            deleted_attachments=[dict(_attachment(e), cache_file=e.path) for e in self.stale],
            kept=self.kept(),
            leases=dict(total=len(self.leases) + len(self.dhcp), released=len(self.released()),
                        kept=len(self.leases) + len(self.dhcp) - len(self.released())),
        )


def plan(network, cache_dir, valid_attachments=(), netns_exists=_cnicache.namespace_exists):
    """Work out what GC of ``network`` releases, without changing anything."""
    out = Plan(network)
    valid = set((a[0], a[1]) for a in valid_attachments)
    out.valid = valid
    for entry in _cnicache.cached_attachments(cache_dir, network=network.name):
        key = (entry.container_id, entry.ifname)
        netns = entry.namespace()[0]
        if key in valid or (netns and netns_exists(netns)):
            out.live.append(entry)
        elif not netns:
            out.unjudged.append(entry)
        else:
            out.stale.append(entry)
    kept = set((e.container_id, e.ifname) for e in out.live + out.unjudged) | valid
    kept_ids = set(k[0] for k in kept)
    stale = set((e.container_id, e.ifname) for e in out.stale)
    stale_ids = set(k[0] for k in stale)
    for directory in lease_dirs(network):
        for lease in read_leases(directory):
            out.leases.append(lease)
            if lease.ifname is None:
                if lease.container_id in kept_ids or lease.container_id in stale_ids:
                    continue
            elif (lease.container_id, lease.ifname) in kept or (lease.container_id, lease.ifname) in stale:
                continue
            out.orphans.append(lease)
    out.dhcp = _dhcp.stale_leases(network, out.stale)
    for entry in out.stale:
        out.changes.add('attachment/%s' % os.path.basename(entry.path),
                        'stale (netns %s is gone)' % entry.namespace()[0], None, area='attachment')
    for item in out.released():
        out.changes.add('lease/%s/%s' % (network.name, item['address']),
                        item['container_id'] if item['ifname'] is None else '%s/%s' % (item['container_id'],
                                                                                       item['ifname']),
                        None, area='lease')
    return out


def apply(gc_plan, runner, valid_attachments=()):
    """Release what the plan found: DEL each stale attachment (its leases by hand when DEL fails), then orphans."""
    network = gc_plan.network
    for entry in gc_plan.stale:
        old_net = entry.network() or network
        # CNI_NETNS of the DEL: the namespace the entry was judged by, as the runtime itself would pass it.
        rt = entry.runtime_conf(_cnicache.RuntimeConf(entry.container_id, entry.namespace()[0], entry.ifname))
        try:
            runner.delete(old_net, rt, entry.result)
        except _cniexec.CniFailure as exc:
            gc_plan.errors.append('DEL of %s/%s failed (%s); its leases are released as files'
                                  % (entry.container_id, entry.ifname, exc.msg))
        for lease in gc_plan.leases:
            if lease.container_id == entry.container_id and lease.ifname in (entry.ifname, None) \
                    and os.path.exists(lease.path):
                release_lease(lease)
        _cnicache.remove_cache(entry.path)
    for lease in gc_plan.orphans:
        release_lease(lease)
    live = [(e.container_id, e.ifname) for e in gc_plan.live + gc_plan.unjudged] + list(valid_attachments)
    try:
        runner.gc(network, live)
    except _cniexec.CniFailure as exc:
        gc_plan.errors.append('GC of the plugins failed: %s' % exc.msg)
