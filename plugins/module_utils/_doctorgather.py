# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_doctor's eyes: the facts its checks read (``_doctor``), gathered without changing anything.

``gather(sections, ...)`` reads only the sections asked for (``_doctor.needed``)
and returns ``(facts, errors)``: a section that cannot be read is left out
of ``facts`` and named in ``errors`` with the reason, so the checks that
need it are skipped rather than wrong. What each section reads:

- ``sysctl``: /proc/sys (``_procsys``), the keys of ``_doctor.SYSCTL_KEYS``
  and ``net.ipv4.conf.<if>.rp_filter`` of every link that is not a veth;
- ``links``, ``routes``, ``neighbours``, ``fdb``: one netlink dump per kind
  through the adapter (``_netlink``; links and their XDP in one dump);
- ``conffiles``: the configuration files as a runtime loads them
  (``_cniloader``); ``binaries``: the plugins those use, found as libcni
  finds them (``_cniexec``), their problems and, for plugin_versions, what
  ``VERSION`` reports;
- ``leases``: host-local leases and whether cni_gc would release them
  (``_cniinfo.leases``); ``sockets``: whether the dhcp daemon's socket is one;
- ``nft``: ``nft -j list ruleset`` (a read-only listing; no shell);
- ``conntrack``: ``net.netfilter.nf_conntrack_count`` and ``_max``.

No Ansible; pyroute2 only through the adapter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import subprocess

from ansible_collections.cni.node.plugins.module_utils import _cniexec, _cniinfo, _cniloader, _doctor, _netlink
from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError
from ansible_collections.cni.node.plugins.module_utils._fileutil import read_text
from ansible_collections.cni.node.plugins.module_utils._procsys import PROC_SYS, ProcSys

NFT_PATHS = ('/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft')
NFT_TIMEOUT = 10
_NETLINK_SECTIONS = ('links', 'routes', 'neighbours', 'fdb')


def conffiles(conf_dir, reader=read_text):
    """One plain dict per configuration file of ``conf_dir`` (see ``_doctor``), and the duplicates."""
    files = _cniloader.scan(conf_dir, reader)
    out = []
    for f in files:
        item = f.summary()
        item.update(valid=f.spec_error is None, cni_version=None, types=[], ipam_types=[], bridge_mtu=None)
        if f.loads:
            try:
                net = _cniloader.network_from_bytes(f.text.encode('utf-8', 'surrogateescape'), path=f.path)
            except CniNodeError:
                net = None
            if net is not None:
                item['cni_version'] = net.cni_version
                item['types'] = [p['type'] for p in net.plugins]
                item['ipam_types'] = sorted(set(p['ipam']['type'] for p in net.plugins
                                                if isinstance(p.get('ipam'), dict)
                                                and isinstance(p['ipam'].get('type'), str)))
                mtus = [p.get('mtu') for p in net.plugins if p.get('type') == 'bridge'
                        and isinstance(p.get('mtu'), int) and not isinstance(p.get('mtu'), bool)]
                item['bridge_mtu'] = mtus[0] if mtus else None
        out.append(item)
    return out, _cniloader.duplicates(files)


def binaries(types, bin_dirs, ask_versions, timeout=_cniexec.DEFAULT_TIMEOUT):
    """{type: {path, problems, versions, error}} for the plugin types found in ``bin_dirs``."""
    out = {}
    for ptype in sorted(set(types)):
        path = _cniexec.find_plugin(ptype, bin_dirs)
        if path is None:
            continue
        item = dict(path=path, problems=_cniexec.binary_problems(path), versions=None, error=None)
        if ask_versions and not item['problems']:
            try:
                item['versions'] = _cniexec.versions(path, timeout=timeout)
            except _cniexec.PluginError as exc:
                item['error'] = exc.msg
        out[ptype] = item
    return out


def nft_ruleset(paths=NFT_PATHS, timeout=NFT_TIMEOUT):
    """{'ruleset': [items of nft's JSON]} or {'error': why not}: ``nft -j list ruleset`` lists, never changes."""
    nft = next((p for p in paths if os.access(p, os.X_OK)), None)
    if nft is None:
        return dict(error='nft is not installed (%s)' % ', '.join(paths))
    try:
        proc = subprocess.run([nft, '-j', 'list', 'ruleset'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict(error='%s -j list ruleset: %s' % (nft, exc))
    if proc.returncode != 0:
        return dict(error='%s -j list ruleset failed (rc=%d): %s' % (nft, proc.returncode, proc.stderr.strip()))
    try:
        data = json.loads(proc.stdout or '{"nftables": []}')
    except ValueError as exc:
        return dict(error='%s -j list ruleset printed no JSON: %s' % (nft, exc))
    return dict(ruleset=[i for i in data.get('nftables', []) if isinstance(i, dict) and 'metainfo' not in i])


def _int_or_none(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _netlink_sections(wanted, netlink_factory):
    facts = {}
    with netlink_factory(None) as nl:
        links = nl.links_with_xdp()
        addrs = {}
        for a in nl.addresses():
            addrs.setdefault(a['index'], []).append('%s/%d' % (a['address'], a['prefixlen']))
        for link in links:
            link['addresses'] = addrs.get(link['index'], [])
        facts['links'] = links
        if 'routes' in wanted:
            facts['routes'] = nl.routes()
        if 'neighbours' in wanted:
            facts['neighbours'] = nl.neighbours()
        if 'fdb' in wanted:
            facts['fdb'] = nl.fdb()
    return facts


def gather(sections, conf_dir, bin_dirs, cache_dir, opts, netlink_factory=None, proc_sys=PROC_SYS,
           reader=read_text, nft=None):
    """(facts, errors) for ``sections`` (names of ``_doctor.NEEDS``' values)."""
    netlink_factory = netlink_factory or _netlink.Netlink
    nft = nft or nft_ruleset
    facts, errors = {}, {}
    wanted = set(sections)

    def attempt(name, fn):
        try:
            fn()
        except CniNodeError as exc:
            errors[name] = exc.msg
        except (IOError, OSError) as exc:
            errors[name] = '%s: %s' % (getattr(exc, 'filename', None) or name, exc.strerror or exc)

    if wanted & set(_NETLINK_SECTIONS):
        def _nl():
            facts.update(_netlink_sections(wanted, netlink_factory))
        attempt('links', _nl)
        for name in _NETLINK_SECTIONS:
            if name in wanted and 'links' in errors:
                errors.setdefault(name, errors['links'])
    if 'conffiles' in wanted or 'binaries' in wanted:
        def _conf():
            facts['conffiles'], facts['duplicates'] = conffiles(conf_dir, reader)
        attempt('conffiles', _conf)
    if 'binaries' in wanted and 'conffiles' in facts:
        active = _doctor._active(facts)   # pylint: disable=protected-access
        types = [t for f in active for t in f['types'] + f['ipam_types']]
        attempt('binaries', lambda: facts.__setitem__(
            'binaries', binaries(types, bin_dirs, 'plugin_versions' in opts['checks'])))
    if 'sysctl' in wanted:
        def _sysctl():
            ps = ProcSys(proc_sys)
            keys = list(_doctor.SYSCTL_KEYS)
            keys.extend('net.ipv4.conf.%s.rp_filter' % lk['name'].replace('.', '/')
                        for lk in facts.get('links', []) if lk.get('kind') != 'veth')
            facts['sysctl'] = dict((k.replace('/', '.'), ps.read(k)) for k in keys)
        attempt('sysctl', _sysctl)
    if 'leases' in wanted:
        attempt('leases', lambda: facts.__setitem__('leases', _cniinfo.leases(conf_dir, cache_dir, reader)))
    if 'sockets' in wanted:
        def _sockets():
            path = opts['dhcp_socket_path']
            try:
                facts['sockets'] = {path: stat.S_ISSOCK(os.stat(path).st_mode)}
            except OSError:
                facts['sockets'] = {path: False}
        attempt('sockets', _sockets)
    if 'nft' in wanted:
        facts['nft'] = nft()
    if 'conntrack' in wanted:
        def _ct():
            ps = ProcSys(proc_sys)
            facts['conntrack'] = dict(count=_int_or_none(ps.read('net.netfilter.nf_conntrack_count')),
                                      max=_int_or_none(ps.read('net.netfilter.nf_conntrack_max')))
        attempt('conntrack', _ct)
    return facts, errors


def skipped(checks, errors):
    """{check: reason} for the checks a section they need could not be read for."""
    out = {}
    for check in checks:
        reasons = ['%s: %s' % (s, errors[s]) for s in _doctor.NEEDS[check] if s in errors]
        if reasons:
            out[check] = '; '.join(reasons)
    return out
