# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_doctor's checks: facts of a node in, findings out. Pure Python: no Ansible, no pyroute2, no I/O.

``check_options`` normalises the module's options; ``run(facts, opts)`` runs
the selected checks on what ``_doctorgather`` read and returns the findings,
each ``{check, severity, subject, evidence, fix}``, errors first.
``NEEDS`` says which facts each check reads, so the gatherer reads only
those. ``vteps`` describes the node's own VXLAN tunnel endpoints (what the
fleet's peer list is made of).

The facts (all plain data; a missing section is an empty one):

- ``sysctl``: {key: value or None} (``SYSCTL_KEYS`` plus each interface's
  ``net.ipv4.conf.<if>.rp_filter``);
- ``links``: the node's links (``_netlink.link_dict`` plus ``xdp`` and
  ``addresses`` as ``address/prefixlen``); ``routes``, ``neighbours``,
  ``fdb``: the netlink dumps;
- ``conffiles``: one dict per configuration file (path, name, loads, error,
  valid, cni_version, types, ipam_types, bridge_mtu, bridge); ``duplicates``:
  {network: [paths in load order]};
- ``binaries``: {type: {path, versions, problems, error}} (``_cniinfo.plugins``);
- ``leases``: ``_cniinfo.leases``; ``sockets``: {path: is a socket};
- ``nft``: {'ruleset': [...]} (``nft -j list ruleset``) or {'error': text};
- ``conntrack``: {'count': int or None, 'max': int or None}.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.cni.node.plugins.module_utils import _overlay
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

SEVERITIES = ('error', 'warning', 'info')
CHECKS = ('forwarding', 'rp_filter', 'conflists', 'plugin_versions', 'mtu', 'peers', 'vtep_macs', 'leases',
          'dhcp', 'xdp', 'nftables', 'vxlan_port', 'conntrack')
NEEDS = dict(
    forwarding=('sysctl',),
    rp_filter=('sysctl', 'links'),
    conflists=('conffiles', 'binaries'),
    plugin_versions=('conffiles', 'binaries'),
    mtu=('links', 'conffiles'),
    peers=('links', 'routes', 'neighbours', 'fdb'),
    vtep_macs=('links', 'neighbours'),
    leases=('leases',),
    dhcp=('conffiles', 'sockets'),
    xdp=('links',),
    nftables=('nft',),
    vxlan_port=('nft', 'links'),
    conntrack=('conntrack',),
)
SYSCTL_KEYS = ('net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', 'net.bridge.bridge-nf-call-iptables',
               'net.bridge.bridge-nf-call-ip6tables')
POLICY_TABLE_PREFIX = 'cni_node_'
DEFAULT_PORT = 4789
_PEER_KEYS = ('remote', 'subnet', 'vtep_mac', 'name')


def finding(check, severity, subject, evidence, fix):
    return dict(check=check, severity=severity, subject=str(subject), evidence=evidence, fix=fix)


# ---------------------------------------------------------------- options

def _check_peer(index, item):
    where = 'peers[%d]' % index
    if not isinstance(item, dict):
        raise ParameterError('%s: %r is not a dict with remote, subnet, vtep_mac, name' % (where, item),
                             param='peers')
    unknown = sorted(set(item) - set(_PEER_KEYS))
    if unknown:
        raise ParameterError('%s: unknown key(s) %s; valid keys are %s'
                             % (where, ', '.join(unknown), ', '.join(_PEER_KEYS)), param='peers')
    if item.get('remote') in (None, ''):
        raise ParameterError('%s.remote is required: the peer\'s underlay address' % where, param='peers')
    remote = _overlay.underlay_address(item['remote'], 'peers', '%s.remote' % where)
    subnet = None
    if item.get('subnet') not in (None, ''):
        try:
            subnet = ipaddress.ip_network(str(item['subnet']), strict=False)
        except ValueError:
            raise ParameterError('%s.subnet: %r is not a subnet' % (where, item['subnet']), param='peers')
    mac = item.get('vtep_mac')
    mac = _overlay.vtep_mac(remote) if mac in (None, '', 'auto') else str(mac).lower()
    return dict(remote=str(remote), subnet=str(subnet) if subnet else None, vtep_mac=mac,
                vtep_address=str(subnet.network_address) if subnet else None,
                name=str(item.get('name') or remote))


def check_options(checks=None, peers=None, vxlan_name=None, bridge_nf=False, expected_xdp=(),
                  expected_nft_tables=(), dhcp_socket_path='/run/cni/dhcp.sock', conntrack_threshold=90,
                  conntrack_min=16384, vxlan_port=None):
    """The options as the checks read them; raises ParameterError naming the option."""
    checks = list(CHECKS) if checks is None else list(checks)
    bad = [c for c in checks if c not in CHECKS]
    if bad:
        raise ParameterError('checks: %s not known; valid checks are %s' % (', '.join(bad), ', '.join(CHECKS)),
                             param='checks')
    if not 0 < int(conntrack_threshold) <= 100:
        raise ParameterError('conntrack_threshold: %r is not a percentage between 1 and 100'
                             % (conntrack_threshold,), param='conntrack_threshold')
    if vxlan_port is not None and not 0 < int(vxlan_port) < 65536:
        raise ParameterError('vxlan_port: %r is not a UDP port (1-65535)' % (vxlan_port,), param='vxlan_port')
    return dict(
        checks=[c for c in CHECKS if c in checks],
        peers=None if peers is None else [_check_peer(i, p) for i, p in enumerate(peers)],
        vxlan_name=vxlan_name, bridge_nf=bool(bridge_nf), expected_xdp=list(expected_xdp or ()),
        expected_nft_tables=list(expected_nft_tables or ()), dhcp_socket_path=dhcp_socket_path,
        conntrack_threshold=int(conntrack_threshold), conntrack_min=int(conntrack_min),
        vxlan_port=None if vxlan_port is None else int(vxlan_port))


def needed(checks):
    return sorted(set(f for c in checks for f in NEEDS[c]))


# ---------------------------------------------------------------- helpers

def _int(value):
    try:
        return int(str(value).split()[0])
    except (ValueError, IndexError, TypeError):
        return None


def _vxlans(facts, opts):
    return [lk for lk in facts.get('links', []) if lk.get('kind') == 'vxlan'
            and (opts.get('vxlan_name') in (None, lk['name']))]


def _by_index(facts):
    return dict((lk['index'], lk) for lk in facts.get('links', []))


def _underlay(link, by_index):
    return by_index.get((link.get('vxlan') or {}).get('link'))


def vteps(facts):
    """The node's VXLAN devices as a peer list entry: name, mac, local (remote for the others), subnet, mtu,
    port, dev (the underlay).

    The subnet is the bridge network holding the device's own /32 (/128)
    address (the overlay profile gives the device the network address of the
    node's pod subnet and the bridge its gateway), None when there is none.
    """
    nets = []
    for lk in facts.get('links', []):
        if lk.get('kind') == 'bridge':
            for a in lk.get('addresses', []):
                if not ipaddress.ip_interface(a).ip.is_link_local:
                    nets.append(ipaddress.ip_interface(a).network)
    out, by_index = [], _by_index(facts)
    for lk in facts.get('links', []):
        if lk.get('kind') != 'vxlan':
            continue
        subnet = None
        for a in lk.get('addresses', []):
            ip = ipaddress.ip_interface(a).ip
            subnet = next((str(n) for n in nets if ip in n), subnet)
        under = _underlay(lk, by_index)
        out.append(dict(name=lk['name'], mac=lk.get('address'), local=(lk.get('vxlan') or {}).get('local'),
                        subnet=subnet, mtu=lk.get('mtu'), port=(lk.get('vxlan') or {}).get('port'),
                        dev=under['name'] if under else None))
    return out


# ---------------------------------------------------------------- checks: kernel parameters

def check_forwarding(facts, opts):
    out, sysctl = [], facts.get('sysctl', {})
    if _int(sysctl.get('net.ipv4.ip_forward')) != 1:
        out.append(finding('forwarding', 'error', 'net.ipv4.ip_forward',
                           'net.ipv4.ip_forward is %s: the node does not route pod traffic off the bridge'
                           % sysctl.get('net.ipv4.ip_forward'),
                           'set net.ipv4.ip_forward=1 (cni.node.sysctl, sysctl_ipv4_forwarding: true)'))
    if opts.get('bridge_nf'):
        for key in ('net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables'):
            value = sysctl.get(key)
            if value is None:
                out.append(finding('forwarding', 'error', key, '%s does not exist: br_netfilter is not loaded' % key,
                                   'load br_netfilter (cni_sysctl load_modules) and set %s=1' % key))
            elif _int(value) != 1:
                out.append(finding('forwarding', 'error', key, '%s is %s: bridged pod traffic bypasses iptables '
                                   '(portmap, kube-proxy)' % (key, value),
                                   'set %s=1 (cni.node.sysctl, sysctl_bridge_nf_call: true)' % key))
    return out


def check_rp_filter(facts, opts):
    """Strict reverse-path filtering (1) on the overlay's interfaces: the kernel uses max(all, interface)."""
    out, sysctl = [], facts.get('sysctl', {})
    by_index = _by_index(facts)
    names = []
    for lk in _vxlans(facts, opts):
        names.append(lk['name'])
        under = _underlay(lk, by_index)
        if under:
            names.append(under['name'])
    names.extend(lk['name'] for lk in facts.get('links', []) if lk.get('kind') == 'bridge')
    all_value = _int(sysctl.get('net.ipv4.conf.all.rp_filter')) or 0
    for name in sorted(set(names)):
        own = _int(sysctl.get('net.ipv4.conf.%s.rp_filter' % name)) or 0
        if max(all_value, own) == 1:
            out.append(finding('rp_filter', 'warning', name,
                               'reverse-path filter on %s is strict (all=%d, %s=%d, the kernel uses the larger): '
                               'overlay packets whose return path leaves by another interface are dropped'
                               % (name, all_value, name, own),
                               'set net.ipv4.conf.all.rp_filter=2 and net.ipv4.conf.%s.rp_filter=2 (loose; '
                               'cni.node.sysctl sysctl_rp_filter: 2)' % name))
    return out


# ---------------------------------------------------------------- checks: configuration and binaries

def _active(facts):
    """The configuration files a runtime loads for each network name (the first that loads)."""
    seen, out = set(), []
    for f in facts.get('conffiles', []):
        if f.get('loads') and f.get('name') and f['name'] not in seen:
            seen.add(f['name'])
            out.append(f)
    return out


def check_conflists(facts, opts):
    out = []
    for f in facts.get('conffiles', []):
        if not f.get('loads'):
            out.append(finding('conflists', 'error', f['path'], '%s cannot be loaded: %s' % (f['path'], f['error']),
                               'fix or remove %s (a runtime stops at a file it cannot load)' % f['path']))
        elif not f.get('valid', True):
            out.append(finding('conflists', 'warning', f['path'], '%s breaks the CNI specification: %s'
                               % (f['path'], f['error']), 'rewrite it with cni.node.cni_network'))
    for name, paths in sorted(facts.get('duplicates', {}).items()):
        out.append(finding('conflists', 'error', paths[0],
                           'network %r is defined by %s; runtimes load %s and never see %s'
                           % (name, ', '.join(paths), paths[0], ', '.join(paths[1:])),
                           'remove the stale file(s): keep one file per network (the one cni_network manages)'))
    binaries = facts.get('binaries', {})
    for f in _active(facts):
        for ptype in f.get('types', []) + f.get('ipam_types', []):
            if ptype not in binaries:
                out.append(finding('conflists', 'error', ptype, 'network %r (%s) uses plugin %r, which is not in '
                                   'the plugin directories' % (f['name'], f['path'], ptype),
                                   'install the plugin (cni.node.plugins / cni_plugin) into the bin directory'))
            elif binaries[ptype].get('problems'):
                out.append(finding('conflists', 'error', ptype, '%s: %s' % (
                    binaries[ptype]['path'], '; '.join(binaries[ptype]['problems'])),
                    'reinstall %s with cni_plugin (root-owned, not writable by others)' % ptype))
    return out


def check_plugin_versions(facts, opts):
    out, binaries = [], facts.get('binaries', {})
    for f in _active(facts):
        version = f.get('cni_version')
        for ptype in f.get('types', []) + f.get('ipam_types', []):
            versions = (binaries.get(ptype) or {}).get('versions')
            if binaries.get(ptype, {}).get('error'):
                out.append(finding('plugin_versions', 'error', ptype, '%s VERSION failed: %s'
                                   % (binaries[ptype]['path'], binaries[ptype]['error']),
                                   'reinstall %s (cni_plugin)' % ptype))
            elif version and versions is not None and version not in versions:
                out.append(finding('plugin_versions', 'error', ptype, 'network %r (%s) has cniVersion %s; %s '
                                   'supports %s' % (f['name'], f['path'], version, binaries[ptype]['path'],
                                                    ', '.join(versions)),
                                   'set the network\'s cni_version to one the plugin supports (auto) or upgrade '
                                   'the plugins'))
    return out


def check_dhcp(facts, opts):
    out, path = [], opts.get('dhcp_socket_path')
    for f in _active(facts):
        if 'dhcp' in f.get('ipam_types', []) and not facts.get('sockets', {}).get(path):
            out.append(finding('dhcp', 'error', path, 'network %r uses dhcp IPAM but %s is not a socket: every ADD '
                               'fails' % (f['name'], path),
                               'run the CNI dhcp daemon (cni.node.dhcp) with its socket at %s' % path))
    return out


def check_leases(facts, opts):
    out = []
    for net, info in sorted(facts.get('leases', {}).items()):
        for lease in info.get('leases', []):
            if lease.get('stale'):
                out.append(finding('leases', 'warning', '%s/%s' % (net, lease['address']),
                                   'host-local lease %s of network %r is held by container %s, which has no '
                                   'attachment any more' % (lease['address'], net, lease['container_id']),
                                   'release it with cni.node.cni_gc (network: %s)' % net))
    return out


# ---------------------------------------------------------------- checks: links

def check_mtu(facts, opts):
    out, by_index = [], _by_index(facts)
    overlay_mtu = None
    for lk in _vxlans(facts, opts):
        under = _underlay(lk, by_index)
        local = (lk.get('vxlan') or {}).get('local')
        if not under:
            continue
        fam = 'ipv6' if local and ':' in str(local) else 'ipv4'
        limit = under['mtu'] - _overlay.VXLAN_OVERHEAD[fam]
        overlay_mtu = limit if overlay_mtu is None else min(overlay_mtu, limit)
        if lk['mtu'] > limit:
            out.append(finding('mtu', 'error', lk['name'], '%s has MTU %d, but its underlay %s has %d: at most %d '
                               'fits (%d bytes of VXLAN over %s); larger packets are fragmented or dropped'
                               % (lk['name'], lk['mtu'], under['name'], under['mtu'], limit,
                                  _overlay.VXLAN_OVERHEAD[fam], fam),
                               'set the VXLAN, bridge and network MTU to %d (cni.node.overlay derives it from '
                               'the underlay; rerun cni.node.site)' % limit))
        overlay_mtu = min(overlay_mtu, lk['mtu'])
    bridges = dict((lk['name'], lk) for lk in facts.get('links', []) if lk.get('kind') == 'bridge')
    if overlay_mtu is not None:
        for name, br in sorted(bridges.items()):
            if br['mtu'] > overlay_mtu:
                out.append(finding('mtu', 'error', name, 'bridge %s has MTU %d, more than the overlay carries (%d)'
                                   % (name, br['mtu'], overlay_mtu), 'set %s MTU to %d' % (name, overlay_mtu)))
        for f in _active(facts):
            if f.get('bridge_mtu') and f['bridge_mtu'] > overlay_mtu:
                out.append(finding('mtu', 'error', f['path'], 'network %r gives pods MTU %d, more than the overlay '
                                   'carries (%d)' % (f['name'], f['bridge_mtu'], overlay_mtu),
                                   'set the network\'s bridge mtu to %d (cni_network)' % overlay_mtu))
    for lk in facts.get('links', []):
        master = by_index.get(lk.get('master')) if lk.get('master') else None
        if lk.get('kind') == 'veth' and master and master.get('kind') == 'bridge' and lk['mtu'] != master['mtu']:
            out.append(finding('mtu', 'warning', lk['name'], 'pod veth %s on %s has MTU %d, the bridge %d'
                               % (lk['name'], master['name'], lk['mtu'], master['mtu']),
                               'reattach the pod (its MTU comes from the network configuration at ADD)'))
    return out


def check_xdp(facts, opts):
    out = []
    for lk in facts.get('links', []):
        xdp = lk.get('xdp') or {}
        if xdp.get('id') and lk['name'] not in opts.get('expected_xdp', []):
            out.append(finding('xdp', 'warning', lk['name'], 'XDP program id %s is attached to %s (%s mode), which '
                               'the profile does not expect: it sees every packet first and may drop it'
                               % (xdp['id'], lk['name'], xdp.get('mode')),
                               'detach it (cni_xdp state=absent force=true, or ip link set dev %s xdp off) or '
                               'list %s in expected_xdp' % (lk['name'], lk['name'])))
    return out


# ---------------------------------------------------------------- checks: the overlay's peers

def check_peers(facts, opts):
    """Each peer of the fleet's list needs a route, a neighbour and an FDB entry with its real VTEP MAC."""
    out, peers = [], opts.get('peers')
    if peers is None:
        return out
    devices = _vxlans(facts, opts)
    if not devices:
        if peers:
            out.append(finding('peers', 'error', opts.get('vxlan_name') or 'vxlan', 'the fleet has %d peer(s) but '
                               'the node has no VXLAN device%s' % (len(peers), ' %s' % opts['vxlan_name']
                                                                   if opts.get('vxlan_name') else ''),
                               'rerun cni.node.site on this node'))
        return out
    dev = devices[0]
    local = (dev.get('vxlan') or {}).get('local')
    routes = [r for r in facts.get('routes', []) if r.get('oif') == dev['index']]
    neigh = dict((n['dst'], n) for n in facts.get('neighbours', []) if n.get('index') == dev['index'])
    fdb = [e for e in facts.get('fdb', []) if e.get('index') == dev['index'] and e.get('self', True)]
    known = set()
    for p in peers:
        if p['remote'] == str(local):
            continue
        subject = p['name']
        if p['subnet']:
            known.add(p['subnet'])
            if not any(r['dst'] == p['subnet'] for r in routes):
                out.append(finding('peers', 'error', subject, 'no route to %s (pods of %s) through %s'
                                   % (p['subnet'], p['name'], dev['name']),
                                   'rerun cni.node.site (cni_vxlan programs the peer route)'))
            entry = neigh.get(p['vtep_address'])
            if entry is None:
                out.append(finding('peers', 'error', subject, 'no neighbour entry for %s (the VTEP of %s) on %s'
                                   % (p['vtep_address'], p['name'], dev['name']), 'rerun cni.node.site'))
            elif entry.get('lladdr') != p['vtep_mac']:
                out.append(finding('peers', 'error', subject, 'neighbour %s on %s has MAC %s, but %s\'s VTEP MAC '
                                   'is %s' % (p['vtep_address'], dev['name'], entry.get('lladdr'), p['name'],
                                              p['vtep_mac']),
                                   'rerun cni.node.site (cni_vxlan replaces the neighbour)'))
        if not any(e.get('lladdr') == p['vtep_mac'] and e.get('dst') == p['remote'] for e in fdb):
            have = [e.get('lladdr') for e in fdb if e.get('dst') == p['remote']]
            out.append(finding('peers', 'error', subject, 'no forwarding entry %s dst %s on %s%s'
                               % (p['vtep_mac'], p['remote'], dev['name'],
                                  ' (it has %s for that remote)' % ', '.join(str(h) for h in have) if have else ''),
                               'rerun cni.node.site (cni_vxlan programs the FDB entry)'))
    from_peers = set(p['remote'] for p in peers)
    for e in fdb:
        if e.get('dst') and e.get('permanent') and e['dst'] not in from_peers and e['dst'] != str(local):
            out.append(finding('peers', 'warning', e['dst'], '%s forwards %s to %s, which is not in the fleet'
                               % (dev['name'], e.get('lladdr'), e['dst']),
                               'rerun cni.node.site with purge_peers (the overlay role purges when every member '
                               'is known)'))
    return out


def check_vtep_macs(facts, opts):
    """Two VTEPs with one MAC: the node's device and the fleet's peers, and the neighbours of the device."""
    out, owners = [], {}
    for v in vteps(facts):
        if opts.get('vxlan_name') in (None, v['name']):
            owners.setdefault(v['mac'], []).append('this node (%s)' % v['name'])
            local = v['local']
            for p in opts.get('peers') or []:
                if p['remote'] != str(local):
                    owners.setdefault(p['vtep_mac'], []).append(p['name'])
    for mac, who in sorted(owners.items()):
        if len(who) > 1:
            out.append(finding('vtep_macs', 'error', mac, 'VTEP MAC %s belongs to %s: traffic for one goes to the '
                               'other' % (mac, ', '.join(who)),
                               'give each VXLAN device its own MAC (cni_vxlan derives it from the underlay '
                               'address: recreate the device with cni.node.site)'))
    by_mac = {}
    devices = dict((lk['index'], lk['name']) for lk in _vxlans(facts, opts))
    for n in facts.get('neighbours', []):
        if n.get('index') in devices and n.get('lladdr') and n.get('permanent'):
            by_mac.setdefault((n['index'], n['lladdr']), []).append(n['dst'])
    for (index, mac), dsts in sorted(by_mac.items()):
        if len(dsts) > 1 and mac not in owners:
            out.append(finding('vtep_macs', 'error', mac, 'neighbours %s on %s all have MAC %s'
                               % (', '.join(sorted(dsts)), devices[index], mac), 'rerun cni.node.site'))
    return out


# ---------------------------------------------------------------- checks: nftables, conntrack

def _numbers(right):
    """The ports a match's right-hand side covers: a number, a set of numbers/ranges, a range."""
    if isinstance(right, int):
        return [(right, right)]
    if isinstance(right, dict):
        if 'range' in right:
            low, high = right['range']
            return [(low, high)] if isinstance(low, int) and isinstance(high, int) else []
        if 'set' in right:
            out = []
            for item in right['set']:
                out.extend(_numbers(item))
            return out
    if isinstance(right, list):
        out = []
        for item in right:
            out.extend(_numbers(item))
        return out
    return []


def _drops_port(rule, port):
    """Whether an nft JSON rule drops or rejects UDP ``port`` as a destination, unconditionally otherwise."""
    exprs = rule.get('expr') or []
    verdict = any(isinstance(e, dict) and ('drop' in e or 'reject' in e) for e in exprs)
    if not verdict:
        return False
    hit = False
    for e in exprs:
        match = e.get('match') if isinstance(e, dict) else None
        if not match:
            continue
        left = match.get('left') or {}
        payload = left.get('payload') if isinstance(left, dict) else None
        if payload and payload.get('field') == 'dport' and payload.get('protocol') in ('udp', 'th'):
            ranges = _numbers(match.get('right'))
            inside = any(lo <= port <= hi for lo, hi in ranges)
            if match.get('op', '==') in ('==', 'in') and inside:
                hit = True
            elif match.get('op') == '!=' and not inside:
                hit = True
            else:
                return False
    return hit


def _ruleset(facts, check):
    nft = facts.get('nft') or {}
    if nft.get('error'):
        return None, [finding(check, 'info', 'nft', 'the nftables ruleset could not be read: %s' % nft['error'],
                              'install nftables (nft) to let the doctor read the ruleset')]
    return nft.get('ruleset') or [], []


def check_nftables(facts, opts):
    items, out = _ruleset(facts, 'nftables')
    for item in items or []:
        table = item.get('table') if isinstance(item, dict) else None
        if table and table.get('name', '').startswith(POLICY_TABLE_PREFIX) \
                and table['name'] not in opts.get('expected_nft_tables', []):
            out.append(finding('nftables', 'warning', '%s %s' % (table.get('family'), table['name']),
                               'nftables table %s %s is a cni.node policy table the profile does not expect'
                               % (table.get('family'), table['name']),
                               'remove it (cni_policy state=absent) or list it in expected_nft_tables'))
    return out


def check_vxlan_port(facts, opts):
    items, out = _ruleset(facts, 'vxlan_port')
    ports = set([opts['vxlan_port']] if opts.get('vxlan_port') else
                [(v.get('vxlan') or {}).get('port') or DEFAULT_PORT for v in _vxlans(facts, opts)]
                or [DEFAULT_PORT])
    for item in items or []:
        rule = item.get('rule') if isinstance(item, dict) else None
        if not rule:
            continue
        for port in sorted(ports):
            if _drops_port(rule, port):
                where = '%s %s %s' % (rule.get('family'), rule.get('table'), rule.get('chain'))
                out.append(finding('vxlan_port', 'error', where, 'a rule in %s (handle %s) drops UDP port %d, the '
                                   'VXLAN port: peers cannot reach this node' % (where, rule.get('handle'), port),
                                   'delete the rule (nft delete rule %s handle %s, or the iptables rule that made '
                                   'it) or accept UDP %d from the peers before it'
                                   % (where, rule.get('handle'), port)))
    return out


def check_conntrack(facts, opts):
    ct, out = facts.get('conntrack') or {}, []
    count, limit = ct.get('count'), ct.get('max')
    if limit is None:
        return out
    if count is not None and limit > 0 and count * 100 >= limit * opts['conntrack_threshold']:
        out.append(finding('conntrack', 'error' if count >= limit else 'warning', 'nf_conntrack',
                           'the connection tracking table holds %d of %d entries (%d%%): new connections are '
                           'dropped when it is full' % (count, limit, count * 100 // limit),
                           'raise net.netfilter.nf_conntrack_max (cni.node.sysctl sysctl_extra_params)'))
    elif limit < opts['conntrack_min']:
        out.append(finding('conntrack', 'warning', 'nf_conntrack', 'net.netfilter.nf_conntrack_max is %d, less '
                           'than %d: a busy node fills it' % (limit, opts['conntrack_min']),
                           'raise net.netfilter.nf_conntrack_max to %d or more' % opts['conntrack_min']))
    return out


# ---------------------------------------------------------------- run

_ORDER = dict((s, i) for i, s in enumerate(SEVERITIES))


def run(facts, opts):
    """The findings of the selected checks, errors first, then by check and subject."""
    out = []
    for check in opts['checks']:
        out.extend(globals()['check_' + check](facts, opts))
    return sorted(out, key=lambda f: (_ORDER[f['severity']], CHECKS.index(f['check']), f['subject']))


def healthy(findings):
    return not any(f['severity'] == 'error' for f in findings)
