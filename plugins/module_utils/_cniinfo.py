# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about a node's CNI layer, read without changing anything. Pure Python: no Ansible.

Sections (each can be left out):

- ``networks``: every configuration file in conf_dir as a runtime sees it
  (parsed, loads, valid), the network a runtime loads first, names defined
  twice;
- ``plugins``: the binaries in bin_dirs, their sha256 and the spec versions
  they report (VERSION runs only for binaries safe to run as root);
- ``links``: bridges, VXLAN devices and veths (with the namespace of the
  peer) of the node, through the netlink adapter;
- ``namespaces``: the named network namespaces (/run/netns);
- ``leases``: host-local leases per network - used, free, stale (no live
  attachment, the same judgement as cni_gc);
- ``sysctls``: the kernel parameters CNI networking depends on;
- ``attachments``: libcni's cached attachments per network, with their
  addresses, whether their namespace is alive, and their labels.
- ``dhcp``: the dhcp daemon of each socket the networks use (answers, pid,
  binary, version) and the dhcp leases of the cached attachments (``_dhcp``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os

from ansible_collections.cni.node.plugins.module_utils import _cnicache, _cniexec, _cnigc, _cniloader, _cniplugin, _dhcp
from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError

SECTIONS = ('networks', 'plugins', 'links', 'namespaces', 'leases', 'sysctls', 'attachments', 'dhcp')
SYSCTLS = (
    'net.ipv4.ip_forward',
    'net.ipv6.conf.all.forwarding',
    'net.ipv4.conf.all.rp_filter',
    'net.bridge.bridge-nf-call-iptables',
    'net.bridge.bridge-nf-call-ip6tables',
    'net.ipv4.ip_local_port_range',
    'net.netfilter.nf_conntrack_max',
)
NETNS_RUN_DIR = '/run/netns'


# ---------------------------------------------------------------- networks

def networks(conf_dir, read_text):
    files = _cniloader.scan(conf_dir, read_text)
    first, problem = _cniloader.default_network(files)
    out = []
    for f in files:
        item = f.summary()
        item['valid'] = f.spec_error is None
        item['kind'] = 'conflist' if f.is_list else 'conf'
        item['cni_version'] = None
        item['plugins'] = []
        if f.loads:
            try:
                net = _cniloader.network_from_bytes(f.text.encode('utf-8', 'surrogateescape'), path=f.path)
                item['cni_version'] = net.cni_version
                item['plugins'] = [p.get('type') for p in net.plugins]
            except CniNodeError:
                pass
        out.append(item)
    return dict(
        conf_dir=conf_dir,
        files=out,
        default_network=dict(path=first.path if first else None, name=first.name if first else None,
                             problem=problem),
        duplicates=_cniloader.duplicates(files),
    )


# ---------------------------------------------------------------- plugin binaries

def plugins(bin_dirs, ask_versions=True, timeout=_cniexec.DEFAULT_TIMEOUT):
    """{type: {path, sha256, versions, problems, shadowed}} - the first binary of each name wins, like CNI_PATH."""
    out = {}
    for directory in bin_dirs:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            if name.startswith('.') or not os.path.isfile(path) or not os.access(path, os.X_OK):
                continue
            if name in out:
                out[name]['shadowed'].append(path)
                continue
            item = dict(path=path, sha256=None, versions=None, problems=_cniexec.binary_problems(path),
                        shadowed=[], error=None)
            try:
                item['sha256'] = _cniplugin.sha256_file(path)
            except (IOError, OSError) as exc:
                item['error'] = 'cannot be read: %s' % exc
            if ask_versions and not item['problems'] and item['error'] is None:
                try:
                    item['versions'] = _cniexec.versions(path, timeout=timeout)
                except _cniexec.PluginError as exc:
                    item['error'] = exc.msg
            out[name] = item
    return out


# ---------------------------------------------------------------- links and namespaces

def namespaces(run_dir=NETNS_RUN_DIR):
    try:
        return sorted(n for n in os.listdir(run_dir) if os.path.isfile(os.path.join(run_dir, n)))
    except OSError:
        return []


def _nsid(nl, name, run_dir=NETNS_RUN_DIR):
    """The id the node's namespace gives the named namespace (RTM_GETNSID), or None when it has none."""
    return nl.nsid(os.path.join(run_dir, name))


def links(netlink_factory, names):
    """Bridges, VXLAN devices and veths of the node; for a veth, its peer's namespace and name.

    ``netlink_factory(netns)`` opens the netlink adapter (None: the node). A
    peer in another namespace is found through the namespace id the kernel
    reports for it (IFLA_LINK_NETNSID), matched against the ids of the named
    namespaces, then by its interface index there.
    """
    with netlink_factory(None) as nl:
        mine = nl.links()
        wanted = [link for link in mine if link['kind'] in ('bridge', 'vxlan', 'veth')]
        nsids = set(link['link_netnsid'] for link in wanted
                    if link['kind'] == 'veth' and link.get('link_netnsid') is not None)
        by_nsid = {}
        if nsids:
            for ns in names:
                nsid = _nsid(nl, ns)
                if nsid in nsids:
                    by_nsid[nsid] = ns
    by_index = dict((link['index'], link) for link in mine)
    theirs = {}
    for ns in set(by_nsid.values()):
        try:
            with netlink_factory(ns) as nl:
                theirs[ns] = dict((link['index'], link) for link in nl.links())
        except CniNodeError:
            theirs[ns] = {}
    out = []
    for link in wanted:
        item = dict(name=link['name'], kind=link['kind'], mtu=link['mtu'], mac=link['address'], up=link['up'],
                    master=by_index.get(link['master'], {}).get('name') if link.get('master') else None)
        if link['kind'] == 'vxlan':
            item['vxlan'] = link.get('vxlan')
        if link['kind'] == 'veth':
            nsid = link.get('link_netnsid')
            if nsid is None:
                local = by_index.get(link.get('link'))
                item['peer'] = dict(netns=None, name=local['name'] if local else None)
            elif nsid in by_nsid:
                other = theirs.get(by_nsid[nsid], {}).get(link.get('link'))
                item['peer'] = dict(netns=by_nsid[nsid], name=other['name'] if other else None)
            else:
                item['peer'] = dict(netns=None, name=None, netnsid=nsid)   # an unnamed namespace
        out.append(item)
    return out


# ---------------------------------------------------------------- leases

def _range_size(rng):
    """How many addresses host-local can hand out from one range (without its gateway)."""
    try:
        subnet = ipaddress.ip_network(rng['subnet'], strict=False)
    except (KeyError, TypeError, ValueError):
        return 0
    first = subnet.network_address + 1
    last = subnet.broadcast_address - (1 if subnet.version == 4 else 0)
    try:
        if rng.get('rangeStart'):
            first = ipaddress.ip_address(rng['rangeStart'])
        if rng.get('rangeEnd'):
            last = ipaddress.ip_address(rng['rangeEnd'])
    except ValueError:
        return 0
    size = int(last) - int(first) + 1
    gateway = rng.get('gateway')
    try:
        gw = ipaddress.ip_address(gateway) if gateway else subnet.network_address + 1
    except ValueError:
        gw = None
    if gw is not None and first <= gw <= last:
        size -= 1
    return max(size, 0)


def _host_local_ranges(network):
    out = []
    for plugin in network.plugins:
        ipam = plugin.get('ipam') if plugin.get('type') != 'host-local' else plugin
        if not isinstance(ipam, dict) or ipam.get('type') != 'host-local':
            continue
        if isinstance(ipam.get('ranges'), list):
            for rset in ipam['ranges']:
                out.extend(r for r in (rset if isinstance(rset, list) else []) if isinstance(r, dict))
        elif ipam.get('subnet'):
            out.append(ipam)
    return out


def leases(conf_dir, cache_dir, read_text, netns_exists=_cnicache.namespace_exists):
    """Per network of conf_dir with host-local: lease counts and each lease (stale as cni_gc would judge it)."""
    out = {}
    for f in _cniloader.scan(conf_dir, read_text):
        if not f.loads or f.name is None or f.name in out:
            continue
        try:
            net = _cniloader.network_from_bytes(f.text.encode('utf-8', 'surrogateescape'), path=f.path)
        except CniNodeError:
            continue
        dirs = _cnigc.lease_dirs(net)
        if not dirs:
            continue
        gc_plan = _cnigc.plan(net, cache_dir, netns_exists=netns_exists)
        released = set(r['lease_file'] for r in gc_plan.released())
        items = [dict(address=str(lease.address), container_id=lease.container_id, ifname=lease.ifname,
                      stale=lease.path in released) for lease in gc_plan.leases]
        total = sum(_range_size(r) for r in _host_local_ranges(net))
        out[net.name] = dict(dirs=dirs, used=len(items), stale=sum(1 for i in items if i['stale']),
                             free=max(total - len(items), 0), size=total, leases=items)
    return out


# ---------------------------------------------------------------- sysctls

def sysctls(keys=SYSCTLS, root='/proc/sys'):
    out = {}
    for key in keys:
        path = os.path.join(root, *key.split('.'))
        try:
            with open(path) as f:
                out[key] = ' '.join(f.read().split())
        except (IOError, OSError):
            out[key] = None
    return out


# ---------------------------------------------------------------- attachments

def attachments(cache_dir, netns_exists=_cnicache.namespace_exists):
    """Network -> cached attachments: container_id, ifname, netns, live, ips, labels (cni_attachment's)."""
    out = {}
    for entry in _cnicache.cached_attachments(cache_dir):
        netns = entry.namespace()[0]
        result = entry.result if isinstance(entry.result, dict) else {}
        ips = [ip.get('address') for ip in result.get('ips') or [] if isinstance(ip, dict) and ip.get('address')]
        out.setdefault(entry.network_name, []).append(dict(
            container_id=entry.container_id, ifname=entry.ifname, netns=netns or None,
            live=bool(netns) and netns_exists(netns), ips=ips, labels=entry.labels))
    return out


# ---------------------------------------------------------------- dhcp

def dhcp(conf_dir, cache_dir, read_text, netns_exists=_cnicache.namespace_exists, proc='/proc', sockets=()):
    """The dhcp daemons the networks of conf_dir use and the leases their attachments hold (``_dhcp.facts``)."""
    nets = []
    for f in _cniloader.scan(conf_dir, read_text):
        if not f.loads or f.name is None:
            continue
        try:
            nets.append(_cniloader.network_from_bytes(f.text.encode('utf-8', 'surrogateescape'), path=f.path))
        except CniNodeError:
            continue
    entries = [e for e in _cnicache.cached_attachments(cache_dir) if not e.error]
    return _dhcp.facts(nets, entries, netns_exists, proc=proc, sockets=sockets)
