# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CNI runtime with libcni's semantics. Pure Python: no Ansible, no netlink.

What a container runtime (containerd, CRI-O, cnitool) does with a network
configuration list, for one attachment (network, container ID, interface):

- **ADD** runs every plugin of the chain in order. Each gets the CNI_*
  environment and on stdin its own configuration with the list's ``name``
  and ``cniVersion``, the previous plugin's result as ``prevResult``, and
  ``runtimeConfig`` holding the ``capability_args`` entries for the
  capabilities the plugin declares (``"capabilities": {"portMappings":
  true}``). The last result is the attachment's result; it is cached.
- **CHECK** (spec 0.4.0 and later, unless ``disableCheck``) runs the chain
  in order with the cached result as ``prevResult``.
- **DEL** runs the chain in reverse, with the cached result as
  ``prevResult`` (0.4.0 and later), then removes the cache entry.
- **GC** and **STATUS** (1.1.0) run every plugin once, without a container.

The cache is libcni's: ``<cache_dir>/results/<network>-<containerID>-<ifname>``,
a JSON object of kind ``cniCacheV1`` with the configuration list's bytes
(base64), the runtime arguments and the result, so containerd, cnitool and
this collection read each other's attachments.

A plugin's CNI error (``{"code", "msg", "details"}`` on stdout and a non-zero
exit) becomes a ``CniFailure`` carrying the code. Every invocation has a
timeout; with a log file, each one is appended as one JSON line (command,
environment with secrets masked, stdin, stdout, stderr, exit code,
duration).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import errno
import json
import os
import re
import time

from ansible_collections.cni.node.plugins.module_utils import (
    _cniexec,
    _cniloader,
    _cnispec,
    _fileutil,
    _ifname,
    _netns,
)
from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError, ParameterError, StateFileError

CACHE_KIND = 'cniCacheV1'
DEFAULT_CACHE_DIR = '/var/lib/cni'
DEFAULT_TIMEOUT = 60
NETNS_RUN_DIR = '/run/netns'
_ID_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.\-]*\Z')
_SECRET_RE = re.compile(r'(?i)(secret|token|passw|credential|private.?key|api.?key|auth)')
MASK = '********'

# The error codes of the CNI specification (codes above 99 belong to plugins).
ERROR_CODES = {
    1: 'incompatible CNI version',
    2: 'unsupported field in network configuration',
    3: 'container unknown or does not exist',
    4: 'invalid necessary environment variables',
    5: 'I/O failure',
    6: 'failed to decode content',
    7: 'invalid network config',
    11: 'try again later',
    50: 'the plugin is not available',
    51: 'the plugin is not available, existing containers may be affected',
}


class CniFailure(_cniexec.PluginError):
    """A plugin failed a command: its CNI error code (None when it gave none), message and details."""

    def __init__(self, msg, code=None, cni_msg=None, cni_details=None, plugin=None, command=None, param=None):
        super(CniFailure, self).__init__(msg, param=param, cni_code=code, cni_msg=cni_msg, cni_details=cni_details,
                                         plugin=plugin, command=command)
        self.code = code
        self.cni_msg = cni_msg
        self.cni_details = cni_details
        self.plugin = plugin
        self.command = command


class AttachmentError(ParameterError):
    """The attachment asked for cannot be acted on (nothing attached, CHECK unsupported...)."""


# ---------------------------------------------------------------- versions and names

def _version_tuple(value):
    if not value:
        return (0, 1, 0)
    try:
        return _cnispec.parse_version(value)
    except _cnispec.ConfigError:
        return (0, 0, 0)


def version_at_least(value, other):
    """Whether spec version ``value`` is ``other`` or later (an empty version is 0.1.0, as for libcni)."""
    return _version_tuple(value) >= _version_tuple(other)


def effective_version(cni_version, cni_versions):
    """The cniVersion libcni uses: the highest of ``cniVersion`` and ``cniVersions`` it implements."""
    if cni_versions is None:
        return cni_version or ''
    latest = _version_tuple(_cnispec.LATEST)
    candidates = [v for v in list(cni_versions) + ([cni_version] if cni_version else [])
                  if _version_tuple(v) <= latest]
    if not candidates:
        return cni_version or ''
    return max(candidates, key=_version_tuple)


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
    if '/' in netns:
        if not os.path.isabs(netns):
            raise ParameterError('netns %r: a path must be absolute, or give a name under %s'
                                 % (netns, NETNS_RUN_DIR), param='netns')
        return netns
    if netns in ('.', '..'):
        raise ParameterError('netns %r is not a namespace name' % netns, param='netns')
    return os.path.join(NETNS_RUN_DIR, netns)


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


# ---------------------------------------------------------------- networks

class Network(object):
    """A network configuration list as libcni holds it.

    ``plugins`` are the plugin objects as written (not normalised: a plugin
    gets exactly what the file says); ``raw`` the bytes cached with an
    attachment (libcni caches the list's own bytes).
    """

    def __init__(self, name, cni_version, plugins, raw, disable_check=False, disable_gc=False, path=None):
        self.name = name
        self.cni_version = cni_version
        self.plugins = plugins
        self.raw = raw
        self.disable_check = disable_check
        self.disable_gc = disable_gc
        self.path = path
        self.warnings = []

    def summary(self):
        return dict(name=self.name, cni_version=self.cni_version, path=self.path,
                    plugins=[p.get('type') for p in self.plugins])


def _bool(data, key, param):
    value = data.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ('true', 'false'):
        return value.lower() == 'true'
    raise ParameterError('%s: %r is not true or false' % (key, value), param=param)


def network_from_bytes(raw, path=None, param='config'):
    """A ``Network`` from the bytes of a configuration list, or of a single plugin configuration (upconverted)."""
    where = path or param
    try:
        data = json.loads(raw.decode('utf-8') if isinstance(raw, bytes) else raw)
    except ValueError as exc:
        raise ParameterError('%s: not valid JSON: %s' % (where, exc), param=param)
    if not isinstance(data, dict):
        raise ParameterError('%s: not a JSON object' % where, param=param)
    if 'plugins' not in data and isinstance(data.get('type'), str):
        # A single plugin configuration: libcni turns it into a list of one.
        data = {'name': data.get('name'), 'cniVersion': data.get('cniVersion', ''), 'plugins': [data]}
        raw = json.dumps(data, separators=(',', ':')).encode('utf-8')
    name = data.get('name')
    if not isinstance(name, str):
        raise ParameterError('%s: no network name' % where, param=param)
    version = data.get('cniVersion', '')
    if not isinstance(version, str):
        raise ParameterError('%s: cniVersion is not a string' % where, param=param)
    versions = data.get('cniVersions')
    if versions is not None and (not isinstance(versions, list) or not all(isinstance(v, str) for v in versions)):
        raise ParameterError('%s: cniVersions is not a list of strings' % where, param=param)
    plugins = data.get('plugins')
    if not isinstance(plugins, list) or not plugins:
        raise ParameterError('%s: plugins is not a non-empty list' % where, param=param)
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get('type'), str) or not plugin['type']:
            raise ParameterError('%s: plugins[%d] has no type' % (where, i), param=param)
    return Network(name, effective_version(version, versions), plugins,
                   raw if isinstance(raw, bytes) else raw.encode('utf-8'),
                   disable_check=_bool(data, 'disableCheck', param), disable_gc=_bool(data, 'disableGC', param),
                   path=path)


def inline_network(config):
    """A ``Network`` from the ``config`` module parameter (a list or a single plugin), validated by the spec core."""
    if not isinstance(config, dict):
        raise ParameterError('config: a configuration list (name, cniVersion, plugins) as a dict', param='config')
    warnings = []
    try:
        if 'plugins' in config:
            _cnispec.normalise_list(config, require_version=False, warnings=warnings)
        else:
            _cnispec.normalise_conf(config, warnings=warnings)
    except _cnispec.ConfigError as exc:
        raise ParameterError('config.%s' % exc.msg if exc.path else 'config: %s' % exc.msg, param='config')
    net = network_from_bytes(json.dumps(config, separators=(',', ':')).encode('utf-8'))
    net.warnings.extend(warnings)
    return net


def _sibling_plugins(conf_dir, name):
    """Plugins of network ``name`` in ``conf_dir/name/*.conf`` (libcni 1.2+), in lexical order."""
    folder = os.path.join(conf_dir, name)
    if not os.path.isdir(folder):
        return []
    out = []
    for fname in sorted(os.listdir(folder), key=lambda n: n.encode('utf-8', 'surrogateescape')):
        path = os.path.join(folder, fname)
        if os.path.splitext(fname)[1] != '.conf' or not os.path.isfile(path):
            continue
        try:
            with open(path, 'rb') as f:
                plugin = json.loads(f.read().decode('utf-8'))
        except (IOError, OSError, ValueError) as exc:
            raise ParameterError('%s: cannot be loaded (%s)' % (path, exc), param='network')
        if not isinstance(plugin, dict) or not isinstance(plugin.get('type'), str) or not plugin['type']:
            raise ParameterError("%s: missing 'type'" % path, param='network')
        out.append(plugin)
    return out


def load_network(conf_dir, name, read_text=_fileutil.read_text):
    """The ``Network`` libcni's LoadNetworkConf finds for ``name`` in ``conf_dir``; ParameterError otherwise."""
    files = _cniloader.scan(conf_dir, read_text)
    found, problem = _cniloader.lookup(files, name)
    if found is None:
        raise ParameterError('network %r in %s: %s' % (name, conf_dir, problem), param='network')
    raw = found.text.encode('utf-8', 'surrogateescape')
    if found.is_list:
        data = json.loads(found.text)
        inlined = data.get('plugins') or []
        extra = [] if _bool(data, 'loadOnlyInlinedPlugins', 'network') else _sibling_plugins(conf_dir, name)
        if not inlined and not extra:
            raise ParameterError('network %r in %s: no plugin configurations' % (name, found.path), param='network')
        data = dict(data, plugins=inlined + extra)
        net = network_from_bytes(json.dumps(data).encode('utf-8'), path=found.path, param='network')
        if not extra:
            net.raw = raw   # libcni caches the list's own bytes; with sibling plugins, the whole chain
    else:
        net = network_from_bytes(raw, path=found.path, param='network')
    if found.spec_error:
        net.warnings.append('%s breaks the CNI specification (%s); running it as a runtime would'
                            % (found.path, found.spec_error))
    return net


def argument_spec(**extra):
    """The options every runtime module shares (plain data for AnsibleModule), plus ``extra``."""
    spec = dict(
        network=dict(type='str'),
        config=dict(type='dict'),
        conf_dir=dict(type='path', default='/etc/cni/net.d'),
        bin_dirs=dict(type='list', elements='path', default=['/opt/cni/bin']),
        cache_dir=dict(type='path', default=DEFAULT_CACHE_DIR),
        timeout=dict(type='int', default=DEFAULT_TIMEOUT),
        log_file=dict(type='path'),
    )
    spec.update(extra)
    return spec


def from_params(params):
    """(runner, network loader) for the shared options; the loader reads O(network) or takes O(config)."""
    if params['timeout'] <= 0:
        raise ParameterError('timeout must be a positive number of seconds', param='timeout')
    runner = Runner(params['bin_dirs'], timeout=params['timeout'], log_file=params['log_file'])
    if params.get('config') is not None:
        inline = inline_network(params['config'])

        def load():
            return inline
    else:
        def load():
            return load_network(params['conf_dir'], params['network'])
    return runner, load


# ---------------------------------------------------------------- what a plugin gets

class RuntimeConf(object):
    """The runtime side of one attachment (libcni's RuntimeConf)."""

    def __init__(self, container_id, netns, ifname, args=None, capability_args=None):
        self.container_id = container_id
        self.netns = netns or ''
        self.ifname = ifname
        self.args = normalise_args(args)
        self.capability_args = dict(capability_args or {})


def build_env(command, rt, bin_dirs):
    """The CNI_* variables of one invocation (every one set, empty when unknown, as libcni does)."""
    rt = rt or RuntimeConf('', '', '')
    return {
        'CNI_COMMAND': command,
        'CNI_CONTAINERID': rt.container_id or '',
        'CNI_NETNS': rt.netns or '',
        'CNI_IFNAME': rt.ifname or '',
        'CNI_ARGS': ';'.join('%s=%s' % (k, v) for k, v in rt.args),
        'CNI_PATH': os.pathsep.join(bin_dirs),
    }


def runtime_config(plugin, capability_args):
    """``runtimeConfig`` for a plugin: the capability_args entries whose capability it declares true."""
    caps = plugin.get('capabilities')
    if not isinstance(caps, dict) or not capability_args:
        return {}
    out = {}
    for cap, enabled in caps.items():
        if enabled is True and cap in capability_args:
            if capability_args[cap] is None:
                raise ParameterError('capability_args.%s: a value is needed (null cannot be passed)' % cap,
                                     param='capability_args')
            out[cap] = capability_args[cap]
    return out


def build_stdin(plugin, network, prev_result=None, capability_args=None, extra=None):
    """The configuration a plugin reads on stdin: its own, plus name, cniVersion, prevResult and runtimeConfig."""
    conf = copy.deepcopy(plugin)
    conf['name'] = network.name
    conf['cniVersion'] = network.cni_version
    if prev_result is not None:
        conf['prevResult'] = prev_result
    rc = runtime_config(plugin, capability_args)
    if rc:
        conf['runtimeConfig'] = rc
    conf.update(extra or {})
    return conf


def describe(plugin):
    return 'type=%s' % json.dumps(plugin.get('type')) + (
        ' name=%s' % json.dumps(plugin['name']) if isinstance(plugin.get('name'), str) and plugin['name'] else '')


def parse_error(returncode, answer, stdout, stderr):
    """(code, msg, details) of a failed invocation: the plugin's CNI error, or what it printed."""
    if isinstance(answer, dict) and ('code' in answer or 'msg' in answer):
        code = answer.get('code')
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        msg = answer.get('msg') if isinstance(answer.get('msg'), str) else json.dumps(answer.get('msg'))
        details = answer.get('details') if isinstance(answer.get('details'), str) and answer.get('details') else None
        return code, msg, details
    text = (stderr or '').strip() or (stdout or '').strip()
    return None, text[:2000] if text else 'exit code %d and no error message' % returncode, None


def failure_message(plugin, command, code, msg, details):
    what = 'plugin %s failed (%s)' % (describe(plugin), command.lower())
    if code is not None:
        meaning = ERROR_CODES.get(code)
        what += ': CNI error %d%s' % (code, ' (%s)' % meaning if meaning else '')
    text = '%s: %s' % (what, msg)
    if details:
        text += ' (%s)' % details
    return text


def mask(value, key=None):
    """A copy of ``value`` with the values of secret-looking keys masked (for the invocation log)."""
    if key is not None and _SECRET_RE.search(str(key)) and not isinstance(value, (dict, list)):
        return MASK
    if isinstance(value, dict):
        return dict((k, mask(v, k)) for k, v in value.items())
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def masked_env(env):
    out = dict(env)
    if out.get('CNI_ARGS'):
        out['CNI_ARGS'] = ';'.join(
            '%s=%s' % (k, MASK) if _SECRET_RE.search(k) else '%s=%s' % (k, v)
            for k, v in (p.split('=', 1) if '=' in p else (p, '') for p in out['CNI_ARGS'].split(';')))
    return dict((k, MASK if _SECRET_RE.search(k) else v) for k, v in out.items())


# ---------------------------------------------------------------- the cache

def cache_path(cache_dir, network, container_id, ifname):
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
        return self.data.get('netns', '')

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
            return network_from_bytes(raw, path=self.path, param='cache_dir')
        except ParameterError:
            return None

    def runtime_conf(self, fallback):
        """The runtime arguments the attachment was made with (libcni's GetNetworkListCachedConfig)."""
        if self.legacy or self.error:
            return fallback
        return RuntimeConf(self.container_id or fallback.container_id, self.netns or fallback.netns,
                           self.ifname or fallback.ifname, self.data.get('cniArgs') or fallback.args,
                           self.data.get('capabilityArgs') or {})


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
    """Write a cache entry atomically (directory 0700, file 0600, like libcni)."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise StateFileError('cannot create the cache directory %s: %s' % (directory, os.strerror(exc.errno)),
                                 param='cache_dir')
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


# ---------------------------------------------------------------- running plugins

def _has_ipv6(result):
    ips = result.get('ips') if isinstance(result, dict) else None
    if not isinstance(ips, list):
        ip6 = result.get('ip6') if isinstance(result, dict) else None  # results before 0.3.0
        return bool(ip6)
    return any(isinstance(ip, dict) and ':' in str(ip.get('address', '')) for ip in ips)


def portmap_ipv6_false_alarm(plugin, failure, cached_result):
    """Whether a failed CHECK is portmap's known false alarm.

    portmap before 1.3.0 checks its IPv6 rules even for an attachment without
    an IPv6 address, after its IPv4 rules passed, and fails there
    (containernetworking/plugins#819). An attachment with an IPv6 address
    never qualifies.
    """
    return (plugin.get('type') == 'portmap' and failure.command == 'CHECK'
            and 'could not check ipv6' in (failure.cni_msg or '') and not _has_ipv6(cached_result))


class Runner(object):
    """Runs the plugin chains of networks, as libcni's CNIConfig does.

    ``executor`` runs one binary (``_cniexec.execute``); ``invocations``
    collects a short record of each run for the module's return value.
    """

    def __init__(self, bin_dirs, timeout=DEFAULT_TIMEOUT, log_file=None, check_binaries=True,
                 executor=None, clock=time.time):
        self.bin_dirs = list(bin_dirs)
        self.timeout = timeout
        self.log_file = log_file
        self.check_binaries = check_binaries
        self.executor = executor or _cniexec.execute
        self.clock = clock
        self.invocations = []
        self.warnings = []
        self._paths = {}

    def find(self, plugin_type):
        """Path of a plugin binary (checked once per run); CniFailure naming ``bin_dirs`` when unusable."""
        if plugin_type in self._paths:
            return self._paths[plugin_type]
        if '/' in plugin_type or plugin_type in ('.', '..'):
            raise CniFailure('plugin type %r is not a binary name' % plugin_type, plugin=plugin_type, param='network')
        path = _cniexec.find_plugin(plugin_type, self.bin_dirs)
        if path is None:
            raise CniFailure('failed to find plugin %r in bin_dirs %s' % (plugin_type, self.bin_dirs),
                             plugin=plugin_type, param='bin_dirs')
        if self.check_binaries:
            problems = _cniexec.binary_problems(path)
            if problems:
                raise CniFailure('plugin binary %s is not safe to run as root: %s' % (path, '; '.join(problems)),
                                 plugin=plugin_type, param='bin_dirs')
        self._paths[plugin_type] = path
        return path

    def invoke(self, network, plugin, command, rt, prev_result=None, want_result=False, extra=None):
        """Run one plugin; its parsed answer. CniFailure when it fails (or owes a result and gives none)."""
        path = self.find(plugin['type'])
        conf = build_stdin(plugin, network, prev_result, rt.capability_args if rt else None, extra)
        env = build_env(command, rt, self.bin_dirs)
        stdin = json.dumps(conf).encode('utf-8')
        try:
            inv = self.executor(path, command, stdin, env=env, timeout=self.timeout)
        except _cniexec.PluginError as exc:
            self._log(network, plugin, command, env, conf, None, exc.msg)
            raise CniFailure(failure_message(plugin, command, None, exc.msg, None), cni_msg=exc.msg,
                             plugin=plugin['type'], command=command)
        self._log(network, plugin, command, env, conf, inv)
        self.invocations.append(dict(plugin=plugin['type'], command=command, exit_code=inv.returncode,
                                     duration_ms=round(inv.duration * 1000.0, 1)))
        if inv.returncode != 0:
            code, msg, details = parse_error(inv.returncode, inv.answer, inv.stdout, inv.stderr)
            raise CniFailure(failure_message(plugin, command, code, msg, details), code=code, cni_msg=msg,
                             cni_details=details, plugin=plugin['type'], command=command)
        if want_result and not isinstance(inv.answer, dict):
            msg = 'no result on stdout' if not inv.stdout.strip() else 'the result is not a JSON object'
            raise CniFailure(failure_message(plugin, command, None, msg, None), cni_msg=msg,
                             plugin=plugin['type'], command=command)
        return inv.answer

    def _log(self, network, plugin, command, env, conf, inv, error=None):
        if not self.log_file:
            return
        line = dict(time=self.clock(), network=network.name, plugin=plugin.get('type'), command=command,
                    env=masked_env(env), stdin=mask(conf))
        if inv is not None:
            line.update(path=inv.path, stdout=inv.stdout, stderr=inv.stderr, exit_code=inv.returncode,
                        duration_ms=round(inv.duration * 1000.0, 3))
        else:
            line.update(error=error, exit_code=None)
        data = (json.dumps(line, sort_keys=False) + '\n').encode('utf-8')
        try:
            fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ParameterError('log_file %s cannot be opened: %s' % (self.log_file, os.strerror(exc.errno)),
                                 param='log_file')
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    # -- the commands, on a whole list

    def add(self, network, rt):
        """ADD through the chain; the last plugin's result."""
        result = None
        for plugin in network.plugins:
            result = self.invoke(network, plugin, 'ADD', rt, prev_result=result, want_result=True)
        return result

    def check(self, network, rt, cached_result):
        """CHECK through the chain. 'skipped' (disableCheck) or 'passed'; CniFailure when a plugin objects."""
        if not version_at_least(network.cni_version, '0.4.0'):
            raise AttachmentError('network %r has cniVersion %r: CHECK needs 0.4.0 or later'
                                  % (network.name, network.cni_version), param='state')
        if network.disable_check:
            return 'skipped'
        for plugin in network.plugins:
            try:
                self.invoke(network, plugin, 'CHECK', rt, prev_result=cached_result)
            except CniFailure as exc:
                if not portmap_ipv6_false_alarm(plugin, exc, cached_result):
                    raise
                self.warnings.append(
                    'portmap CHECK failed on IPv6 rules an IPv4-only attachment never has (%s); its IPv4 rules '
                    'passed, so the failure is ignored (containernetworking/plugins issue 819, fixed in plugins '
                    '1.3.0)' % exc.cni_msg)
        return 'passed'

    def delete(self, network, rt, cached_result):
        """DEL through the chain in reverse (cached result as prevResult from 0.4.0 on)."""
        prev = cached_result if version_at_least(network.cni_version, '0.4.0') else None
        for plugin in reversed(network.plugins):
            self.invoke(network, plugin, 'DEL', rt, prev_result=prev)

    def gc(self, network, valid_attachments):
        """GC (1.1.0) on every plugin with the attachments to keep; False when the network does not take GC."""
        if not version_at_least(network.cni_version, '1.1.0') or network.disable_gc:
            return False
        valid = [dict(containerID=a[0], ifname=a[1]) for a in valid_attachments]
        for plugin in network.plugins:
            self.invoke(network, plugin, 'GC', None, extra={'cni.dev/valid-attachments': valid})
        return True

    def status(self, network):
        """STATUS (1.1.0) on every plugin: 'available', or None when the version has no STATUS; CniFailure."""
        if not version_at_least(network.cni_version, '1.1.0'):
            return None
        for plugin in network.plugins:
            self.invoke(network, plugin, 'STATUS', None)
        return 'available'


# ---------------------------------------------------------------- one attachment, declaratively

def _as_json(raw):
    try:
        return json.loads(raw.decode('utf-8')) if raw is not None else None
    except ValueError:
        return None


class Outcome(object):
    """What ``reconcile`` found and did: the changes, the CNI result, the CHECK verdict, the cache path."""

    def __init__(self, changes, path):
        self.changes = changes
        self.cache_path = path
        self.result = None
        self.check = None
        self.actions = []
        self.network = None

    def values(self):
        return dict(result=self.result, check=self.check, cache_path=self.cache_path, actions=self.actions,
                    attached=self.result is not None or (bool(self.actions) and self.actions[-1] == 'ADD'))


def _differences(entry, network, rt):
    """(what, before, after) for each runtime input that differs from the cached attachment."""
    out = []
    if entry.netns != rt.netns:
        out.append(('netns', entry.netns or None, rt.netns or None))
    if [list(p) for p in entry.cni_args] != [list(p) for p in rt.args]:
        out.append(('args', entry.cni_args or None, rt.args or None))
    if entry.capability_args != rt.capability_args:
        out.append(('capability_args', entry.capability_args or None, rt.capability_args or None))
    cached, wanted = _as_json(entry.config_bytes()), _as_json(network.raw)
    if cached != wanted:
        out.append(('config', cached, wanted))
    return out


def reconcile(runner, load_network_fn, rt, state, cache_dir, check_mode=False, netns_exists=namespace_exists,
              network_name=None):
    """Bring one attachment to ``state`` (present / absent / checked) like a runtime would; an ``Outcome``.

    ``load_network_fn`` returns the wanted ``Network``. With ``absent`` a
    network that no longer loads is fine when ``network_name`` is given: DEL
    runs the configuration cached with the attachment.
    """
    from ansible_collections.cni.node.plugins.module_utils._result import Changes  # pure Python too

    if state == 'absent':
        return _reconcile_absent(runner, load_network_fn, rt, cache_dir, check_mode, Outcome(Changes(), None),
                                 network_name)
    network = load_network_fn()
    validate_ids(network.name, rt.container_id, rt.ifname)
    path = cache_path(cache_dir, network.name, rt.container_id, rt.ifname)
    outcome = Outcome(Changes(), path)
    outcome.network = network
    entry = read_cache(path)
    key = 'attachment/%s' % os.path.basename(path)
    if state == 'checked':
        if entry is None or entry.error:
            raise AttachmentError('nothing to CHECK: no attachment of %s to container %s (ifname %s) in %s%s'
                                  % (network.name, rt.container_id, rt.ifname, path,
                                     ' (%s)' % entry.error if entry is not None else ''), param='container_id')
        outcome.check = runner.check(network, rt, entry.result)
        outcome.result = entry.result
        return outcome

    # present
    reasons = []
    if entry is not None:
        if entry.error:
            reasons.append(('cache', 'unreadable: %s' % entry.error, 'valid'))
        else:
            reasons.extend(_differences(entry, network, rt))
        if not reasons and rt.netns and not netns_exists(rt.netns):
            raise ParameterError('netns %s does not exist: the attachment cached for it is stale (cni_gc releases '
                                 'it, state=absent removes it)' % rt.netns, param='netns')
        if not reasons:
            if version_at_least(network.cni_version, '0.4.0') and not network.disable_check:
                try:
                    outcome.check = runner.check(network, rt, entry.result)
                except CniFailure as exc:
                    outcome.check = 'failed'
                    reasons.append(('check', 'failed: %s' % exc.msg, 'passed'))
            else:
                outcome.check = 'skipped'
        if not reasons:
            outcome.result = entry.result
            return outcome
        for what, before, after in reasons:
            outcome.changes.add('%s/%s' % (key, what), before, after, area='attachment')
    else:
        outcome.changes.add('%s/state' % key, 'absent', 'present', area='attachment')
    if rt.netns and not netns_exists(rt.netns):
        raise ParameterError('netns %s does not exist: an attachment needs a live network namespace' % rt.netns,
                             param='netns')
    if check_mode:
        return outcome
    if entry is not None:
        old_net = entry.network() or network
        old_rt = entry.runtime_conf(rt)
        outcome.actions.append('DEL')
        runner.delete(old_net, old_rt, entry.result)
        remove_cache(path)
    outcome.result = _add(runner, network, rt, path, outcome)
    return outcome


def _add(runner, network, rt, path, outcome):
    outcome.actions.append('ADD')
    try:
        result = runner.add(network, rt)
    except CniFailure as exc:
        # A failed ADD leaves whatever the plugins before the failing one made: undo it with DEL, as a
        # runtime does, and report the ADD failure.
        try:
            runner.delete(network, rt, None)
            exc.details['cleanup'] = 'DEL ran through the chain after the failed ADD'
        except CniFailure as cleanup:
            exc.details['cleanup'] = 'DEL after the failed ADD failed too: %s' % cleanup.msg
        raise
    write_cache(path, encode_cache(network, rt, result))
    return result


def _reconcile_absent(runner, load_network_fn, rt, cache_dir, check_mode, outcome, network_name):
    # When the network's file is gone, the cache entry still holds the configuration the attachment was
    # made with: DEL runs that (the cache is found by the network name given).
    try:
        network = load_network_fn()
        name, load_error = network.name, None
    except ParameterError as exc:
        if not network_name:
            raise
        network, name, load_error = None, network_name, exc
    validate_ids(name, rt.container_id, rt.ifname)
    path = cache_path(cache_dir, name, rt.container_id, rt.ifname)
    outcome.network = network
    outcome.cache_path = path
    entry = read_cache(path)
    if entry is None:
        return outcome
    old_net = entry.network() or network
    if old_net is None:
        raise load_error
    key = 'attachment/%s' % os.path.basename(path)
    outcome.changes.add('%s/state' % key, 'present', 'absent', area='attachment')
    if check_mode:
        return outcome
    outcome.actions.append('DEL')
    runner.delete(old_net, entry.runtime_conf(rt), entry.result)
    remove_cache(path)
    return outcome
