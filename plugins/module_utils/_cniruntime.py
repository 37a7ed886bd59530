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

The network comes from ``_cniloader`` (the one place a network is read);
the attachment's runtime arguments (``RuntimeConf``) and libcni's cache of
it, which containerd, CRI-O, cnitool and this collection share, from
``_cnicache``. This room runs the plugins: the runner and ``reconcile``.

A plugin's CNI error (``{"code", "msg", "details"}`` on stdout and a non-zero
exit) becomes a ``CniFailure`` (``_cniexec``) carrying the code. Every
invocation has a timeout; with a log file, each one is appended as one JSON
line (command, environment with secrets masked, stdin, stdout, stderr, exit
code, duration).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import re
import time

from ansible_collections.cni.node.plugins.module_utils import _cnicache, _cniexec, _cniloader, _dhcp
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._params import check_paths

DEFAULT_TIMEOUT = 60
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


class AttachmentError(ParameterError):
    """The attachment asked for cannot be acted on (nothing attached, CHECK unsupported...)."""


# ---------------------------------------------------------------- the runtime modules' shared options

def argument_spec(**extra):
    """The options every runtime module shares (plain data for AnsibleModule), plus ``extra``.

    Documented once, in the ``cni.node.runtime`` doc fragment (plugins/doc_fragments/runtime.py).
    """
    spec = dict(
        network=dict(type='str'),
        config=dict(type='dict'),
        conf_dir=dict(type='path', default='/etc/cni/net.d'),
        bin_dirs=dict(type='list', elements='path', default=['/opt/cni/bin']),
        cache_dir=dict(type='path', default=_cnicache.DEFAULT_CACHE_DIR),
        timeout=dict(type='int', default=DEFAULT_TIMEOUT),
        log_file=dict(type='path'),
    )
    spec.update(extra)
    return spec


def from_params(params):
    """(runner, network loader) for the shared options; the loader reads O(network) or takes O(config)."""
    check_paths(params, ('conf_dir', 'bin_dirs', 'cache_dir', 'log_file'))
    if params['timeout'] <= 0:
        raise ParameterError('timeout must be a positive number of seconds', param='timeout')
    runner = Runner(params['bin_dirs'], timeout=params['timeout'], log_file=params['log_file'])
    if params.get('config') is not None:
        inline = _cniloader.inline_network(params['config'])

        def load():
            return inline
    else:
        def load():
            return _cniloader.load_network(params['conf_dir'], params['network'])
    return runner, load


# ---------------------------------------------------------------- what a plugin gets

def build_env(command, rt, bin_dirs):
    """The CNI_* variables of one invocation (every one set, empty when unknown, as libcni does)."""
    rt = rt or _cnicache.RuntimeConf('', '', '')
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
            raise _cniexec.CniFailure('plugin type %r is not a binary name' % plugin_type, plugin=plugin_type,
                                      param='network')
        path = _cniexec.find_plugin(plugin_type, self.bin_dirs)
        if path is None:
            raise _cniexec.CniFailure('failed to find plugin %r in bin_dirs %s' % (plugin_type, self.bin_dirs),
                                      plugin=plugin_type, param='bin_dirs')
        if self.check_binaries:
            problems = _cniexec.binary_problems(path)
            if problems:
                raise _cniexec.CniFailure('plugin binary %s is not safe to run as root: %s'
                                          % (path, '; '.join(problems)), plugin=plugin_type, param='bin_dirs')
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
            raise _cniexec.CniFailure(failure_message(plugin, command, None, exc.msg, None), cni_msg=exc.msg,
                                      plugin=plugin['type'], command=command)
        self._log(network, plugin, command, env, conf, inv)
        self.invocations.append(dict(plugin=plugin['type'], command=command, exit_code=inv.returncode,
                                     duration_ms=round(inv.duration * 1000.0, 1)))
        if inv.returncode != 0:
            code, msg, details = parse_error(inv.returncode, inv.answer, inv.stdout, inv.stderr)
            raise _cniexec.CniFailure(failure_message(plugin, command, code, msg, details), code=code, cni_msg=msg,
                                      cni_details=details, plugin=plugin['type'], command=command)
        if want_result and not isinstance(inv.answer, dict):
            msg = 'no result on stdout' if not inv.stdout.strip() else 'the result is not a JSON object'
            raise _cniexec.CniFailure(failure_message(plugin, command, None, msg, None), cni_msg=msg,
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
        if not _cniloader.version_at_least(network.cni_version, '0.4.0'):
            raise AttachmentError('network %r has cniVersion %r: CHECK needs 0.4.0 or later'
                                  % (network.name, network.cni_version), param='state')
        if network.disable_check:
            return 'skipped'
        for plugin in network.plugins:
            try:
                self.invoke(network, plugin, 'CHECK', rt, prev_result=cached_result)
            except _cniexec.CniFailure as exc:
                if not portmap_ipv6_false_alarm(plugin, exc, cached_result):
                    raise
                self.warnings.append(
                    'portmap CHECK failed on IPv6 rules an IPv4-only attachment never has (%s); its IPv4 rules '
                    'passed, so the failure is ignored (containernetworking/plugins issue 819, fixed in plugins '
                    '1.3.0)' % exc.cni_msg)
        return 'passed'

    def delete(self, network, rt, cached_result):
        """DEL through the chain in reverse (cached result as prevResult from 0.4.0 on)."""
        prev = cached_result if _cniloader.version_at_least(network.cni_version, '0.4.0') else None
        _dhcp.release_first(self, network, rt, prev)   # while the pod's interface exists (see _dhcp)
        for plugin in reversed(network.plugins):
            self.invoke(network, plugin, 'DEL', rt, prev_result=prev)

    def gc(self, network, valid_attachments):
        """GC (1.1.0) on every plugin with the attachments to keep; False when the network does not take GC."""
        if not _cniloader.version_at_least(network.cni_version, '1.1.0') or network.disable_gc:
            return False
        valid = [dict(containerID=a[0], ifname=a[1]) for a in valid_attachments]
        for plugin in network.plugins:
            self.invoke(network, plugin, 'GC', None, extra={'cni.dev/valid-attachments': valid})
        return True

    def status(self, network):
        """STATUS (1.1.0) on every plugin: 'available', or None when the version has no STATUS; CniFailure."""
        if not _cniloader.version_at_least(network.cni_version, '1.1.0'):
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
    cached_netns = entry.namespace()[0]      # the ``netns`` key, else the result's sandbox (podman)
    if cached_netns != rt.netns:
        out.append(('netns', cached_netns or None, rt.netns or None))
    if [list(p) for p in entry.cni_args] != [list(p) for p in rt.args]:
        out.append(('args', entry.cni_args or None, rt.args or None))
    if entry.capability_args != rt.capability_args:
        out.append(('capability_args', entry.capability_args or None, rt.capability_args or None))
    cached, wanted = _as_json(entry.config_bytes()), _as_json(network.raw)
    if cached != wanted:
        out.append(('config', cached, wanted))
    return out


def reconcile(runner, load_network_fn, rt, state, cache_dir, check_mode=False,
              netns_exists=_cnicache.namespace_exists, network_name=None):
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
    _cnicache.validate_ids(network.name, rt.container_id, rt.ifname)
    path = _cnicache.cache_path(cache_dir, network.name, rt.container_id, rt.ifname)
    outcome = Outcome(Changes(), path)
    outcome.network = network
    entry = _cnicache.read_cache(path)
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
            if _cniloader.version_at_least(network.cni_version, '0.4.0') and not network.disable_check \
                    and not _dhcp.check_skip_reason(network):
                try:
                    outcome.check = runner.check(network, rt, entry.result)
                except _cniexec.CniFailure as exc:
                    outcome.check = 'failed'
                    reasons.append(('check', 'failed: %s' % exc.msg, 'passed'))
            else:
                outcome.check = 'skipped'
            reasons.extend(_dhcp.daemon_differences(network))
        if not reasons:
            outcome.result = entry.result
            _relabel(entry, rt, key, outcome, check_mode)
            return outcome
        for what, before, after in reasons:
            outcome.changes.add('%s/%s' % (key, what), before, after, area='attachment')
    else:
        outcome.changes.add('%s/state' % key, 'absent', 'present', area='attachment')
    if rt.netns and not netns_exists(rt.netns):
        raise ParameterError('netns %s does not exist: an attachment needs a live network namespace' % rt.netns,
                             param='netns')
    _dhcp.preflight(network, check_mode, runner.warnings)   # a dead dhcp daemon fails here, nothing made
    if check_mode:
        return outcome
    if entry is not None:
        if rt.labels is None and not entry.error:
            rt.labels = entry.labels     # a re-ADD keeps the labels when the task does not give them
        old_net = entry.network() or network
        old_rt = entry.runtime_conf(rt)
        outcome.actions.append('DEL')
        runner.delete(old_net, old_rt, entry.result)
        _cnicache.remove_cache(path)
    outcome.result = _add(runner, network, rt, path, outcome)
    return outcome


def _relabel(entry, rt, key, outcome, check_mode):
    """Labels of an intact attachment are an update of its cache entry, never a re-ADD."""
    if rt.labels is None or rt.labels == entry.labels:
        return
    outcome.changes.add('%s/labels' % key, entry.labels or None, rt.labels or None, area='attachment')
    if not check_mode:
        data = dict(entry.data)
        data.pop(_cnicache.LABELS_KEY, None)
        if rt.labels:
            data[_cnicache.LABELS_KEY] = dict(rt.labels)
        _cnicache.write_cache(entry.path, data)


def _add(runner, network, rt, path, outcome):
    outcome.actions.append('ADD')
    try:
        result = runner.add(network, rt)
    except _cniexec.CniFailure as exc:
        # A failed ADD leaves whatever the plugins before the failing one made: undo it with DEL, as a
        # runtime does, and report the ADD failure.
        try:
            runner.delete(network, rt, None)
            exc.details['cleanup'] = 'DEL ran through the chain after the failed ADD'
        except _cniexec.CniFailure as cleanup:
            exc.details['cleanup'] = 'DEL after the failed ADD failed too: %s' % cleanup.msg
        raise
    _cnicache.write_cache(path, _cnicache.encode_cache(network, rt, result))
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
    _cnicache.validate_ids(name, rt.container_id, rt.ifname)
    path = _cnicache.cache_path(cache_dir, name, rt.container_id, rt.ifname)
    outcome.network = network
    outcome.cache_path = path
    entry = _cnicache.read_cache(path)
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
    _cnicache.remove_cache(path)
    return outcome
