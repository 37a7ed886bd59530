# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dhcp IPAM and its daemon: configuration keys, the daemon socket, leases released before DEL. Pure Python.

The reference ``dhcp`` IPAM plugin is a client of a long-running daemon
(``dhcp daemon``, one per node) reached on a unix socket
(``daemonSocketPath``, default ``/run/cni/dhcp.sock``): the daemon acquires
the lease inside the pod's namespace and renews it for the pod's lifetime.
This room knows:

- **the configuration** of a ``{"type": "dhcp"}`` IPAM object, checked key
  by key (``normalise_ipam``, called by ``_cnispec``);
- **the socket**: whether a daemon answers on it (``socket_problem``: a
  connect, nothing sent). A missing or dead socket makes ADD fail after the
  interface plugin has made the pod's interface, and with socket activation
  an answering socket starts the daemon;
- **the DEL order**: the bridge plugin (and others) delete the pod's
  interface before they call their IPAM's DEL, so the daemon's DHCPRELEASE
  has no interface to leave by ("no such device") and the lease stays at the
  server until it expires. ``release_first`` runs the dhcp IPAM's own DEL,
  with the same configuration, container, namespace and ifname, before the
  chain's DEL, while the interface still exists; the chain's DEL then finds
  no lease to release and succeeds;
- **CHECK**: the dhcp daemon before plugins 1.2.0 answers CHECK by
  acquiring a second lease object for the same client and keeps the first
  one renewing forever, also after DEL released the other
  (containernetworking/plugins pull request 792, measured with 1.1.1: the
  released lease is back at the server within one renewal period).
  ``check_skip_reason`` says why the runtime does not CHECK such a chain on
  its own;
- **facts** for cni_info: the daemon process (from /proc), its binary's
  version, and the leases the node's cache says it holds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import socket
import stat

from ansible_collections.cni.node.plugins.module_utils import _cniexec
from ansible_collections.cni.node.plugins.module_utils._cnivalues import ConfigError, _int, _routes, _want
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

DEFAULT_SOCKET = '/run/cni/dhcp.sock'
PROBE_TIMEOUT = 2.0     # seconds a connect to the daemon socket may take
_OPTION_NAME_RE = re.compile(r'^[a-z][a-z0-9-]*\Z')
_DURATION_RE = re.compile(r'^([0-9]+(\.[0-9]+)?(ns|us|\u00b5s|ms|s|m|h))+\Z')   # Go's time.ParseDuration
_ABOUT_RE = re.compile(r'CNI dhcp plugin (?:version )?(\S+)')
_KNOWN_KEYS = ('type', 'daemonSocketPath', 'request', 'provide', 'priority', 'routes', 'timeout', 'resendMax',
               'broadcast')


class DaemonUnavailable(ParameterError):
    """No dhcp daemon answers on the socket a network's dhcp IPAM uses."""


# ---------------------------------------------------------------- the configuration

def _option(value, path):
    """A DHCP option as the plugin reads it: a name (``host-name``) or a number 1..254 (as text or integer)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(path, '%r is not a DHCP option (expected a name such as "classless-static-routes" or '
                                'a number from 1 to 254)' % (value,))
    text = str(value)
    if text.isdigit():
        if not 1 <= int(text) <= 254:
            raise ConfigError(path, '%s is not a DHCP option number (expected 1 to 254)' % text)
        return value
    if not _OPTION_NAME_RE.match(text):
        raise ConfigError(path, '%r is not a DHCP option name (expected lower-case words joined by "-", for '
                                'example "host-name", or a number from 1 to 254)' % text)
    return value


def _options(conf, key, path, fields):
    if key not in conf:
        return
    kpath = '%s.%s' % (path, key)
    _want(conf[key], 'list', kpath, 'a list of DHCP option objects ({"option": "host-name", ...})')
    for i, item in enumerate(conf[key]):
        ipath = '%s[%d]' % (kpath, i)
        _want(item, 'dict', ipath, 'an object ({"option": ...})')
        if 'option' in item:
            _option(item['option'], ipath + '.option')
        elif key == 'provide' or 'skipDefault' not in item:
            raise ConfigError(ipath, 'needs "option" (a DHCP option name or number)%s'
                              % (' or "skipDefault"' if key == 'request' else ''))
        for field in sorted(item):
            if field == 'option':
                continue
            if field not in fields:
                raise ConfigError('%s.%s' % (ipath, field), 'is not a key of a %s option (valid: option, %s)'
                                  % (key, ', '.join(sorted(fields))))
            _want(item[field], fields[field], '%s.%s' % (ipath, field),
                  'true or false' if fields[field] == 'bool' else 'a string')
        if key == 'provide' and ('value' in item) == ('fromArg' in item):
            raise ConfigError(ipath, 'a provide option needs exactly one of "value" (the text sent) and "fromArg" '
                                     '(the CNI_ARGS key whose value is sent)')


def normalise_ipam(conf, path, ctx):
    """The dhcp IPAM object checked key by key (a new dict); unknown keys are a warning."""
    out = dict(conf)
    if 'daemonSocketPath' in out:
        _want(out['daemonSocketPath'], 'str', path + '.daemonSocketPath', 'the absolute path of the dhcp daemon '
                                                                          'socket')
        if not out['daemonSocketPath'].startswith('/'):
            raise ConfigError(path + '.daemonSocketPath', '%r is not an absolute path (the daemon\'s socket, '
                                                          'default %s)' % (out['daemonSocketPath'], DEFAULT_SOCKET))
    _options(out, 'request', path, {'skipDefault': 'bool'})
    _options(out, 'provide', path, {'value': 'str', 'fromArg': 'str'})
    for key in ('timeout', 'resendMax'):
        if key in out:
            _want(out[key], 'str', '%s.%s' % (path, key), 'a duration such as "10s" or "1m30s"')
            if not _DURATION_RE.match(out[key]):
                raise ConfigError('%s.%s' % (path, key), '%r is not a duration (expected a number with a unit: '
                                                         'ns, us, ms, s, m, h; for example "10s" or "1m30s")'
                                  % out[key])
    if 'broadcast' in out:
        _want(out['broadcast'], 'bool', path + '.broadcast', 'true or false')
    if 'priority' in out:
        _int(out['priority'], path + '.priority', 0, 2 ** 32 - 1, 'a route metric')
    if 'routes' in out:
        out['routes'] = _routes(out['routes'], path + '.routes')
    unknown = sorted(k for k in out if k not in _KNOWN_KEYS)
    if unknown and ctx.get('warnings') is not None:
        ctx['warnings'].append('%s: the dhcp IPAM does not know %s (known: %s)'
                               % (path, ', '.join(unknown), ', '.join(_KNOWN_KEYS[1:])))
    return out


# ---------------------------------------------------------------- the daemon socket

def dhcp_plugins(plugins):
    """(index, plugin, socket path) of every chain entry whose IPAM is dhcp."""
    out = []
    for i, plugin in enumerate(plugins or ()):
        ipam = plugin.get('ipam') if isinstance(plugin, dict) else None
        if isinstance(ipam, dict) and ipam.get('type') == 'dhcp':
            path = ipam.get('daemonSocketPath')
            out.append((i, plugin, path if isinstance(path, str) and path else DEFAULT_SOCKET))
    return out


def socket_problem(path, timeout=PROBE_TIMEOUT):
    """None when something accepts a connection on the unix socket ``path``; else what is wrong, in words."""
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as exc:
        return 'cannot make a unix socket: %s' % os.strerror(exc.errno)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except socket.timeout:
        return 'does not answer within %s s' % timeout
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 'does not exist'
        if exc.errno in (errno.ECONNREFUSED, errno.ENOTSOCK):
            try:
                if not stat.S_ISSOCK(os.stat(path).st_mode):
                    return 'is not a socket'
            except OSError:
                pass
            return 'refuses connections (a socket file with no daemon listening)'
        return 'cannot be connected to: %s' % os.strerror(exc.errno)
    finally:
        sock.close()
    return None


def _unavailable(network, index, path, problem):
    return ('network %r (plugins[%d].ipam, type dhcp): no dhcp daemon answers on %s: it %s. Start the CNI dhcp '
            'daemon (role cni.node.dhcp runs it under systemd socket activation), or set the ipam\'s '
            'daemonSocketPath to the socket it listens on' % (network, index, path, problem))


def socket_warnings(conf, timeout=PROBE_TIMEOUT):
    """Warnings for cni_network: each dhcp IPAM of a configuration list whose daemon socket does not answer."""
    out = []
    for index, _plugin, path in dhcp_plugins(conf.get('plugins')):
        problem = socket_problem(path, timeout)
        if problem:
            out.append(_unavailable(conf.get('name'), index, path, problem) + '; ADD of this network fails until '
                       'then')
    return out


def preflight(network, check_mode=False, warnings=None, timeout=PROBE_TIMEOUT):
    """Before ADD: DaemonUnavailable (param ``network``) when a dhcp IPAM's socket does not answer.

    The plugins would fail only after the interface plugin made the pod's
    interface (or hang); this fails first, with nothing made. In check mode
    the problem is a warning: an earlier task of the run may start the daemon.
    """
    for index, _plugin, path in dhcp_plugins(network.plugins):
        problem = socket_problem(path, timeout)
        if not problem:
            continue
        msg = _unavailable(network.name, index, path, problem)
        if check_mode:
            if warnings is not None:
                warnings.append(msg + ' (check mode: the real run fails here, before ADD)')
            continue
        raise DaemonUnavailable(msg + '; nothing was changed', param='network', socket=path)


def daemon_differences(network, timeout=PROBE_TIMEOUT):
    """(what, before, after) for each dhcp IPAM of an attachment whose daemon no longer answers.

    An attachment of a dhcp network is healthy only while the daemon renews
    its lease: a dead socket is drift of the attachment (the real run then
    fails in ``preflight``, naming the socket).
    """
    out = []
    for index, _plugin, path in dhcp_plugins(network.plugins):
        problem = socket_problem(path, timeout)
        if problem:
            out.append(('dhcp_daemon', 'plugins[%d]: %s %s' % (index, path, problem), 'answering'))
    return out


def release_first(runner, network, rt, prev_result):
    """The dhcp IPAM's DEL, run before the chain's DEL so the daemon releases while the interface exists.

    ``runner`` is a ``_cniruntime.Runner``. A daemon that does not answer is
    a warning here (the chain's DEL then reports it); a failing release is a
    warning too: the chain's DEL still runs and releases the rest.
    """
    for index, plugin, path in dhcp_plugins(network.plugins):
        problem = socket_problem(path)
        if problem:
            runner.warnings.append('%s; the chain\'s DEL follows without releasing the lease first, and the '
                                   'server keeps it until it expires' % _unavailable(network.name, index, path,
                                                                                     problem))
            continue
        as_ipam = dict(plugin, type='dhcp')    # the dhcp binary reads the "ipam" object of the same configuration
        try:
            runner.invoke(network, as_ipam, 'DEL', rt, prev_result=prev_result)
        except _cniexec.CniFailure as exc:
            runner.warnings.append('releasing the dhcp lease of plugins[%d] before DEL failed: %s' % (index, exc.msg))


def stale_leases(network, stale_entries):
    """cni_gc's released items for the dhcp leases of stale attachments (their DEL releases them at the daemon).

    The daemon still holds the dead pod's namespace open (it renews from
    inside it), so its DHCPRELEASE leaves by the pod's interface even after
    the namespace's name is gone; the namespace goes with the lease.
    """
    found = dhcp_plugins(network.plugins)
    if not found:
        return []
    out = []
    for entry in stale_entries:
        for ip in (entry.result or {}).get('ips') or []:
            if isinstance(ip, dict) and ip.get('address'):
                out.append(dict(address=ip['address'].split('/')[0], container_id=entry.container_id,
                                ifname=entry.ifname, lease_file=None, via='dhcp_daemon', socket=found[0][2]))
    return out


def check_skip_reason(network):
    """Why the runtime does not CHECK a chain with dhcp IPAM on its own (None: it may)."""
    if not dhcp_plugins(network.plugins):
        return None
    return ('network %r uses the dhcp IPAM, whose CHECK starts a second lease in dhcp daemons before plugins 1.2.0 '
            '(one that renews forever, also after DEL): not run on a rerun; state=checked runs it' % network.name)


# ---------------------------------------------------------------- facts

def _cmdline(pid, proc):
    try:
        with open(os.path.join(proc, pid, 'cmdline'), 'rb') as f:
            return [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
    except (IOError, OSError):
        return None


def _flag(argv, name, default=None):
    for i, arg in enumerate(argv):
        for form in ('-' + name, '--' + name):
            if arg == form and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(form + '='):
                return arg[len(form) + 1:]
    return default


def daemons(proc='/proc'):
    """Every running ``dhcp daemon`` process: pid, binary, socket path, pid file, options (from /proc)."""
    out = []
    try:
        pids = sorted((p for p in os.listdir(proc) if p.isdigit()), key=int)
    except OSError:
        return out
    for pid in pids:
        argv = _cmdline(pid, proc)
        if not argv or len(argv) < 2 or os.path.basename(argv[0]) != 'dhcp' or argv[1] != 'daemon':
            continue
        try:
            binary = os.readlink(os.path.join(proc, pid, 'exe'))
        except OSError:
            binary = argv[0]
        prefix = _flag(argv, 'hostprefix', '')
        out.append(dict(pid=int(pid), binary=binary, argv=argv,
                        socket=prefix + _flag(argv, 'socketpath', DEFAULT_SOCKET),
                        pid_file=_flag(argv, 'pidfile'), options=argv[2:]))
    return out


def binary_version(path, timeout=_cniexec.DEFAULT_TIMEOUT):
    """(version text, spec versions) of a dhcp binary: its "about" line and its answer to VERSION."""
    version, spec = None, None
    try:
        inv = _cniexec.execute(path, '', b'', timeout=timeout)
        match = _ABOUT_RE.search(inv.stderr + inv.stdout)
        version = match.group(1) if match else None
        spec = _cniexec.versions(path, timeout=timeout)
    except _cniexec.PluginError:
        pass
    return version, spec


def facts(networks, entries, netns_exists, proc='/proc', sockets=()):
    """cni_info's ``dhcp`` section.

    ``networks``: the loaded ``Network`` objects of conf_dir; ``entries``:
    the cached attachments (``_cnicache.CacheEntry``). Per socket the
    networks use (the default and ``sockets`` too), whether it answers and which daemon
    process serves it; per dhcp network, the leases its cached attachments
    hold (address, holder, namespace) and whether the holder's namespace is
    gone (stale: cni_gc releases it through the daemon).
    """
    procs = daemons(proc)
    sockets = dict((path, []) for path in (DEFAULT_SOCKET,) + tuple(sockets))
    nets = {}
    by_name = {}
    for entry in entries:
        by_name.setdefault(entry.network_name, []).append(entry)
    for net in networks:
        found = dhcp_plugins(net.plugins)
        if not found or net.name in nets:
            continue
        for _i, _p, path in found:
            sockets.setdefault(path, [])
            if net.name not in sockets[path]:
                sockets[path].append(net.name)
        leases = []
        for entry in sorted(by_name.get(net.name, []), key=lambda e: (e.container_id, e.ifname)):
            netns = entry.namespace()[0]
            for ip in (entry.result or {}).get('ips') or []:
                if isinstance(ip, dict) and ip.get('address'):
                    leases.append(dict(address=ip['address'], gateway=ip.get('gateway'),
                                       container_id=entry.container_id, ifname=entry.ifname, netns=netns or None,
                                       stale=bool(netns) and not netns_exists(netns)))
        nets[net.name] = dict(sockets=[p for _i, _p, p in found], leases=leases)
    daemon_list = []
    for path in sorted(sockets):
        served = [p for p in procs if p['socket'] == path]
        item = dict(socket=path, networks=sockets[path], answers=False, problem=None, pid=None, binary=None,
                    options=None, version=None, spec_versions=None)
        item['problem'] = socket_problem(path)
        item['answers'] = item['problem'] is None
        if served:
            item.update(pid=served[0]['pid'], binary=served[0]['binary'], options=served[0]['options'])
            item['version'], item['spec_versions'] = binary_version(served[0]['binary'])
        daemon_list.append(item)
    return dict(daemons=daemon_list, networks=nets)
