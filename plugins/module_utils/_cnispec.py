# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CNI network configuration format: validate and normalise. Pure Python.

Covers the CNI specification 0.1.0 .. 1.1.0: network configuration lists
(``.conflist``: ``name``, ``cniVersion``, ``cniVersions``, ``plugins``,
``disableCheck``, ``disableGC``, ``loadOnlyInlinedPlugins``) and legacy
single-plugin files (``.conf``/``.json``), plus the keys of the reference
plugins (containernetworking/plugins) whose meaning is known: their types,
addresses and prefixes, host-local ranges and routes. Keys this file does not
know (third-party plugins, newer options) pass through unchanged.

``normalise_list`` returns the canonical form of a configuration list, so two
configurations that mean the same compare equal:

- JSON key order and formatting do not matter (the form is a parsed object);
- addresses and prefixes are written canonically (``FD00::0001`` ->
  ``fd00::1``);
- list-level booleans given as the strings ``"true"``/``"false"`` (which
  libcni accepts) become booleans, and false ones are left out (false is the
  default);
- ``cniVersions`` is sorted and without duplicates;
- plugin-level ``name`` and ``cniVersion`` are left out (a runtime replaces
  them with the list's own);
- capabilities set to false are left out (the same as not declared).

Errors are ``ConfigError`` (a ``ParameterError``): the message starts with the
JSON path of the offending value (``plugins[0].ipam.ranges[0][0].rangeEnd``)
and says what would be valid. The checks of single values (addresses,
prefixes, names, integers, routes, DNS) live in ``_cnivalues``; this file
holds the versions, the list level, the IPAM objects and each plugin's keys.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.cni.node.plugins.module_utils._cnivalues import (  # the values every check here is made of
    ConfigError,
    _bools,
    _choice,
    _cidr,
    _dns,
    _file_name,
    _int,
    _ip,
    _link_name,
    _mtu,
    _routes,
    _show,
    _str_list,
    _want,
)
from ansible_collections.cni.node.plugins.module_utils import _dhcp, _linkargs

SPEC_VERSIONS = ('0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0')
LATEST = SPEC_VERSIONS[-1]

MAX_DEPTH = 100   # levels of JSON nesting in a configuration list

_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*\Z')
_LIST_KEYS = ('cniVersion', 'cniVersions', 'name', 'disableCheck', 'disableGC', 'loadOnlyInlinedPlugins', 'plugins')
_LIST_BOOLS = ('disableCheck', 'disableGC', 'loadOnlyInlinedPlugins')


# ---------------------------------------------------------------- versions

def parse_version(value, path='cniVersion'):
    """(major, minor, patch) of a spec version string; ConfigError when malformed."""
    if not isinstance(value, str):
        raise ConfigError(path, '%s is not a version string (expected one of %s)'
                          % (_show(value), ', '.join(SPEC_VERSIONS)))
    parts = value.split('.')
    if not 1 <= len(parts) <= 3 or not all(p.isascii() and p.isdigit() for p in parts):   # int() refuses '\u00b2'
        raise ConfigError(path, '%r is not a version (expected one of %s)' % (value, ', '.join(SPEC_VERSIONS)))
    nums = [int(p) for p in parts] + [0] * (3 - len(parts))
    return tuple(nums)


def check_version(value, path='cniVersion'):
    """``value`` when it is a CNI specification version this collection knows."""
    parse_version(value, path)
    if value not in SPEC_VERSIONS:
        raise ConfigError(path, '%r is not a CNI specification version (valid: %s)'
                          % (value, ', '.join(SPEC_VERSIONS)))
    return value


def version_ge(value, other):
    return parse_version(value or '0.1.0') >= parse_version(other)


def highest_common(version_sets):
    """Highest spec version in every one of ``version_sets`` (iterables of strings), or None."""
    common = set(SPEC_VERSIONS)
    for versions in version_sets:
        common &= set(versions)
    if not common:
        return None
    return max(common, key=parse_version)


# ---------------------------------------------------------------- IPAM plugins

class _Range(object):
    def __init__(self, subnet, start, end, gateway):
        self.subnet, self.start, self.end, self.gateway = subnet, start, end, gateway

    def overlaps(self, other):
        if self.subnet.version != other.subnet.version:
            return False
        return self.start <= other.end and other.start <= self.end

    def __str__(self):
        return '%s-%s' % (self.start, self.end)


def _host_local_range(value, path):
    """Canonical range object and its _Range, as host-local reads it."""
    _want(value, 'dict', path, 'a range object ({"subnet": "10.22.0.0/24", "rangeStart": ..., "rangeEnd": ...})')
    out = dict(value)
    if 'subnet' not in out:
        raise ConfigError(path, 'a range needs "subnet" (a prefix, for example 10.22.0.0/24)')
    subnet = _cidr(out['subnet'], path + '.subnet')
    if subnet.prefixlen > subnet.max_prefixlen - 2:
        raise ConfigError(path + '.subnet', '%s is too small to allocate from (host-local needs a prefix of /%d '
                                            'or shorter)' % (subnet, subnet.max_prefixlen - 2))
    out['subnet'] = str(subnet)
    fam = 'IPv%d' % subnet.version
    addrs = {}
    for key in ('rangeStart', 'rangeEnd', 'gateway'):
        if out.get(key) is None:
            out.pop(key, None)
            continue
        addr = _ip(out[key], '%s.%s' % (path, key))
        if addr.version != subnet.version or addr not in subnet:
            raise ConfigError('%s.%s' % (path, key), '%s is not inside subnet %s (expected an %s address from %s to %s)'
                              % (out[key], subnet, fam, subnet.network_address, subnet.broadcast_address))
        out[key] = str(addr)
        addrs[key] = addr
    start = addrs.get('rangeStart', subnet.network_address + 1)
    end = addrs.get('rangeEnd', subnet.broadcast_address - (1 if subnet.version == 4 else 0))
    if start > end:
        raise ConfigError(path + '.rangeEnd', '%s comes before rangeStart %s (expected an address from %s to %s)'
                          % (end, start, start, subnet.broadcast_address))
    return out, _Range(subnet, start, end, addrs.get('gateway'))


def _ipam_host_local(conf, path, ctx):
    out = dict(conf)
    ranges = []   # (path, _Range) of each set
    if out.get('subnet') is not None:   # old style: one range at the top level
        keys = ('subnet', 'rangeStart', 'rangeEnd', 'gateway')
        single, rng = _host_local_range(dict((k, out[k]) for k in keys if k in out), path)
        out.update(single)
        ranges.append((path, [rng]))
    if 'ranges' in out:
        _want(out['ranges'], 'list', path + '.ranges', 'a list of range sets (each a list of range objects)')
        sets = []
        for i, rset in enumerate(out['ranges']):
            spath = '%s.ranges[%d]' % (path, i)
            _want(rset, 'list', spath, 'a range set: a list of range objects')
            if not rset:
                raise ConfigError(spath, 'an empty range set (expected at least one range object)')
            items, rngs = [], []
            for j, item in enumerate(rset):
                norm, rng = _host_local_range(item, '%s[%d]' % (spath, j))
                if rngs and rng.subnet.version != rngs[0].subnet.version:
                    raise ConfigError('%s[%d].subnet' % (spath, j), 'is IPv%d, but %s[0] is IPv%d: one range set holds '
                                      'one address family (use another range set for the other family)'
                                      % (rng.subnet.version, spath, rngs[0].subnet.version))
                for k, earlier in enumerate(rngs):
                    if rng.overlaps(earlier):
                        raise ConfigError('%s[%d]' % (spath, j), 'range %s overlaps %s[%d] (%s): ranges in one set '
                                          'must not overlap' % (rng, spath, k, earlier))
                items.append(norm)
                rngs.append(rng)
            sets.append(items)
            ranges.append((spath, rngs))
        out['ranges'] = sets
    if not ranges and not ctx.get('ipRanges'):
        raise ConfigError(path, 'host-local needs address ranges: "ranges" (a list of range sets) or "subnet" '
                                '(or the ipRanges capability on the plugin)')
    for i, (p1, set1) in enumerate(ranges):
        for p2, set2 in ranges[i + 1:]:
            if any(a.overlaps(b) for a in set1 for b in set2):
                raise ConfigError(p2, 'overlaps %s: range sets must not overlap each other' % p1)
    per_family = {}
    for _p, rset in ranges:
        per_family[rset[0].subnet.version] = per_family.get(rset[0].subnet.version, 0) + 1
    if any(n > 1 for n in per_family.values()) and not version_ge(ctx['cniVersion'], '0.3.0'):
        raise ConfigError(path + '.ranges', 'cniVersion %s allows one range set per address family (more need '
                                            '0.3.0 or later)' % ctx['cniVersion'])
    if 'routes' in out:
        out['routes'] = _routes(out['routes'], path + '.routes')
    for key in ('dataDir', 'resolvConf'):
        if key in out:
            _want(out[key], 'str', '%s.%s' % (path, key), 'an absolute path')
            if not out[key].startswith('/'):
                raise ConfigError('%s.%s' % (path, key), '%r is not an absolute path' % out[key])
    return out


def _ipam_static(conf, path, ctx):
    out = dict(conf)
    if 'addresses' in out:
        _want(out['addresses'], 'list', path + '.addresses', 'a list of {"address": "10.22.0.5/24", "gateway": ...}')
        addrs = []
        families = {}
        for i, item in enumerate(out['addresses']):
            apath = '%s.addresses[%d]' % (path, i)
            _want(item, 'dict', apath, 'an address object ({"address": "10.22.0.5/24"})')
            item = dict(item)
            if 'address' not in item:
                raise ConfigError(apath, 'needs "address" (an address with its prefix, for example 10.22.0.5/24)')
            iface = _cidr(item['address'], apath + '.address', network=False)
            item['address'] = str(iface)
            if item.get('gateway') is not None:
                item['gateway'] = str(_ip(item['gateway'], apath + '.gateway', iface.version))
            families[iface.version] = families.get(iface.version, 0) + 1
            addrs.append(item)
        if any(n > 1 for n in families.values()) and not version_ge(ctx['cniVersion'], '0.3.0'):
            raise ConfigError(path + '.addresses', 'cniVersion %s allows one address per family (more need 0.3.0 '
                                                   'or later)' % ctx['cniVersion'])
        out['addresses'] = addrs
    if 'routes' in out:
        out['routes'] = _routes(out['routes'], path + '.routes')
    if 'dns' in out:
        out['dns'] = _dns(out['dns'], path + '.dns')
    return out


IPAM_TYPES = {'host-local': _ipam_host_local, 'static': _ipam_static, 'dhcp': _dhcp.normalise_ipam}


def _ipam(conf, path, ctx):
    _want(conf, 'dict', path, 'an IPAM object ({"type": "host-local", ...})')
    if 'type' not in conf:
        raise ConfigError(path, 'needs "type" (the IPAM plugin binary, for example host-local)')
    _file_name(conf['type'], path + '.type', 'the name of an IPAM plugin binary')
    check = IPAM_TYPES.get(conf['type'])
    return check(conf, path, ctx) if check else dict(conf)


# ---------------------------------------------------------------- main and meta plugins

def _p_bridge(conf, path, ctx):
    if 'bridge' in conf:
        _file_name(conf['bridge'], path + '.bridge', 'a bridge name')
        _link_name(conf['bridge'], path + '.bridge', 'a bridge name')
    _bools(conf, path, ('isGateway', 'isDefaultGateway', 'forceAddress', 'ipMasq', 'hairpinMode', 'promiscMode',
                        'preserveDefaultVlan', 'macspoofchk', 'enabledad', 'disableContainerInterface',
                        'portIsolation'))
    _choice(conf, path, 'ipMasqBackend', ('iptables', 'nftables'))
    _mtu(conf, path)
    if 'vlan' in conf:
        _int(conf['vlan'], path + '.vlan', 0, 4094, 'a VLAN id')
    if 'vlanTrunk' in conf:
        _want(conf['vlanTrunk'], 'list', path + '.vlanTrunk', 'a list of {"id": N} or {"minID": N, "maxID": M}')
        for i, item in enumerate(conf['vlanTrunk']):
            tpath = '%s.vlanTrunk[%d]' % (path, i)
            _want(item, 'dict', tpath, 'an object {"id": N} or {"minID": N, "maxID": M}')
            for key in ('id', 'minID', 'maxID'):
                if key in item:
                    _int(item[key], '%s.%s' % (tpath, key), 1, 4094, 'a VLAN id')
            if ('minID' in item) != ('maxID' in item):
                raise ConfigError(tpath, 'minID and maxID go together (both or neither)')
            if 'minID' in item and item['minID'] > item['maxID']:
                raise ConfigError(tpath + '.maxID', '%d is below minID %d' % (item['maxID'], item['minID']))
    return conf


def _p_ptp(conf, path, ctx):
    _bools(conf, path, ('ipMasq',))
    _choice(conf, path, 'ipMasqBackend', ('iptables', 'nftables'))
    _mtu(conf, path)
    return conf


def _p_master_link(conf, path, ctx):
    if 'master' in conf:
        _file_name(conf['master'], path + '.master', 'the name of the parent interface')
    _mtu(conf, path)
    _bools(conf, path, ('linkInContainer',))
    return conf


def _p_macvlan(conf, path, ctx):
    _p_master_link(conf, path, ctx)
    _choice(conf, path, 'mode', ('', 'bridge', 'private', 'vepa', 'passthru'))
    if 'mac' in conf:
        _mac(conf['mac'], path + '.mac')
    if 'bcqueuelen' in conf:
        _int(conf['bcqueuelen'], path + '.bcqueuelen', 0, 2 ** 32 - 1)
    return conf


def _p_ipvlan(conf, path, ctx):
    _p_master_link(conf, path, ctx)
    _choice(conf, path, 'mode', ('', 'l2', 'l3', 'l3s'))
    return conf


def _p_vlan(conf, path, ctx):
    _p_master_link(conf, path, ctx)
    if 'vlanId' in conf:
        _int(conf['vlanId'], path + '.vlanId', 0, 4094, 'a VLAN id')
    return conf


def _p_host_device(conf, path, ctx):
    for key in ('device', 'kernelpath', 'pciBusID'):
        if key in conf:
            _want(conf[key], 'str', '%s.%s' % (path, key), 'a string')
    if 'hwaddr' in conf:
        _mac(conf['hwaddr'], path + '.hwaddr')
    return conf


def _p_portmap(conf, path, ctx):
    _bools(conf, path, ('snat', 'masqAll'))
    _choice(conf, path, 'backend', ('iptables', 'nftables'))
    for key in ('conditionsV4', 'conditionsV6'):
        if key in conf:
            _str_list(conf[key], '%s.%s' % (path, key))
    if 'markMasqBit' in conf:
        _int(conf['markMasqBit'], path + '.markMasqBit', 0, 31, 'a bit number')
    if 'externalSetMarkChain' in conf:
        _want(conf['externalSetMarkChain'], 'str', path + '.externalSetMarkChain', 'an iptables chain name')
        if 'markMasqBit' in conf:
            raise ConfigError(path + '.markMasqBit', 'cannot be set together with externalSetMarkChain')
    return conf


def _p_firewall(conf, path, ctx):
    _choice(conf, path, 'backend', ('iptables', 'firewalld'))
    _choice(conf, path, 'ingressPolicy', ('', 'open', 'same-bridge', 'isolated'))
    for key in ('iptablesAdminChainName', 'firewalldZone'):
        if key in conf:
            _want(conf[key], 'str', '%s.%s' % (path, key), 'a string')
    return conf


def _p_tuning(conf, path, ctx):
    if 'sysctl' in conf:
        _want(conf['sysctl'], 'dict', path + '.sysctl', 'an object of sysctl key: string value')
        for key, value in conf['sysctl'].items():
            _want(value, 'str', '%s.sysctl.%s' % (path, key), 'a string (sysctl values are passed as strings, '
                                                              'for example "500")')
    if 'mac' in conf:
        _mac(conf['mac'], path + '.mac')
    _bools(conf, path, ('promisc', 'allmulti'))
    _mtu(conf, path)
    if 'txQLen' in conf:
        _int(conf['txQLen'], path + '.txQLen', 0)
    if 'dataDir' in conf:
        _want(conf['dataDir'], 'str', path + '.dataDir', 'an absolute path')
    return conf


def _p_bandwidth(conf, path, ctx):
    for key in ('ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'):
        if key in conf:
            _int(conf[key], '%s.%s' % (path, key), 0, 2 ** 64 - 1, 'a non-negative integer (bits)')
    for rate, burst in (('ingressRate', 'ingressBurst'), ('egressRate', 'egressBurst')):
        if bool(conf.get(rate)) != bool(conf.get(burst)):
            raise ConfigError('%s.%s' % (path, burst if conf.get(rate) else rate),
                              'is needed too: %s and %s are set together (both above 0, or neither)' % (rate, burst))
    return conf


def _p_sbr(conf, path, ctx):
    if 'table' in conf:
        _int(conf['table'], path + '.table', 0, 2 ** 32 - 1, 'a routing table number')
    if 'gateways' in conf:
        _want(conf['gateways'], 'list', path + '.gateways', 'a list of IP addresses')
        conf['gateways'] = [str(_ip(v, '%s.gateways[%d]' % (path, i))) for i, v in enumerate(conf['gateways'])]
    _bools(conf, path, ('addSourceHints',))
    return conf


def _p_vrf(conf, path, ctx):
    if 'vrfname' not in conf:
        raise ConfigError(path, 'vrf needs "vrfname" (the name of the VRF device)')
    _file_name(conf['vrfname'], path + '.vrfname', 'a VRF device name')
    if 'table' in conf:
        _int(conf['table'], path + '.table', 0, 2 ** 32 - 1, 'a routing table number')
    return conf


def _p_loopback(conf, path, ctx):
    return conf


def _p_dhcp(conf, path, ctx):
    return conf


def _mac(value, path):
    _want(value, 'str', path, 'a MAC address')
    problem = _linkargs.mac_problem(value)
    if problem is not None:
        raise ConfigError(path, problem)


PLUGIN_TYPES = {
    'bridge': _p_bridge, 'ptp': _p_ptp, 'macvlan': _p_macvlan, 'ipvlan': _p_ipvlan, 'vlan': _p_vlan,
    'host-device': _p_host_device, 'loopback': _p_loopback, 'portmap': _p_portmap, 'firewall': _p_firewall,
    'tuning': _p_tuning, 'bandwidth': _p_bandwidth, 'sbr': _p_sbr, 'vrf': _p_vrf,
    # IPAM plugins configured as the ipam object of an interface plugin; listed so that the known set is complete.
    'host-local': _p_loopback, 'static': _p_loopback, 'dhcp': _p_dhcp,
}
# Plugins whose result needs an address: an IPAM object is required. The
# L2-capable plugins (bridge, macvlan, ipvlan, vlan) work without one, or
# with an empty "ipam": {} (an interface without an address).
_NEEDS_IPAM = ('ptp',)
# Reference plugins that are never a chain entry of their own.
_IPAM_ONLY = ('host-local', 'static')


def normalise_plugin(conf, path, ctx):
    """Canonical form of one plugin configuration object (a new dict)."""
    _want(conf, 'dict', path, 'a plugin configuration object ({"type": "bridge", ...})')
    conf = copy.deepcopy(conf)
    if 'type' not in conf:
        raise ConfigError(path, 'needs "type" (the name of the plugin binary, for example bridge)')
    ptype = _file_name(conf['type'], path + '.type', 'the name of a plugin binary')
    for key in list(conf):
        if key in ('runtimeConfig', 'prevResult') or key.startswith('cni.dev/'):
            raise ConfigError('%s.%s' % (path, key),
                              'is generated by the runtime when it runs the plugin and must not be in a '
                              'configuration file; remove it')
    if 'args' in conf and version_ge(ctx['cniVersion'], '1.0.0'):
        ctx['warnings'].append('%s.args: reserved since CNI 1.0.0 (the runtime generates it); plugins may ignore '
                               'or overwrite it' % path)
    # The runtime replaces a plugin's name and cniVersion with the list's.
    conf.pop('name', None)
    conf.pop('cniVersion', None)
    caps = {}
    if 'capabilities' in conf:
        _want(conf['capabilities'], 'dict', path + '.capabilities', 'an object of capability name: true')
        for key, value in conf['capabilities'].items():
            _want(value, 'bool', '%s.capabilities.%s' % (path, key), 'true or false')
            if value:
                caps[key] = True
        if caps:
            conf['capabilities'] = caps
        else:
            del conf['capabilities']
    if 'ipMasq' in conf:
        _want(conf['ipMasq'], 'bool', path + '.ipMasq', 'true or false')
    if 'dns' in conf:
        conf['dns'] = _dns(conf['dns'], path + '.dns')
    if 'ipam' in conf and not (conf['ipam'] == {} and ptype not in _NEEDS_IPAM):
        ictx = dict(ctx, ipRanges=bool(caps.get('ipRanges')))
        conf['ipam'] = _ipam(conf['ipam'], path + '.ipam', ictx)
    elif 'ipam' not in conf and ptype in _NEEDS_IPAM:
        raise ConfigError(path, '%s needs an "ipam" object (for example {"type": "host-local", "ranges": ...}, or '
                                '{"type": "dhcp"})' % ptype)
    if ptype in _IPAM_ONLY and ctx.get('in_list'):
        raise ConfigError(path + '.type', '%r is an IPAM plugin: it belongs in the "ipam" object of an interface '
                                          'plugin (for example bridge), not in the chain' % ptype)
    check = PLUGIN_TYPES.get(ptype)
    if check:
        conf = check(conf, path, ctx)
    return conf


def check_name(name, path='name'):
    _want(name, 'str', path, 'a network name')
    if not _NAME_RE.match(name):
        raise ConfigError(path, '%r is not a valid network name (expected a letter or digit, then letters, digits, '
                                '"_", "." or "-")' % name)
    return name


def _list_bool(value, path):
    """libcni accepts true/false and the strings "true"/"false" (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ('true', 'false'):
        return value.lower() == 'true'
    raise ConfigError(path, '%s is not valid (expected true or false)' % _show(value))


def _check_depth(data):
    """ConfigError naming a value nested more than MAX_DEPTH levels deep (copying it would exhaust the stack)."""
    stack = [(data, '', 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, list):
            items = [('%s[%d]' % (path, i), item) for i, item in enumerate(value)]
        elif isinstance(value, dict):
            items = [('%s.%s' % (path, key) if path else key, item) for key, item in value.items()]
        else:
            continue
        if depth >= MAX_DEPTH:
            raise ConfigError(path, 'is nested more than %d levels deep' % MAX_DEPTH)
        stack.extend((item, sub, depth + 1) for sub, item in items)


def normalise_list(data, require_version=True, warnings=None):
    """Validated canonical form of a network configuration list (a new dict).

    ``warnings`` (a list) collects what is allowed but probably a mistake.
    """
    if warnings is None:
        warnings = []
    _want(data, 'dict', '', 'a JSON object')
    _check_depth(data)
    out = {}
    for key, value in data.items():
        if key not in _LIST_KEYS:
            out[key] = copy.deepcopy(value)   # unknown list-level keys pass through
    if 'name' not in data:
        raise ConfigError('name', 'is missing (every network configuration has a name)')
    out['name'] = check_name(data['name'])
    version = data.get('cniVersion')
    if version is None:
        if require_version:
            raise ConfigError('cniVersion', 'is missing (expected one of %s)' % ', '.join(SPEC_VERSIONS))
    else:
        out['cniVersion'] = check_version(version)
    if 'cniVersions' in data:
        _want(data['cniVersions'], 'list', 'cniVersions', 'a list of version strings')
        versions = set(check_version(v, 'cniVersions[%d]' % i) for i, v in enumerate(data['cniVersions']))
        out['cniVersions'] = sorted(versions, key=parse_version)
        highest = out['cniVersions'][-1] if out['cniVersions'] else None
        if version is not None and highest and parse_version(version) < parse_version(highest):
            warnings.append('cniVersions: a runtime uses the highest of cniVersion and cniVersions (%s), not '
                            'cniVersion %s' % (highest, version))
    for key in _LIST_BOOLS:
        if key in data and _list_bool(data[key], key):
            out[key] = True
    if out.get('disableGC') and version is not None and not version_ge(version, '1.1.0'):
        warnings.append('disableGC: has no effect with cniVersion %s (GC exists since 1.1.0)' % version)
    if 'plugins' not in data:
        if out.get('loadOnlyInlinedPlugins'):
            raise ConfigError('plugins', 'is missing, and loadOnlyInlinedPlugins is true: a network needs plugins')
        raise ConfigError('plugins', 'is missing (expected a list of plugin configuration objects)')
    plugins = data['plugins']
    _want(plugins, 'list', 'plugins', 'a list of plugin configuration objects')
    if not plugins:
        raise ConfigError('plugins', 'is empty (expected at least one plugin configuration object)')
    ctx = dict(cniVersion=version or '0.1.0', warnings=warnings, in_list=True)
    out['plugins'] = [normalise_plugin(p, 'plugins[%d]' % i, ctx) for i, p in enumerate(plugins)]
    return out


def normalise_conf(data, warnings=None):
    """A legacy single-plugin configuration (.conf/.json) as the list a runtime makes of it."""
    _want(data, 'dict', '', 'a JSON object')
    if 'plugins' in data and 'type' not in data:
        raise ConfigError('type', 'is missing: this is a configuration list; name the file .conflist')
    lst = {'name': data.get('name'), 'plugins': [dict((k, v) for k, v in data.items()
                                                      if k not in ('name', 'cniVersion'))]}
    if data.get('name') is None:
        del lst['name']
    if 'cniVersion' in data:
        lst['cniVersion'] = data['cniVersion']
    try:
        return normalise_list(lst, require_version=False, warnings=warnings)
    except ConfigError as exc:
        # Paths refer to the file's own top level, not to the list made of it.
        path = re.sub(r'^plugins\[0\]\.?', '', exc.path)
        raise ConfigError(path, exc.problem)


def render(conf):
    """Canonical file text of a configuration list: stable key order, two-space indent."""
    order = [k for k in ('cniVersion', 'cniVersions', 'name', 'disableCheck', 'disableGC',
                         'loadOnlyInlinedPlugins') if k in conf]
    order += sorted(k for k in conf if k not in order and k != 'plugins')
    body = dict((k, conf[k]) for k in order)
    body['plugins'] = [_plugin_ordered(p) for p in conf['plugins']]
    return json.dumps(body, indent=2, separators=(',', ': ')) + '\n'


def _plugin_ordered(plugin):
    keys = ['type'] + sorted(k for k in plugin if k != 'type')
    return dict((k, plugin[k]) for k in keys)


def diff_paths(before, after, path=''):
    """``(path, before, after)`` for every value that differs; paths like ``plugins[0].ipam.subnet``.

    Lists of the same length are compared item by item; otherwise (and for
    values of different types) the whole value is one item.
    """
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in list(before) + [k for k in after if k not in before]:
            sub = '%s.%s' % (path, key) if path else key
            out.extend(diff_paths(before.get(key), after.get(key), sub))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after) and path:
        out = []
        for i, (b, a) in enumerate(zip(before, after)):
            sub = '%s[%d]' % (path, i)
            if isinstance(b, dict) and isinstance(a, dict) and b.get('type') != a.get('type'):
                out.append((sub, b, a))
            else:
                out.extend(diff_paths(b, a, sub))
        return out
    if path == 'plugins' and isinstance(before, list) and isinstance(after, list):
        out = []
        for i in range(max(len(before), len(after))):
            b = before[i] if i < len(before) else None
            a = after[i] if i < len(after) else None
            if b is None or a is None or b.get('type') != a.get('type'):
                out.append(('plugins[%d]' % i, b, a))
            else:
                out.extend(diff_paths(b, a, 'plugins[%d]' % i))
        return out
    if before == after and type(before) is type(after):
        return []
    return [(path, before, after)]
