# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Core of cni_policy: one policy stored, the network's table recompiled and reconciled. Pure Python: no Ansible.

Each run, under the network's lock:

1. the policy is checked (``_policyspec``) and the network loaded
   (``_cniloader``: it must exist in ``conf_dir``);
2. the network's policies are read from
   ``<cache_dir>/cni-node-policies/<network>/<name>.json`` (one file per
   policy, mode 0600, written atomically), with this one replaced
   (``present``) or left out (``absent``);
3. the attachments come from libcni's cache (``_cnicache``): every cached
   attachment of the network whose namespace is alive, with its addresses
   (the result's ``ips``) and labels;
4. ``_policyrules`` compiles the desired table and compares it with the
   kernel's (``_nft.list_table``): each difference is a drift item;
5. unless in check mode, the table is replaced in one transaction
   (``_nft.apply``) when it differs, then the policy file is written or
   removed. The last policy of a network removed deletes its table.

Pods on one bridge talk through the bridge, not the router: their traffic
reaches the inet forward hook only through br_netfilter with
``net.bridge.bridge-nf-call-iptables`` (``-ip6tables`` for IPv6) set to 1
in the namespace where the bridge lives. For a network with a ``bridge``
plugin the run fails, naming ``network``, when that is not so: a policy
that silently does not apply is worse than none.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import ipaddress
import json
import os

from ansible_collections.cni.node.plugins.module_utils import (_cnicache, _cniloader, _fileutil, _nft, _policyrules,
                                                               _policyspec, _procsys)
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError, StateFileError
from ansible_collections.cni.node.plugins.module_utils._params import check_paths
from ansible_collections.cni.node.plugins.module_utils._result import Changes

POLICY_DIR = 'cni-node-policies'
BRIDGE_KEYS = ('net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables')


def policy_dir(cache_dir, network):
    return os.path.join(cache_dir, POLICY_DIR, network)


def _policy_path(cache_dir, network, name):
    return os.path.join(policy_dir(cache_dir, network), name + '.json')


def stored_policies(cache_dir, network):
    """name -> (normalised document, its file's text) of every policy stored for ``network``."""
    directory = policy_dir(cache_dir, network)
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return {}
        raise
    out = {}
    for fname in names:
        if fname.startswith('.') or not fname.endswith('.json'):
            continue
        path = os.path.join(directory, fname)
        text = _fileutil.read_text(path)
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise StateFileError('%s is not valid JSON (%s): remove it or rerun its cni_policy task'
                                 % (path, exc), param='cache_dir')
        pol = _policyspec.from_document(doc, path)
        out[pol['name']] = (pol, text)
    return out


def pods(cache_dir, network, netns_exists=_cnicache.namespace_exists):
    """The live attachments of ``network``: ``{id, labels, ips}``, ips as ipaddress addresses."""
    out = []
    for entry in _cnicache.cached_attachments(cache_dir, network=network):
        netns = entry.namespace()[0]
        if not netns or not netns_exists(netns):
            continue
        result = entry.result if isinstance(entry.result, dict) else {}
        ips = []
        for ip in result.get('ips') or []:
            try:
                ips.append(ipaddress.ip_address(ip.get('address').split('/', 1)[0]))
            except (ValueError, TypeError, AttributeError):
                continue
        out.append(dict(id='%s/%s' % (entry.container_id, entry.ifname), labels=entry.labels, ips=ips))
    return out


def bridge_problem(network, pod_list, procsys):
    """Why bridged traffic of ``network`` would bypass the forward hook, or None."""
    if not any(p.get('type') == 'bridge' for p in network.plugins):
        return None
    keys = [BRIDGE_KEYS[0]] + ([BRIDGE_KEYS[1]] if any(ip.version == 6 for p in pod_list for ip in p['ips']) else [])
    for key in keys:
        value = procsys.read(key)
        if value is None:
            return ('%s does not exist: the br_netfilter module is not loaded, so traffic between pods on the '
                    'bridge would bypass the policy (modprobe br_netfilter, then set %s=1, e.g. with '
                    'cni.node.cni_sysctl or the cni.node.policy role)' % (key, key))
        if value != '1':
            return ('%s is %s: traffic between pods on the bridge would bypass the policy (set it to 1 in the '
                    'namespace of the bridge, e.g. with cni.node.cni_sysctl or the cni.node.policy role)'
                    % (key, value))
    return None


class _Lock(object):
    def __init__(self, directory):
        self.directory = directory
        self.fd = None

    def __enter__(self):
        try:
            os.makedirs(self.directory, 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        self.fd = os.open(os.path.join(self.directory, '.lock'), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


class Outcome(object):
    def __init__(self):
        self.changes = Changes()
        self.table = None
        self.policies = []
        self.selected = []
        self.counts = {}
        self.transactions = 0


def _counts(model):
    if model is None:
        return dict(sets=0, elements=0, rules=0)
    return dict(sets=len(model.sets), elements=sum(len(v[1]) for v in model.sets.values()),
                rules=sum(len(r) for r in model.rules.values()))


def reconcile(params, check_mode=False, nft=None, procsys=None, netns_exists=_cnicache.namespace_exists):
    """Bring the policy ``params['name']`` of ``params['network']`` to ``params['state']``; an ``Outcome``."""
    check_paths(params, ('conf_dir', 'cache_dir'))
    state = params.get('state') or 'present'
    name = _policyspec.check_name(params.get('name'))
    if not isinstance(params.get('network'), str) or not params['network']:
        raise ParameterError('network: the name of a CNI network in conf_dir is required', param='network')
    _cnicache.validate_ids(params['network'], 'x', 'eth0')
    wanted = _policyspec.normalise(params) if state == 'present' else None
    network = params['network']
    if state == 'present':
        loaded = _cniloader.load_network(params['conf_dir'], network)
    else:
        loaded = None
    procsys = procsys or _procsys.ProcSys()
    nft = nft or _nft.Nft()
    out = Outcome()
    out.table = '%s %s' % (_policyrules.FAMILY, _policyrules.table_name(network))
    cache_dir = params['cache_dir']
    lock_dir = policy_dir(cache_dir, network)
    if check_mode and not os.path.isdir(lock_dir):
        return _run(params, name, network, wanted, loaded, procsys, nft, netns_exists, out, True)
    with _Lock(lock_dir):
        return _run(params, name, network, wanted, loaded, procsys, nft, netns_exists, out, check_mode)


def _run(params, name, network, wanted, loaded, procsys, nft, netns_exists, out, check_mode):
    cache_dir = params['cache_dir']
    stored = stored_policies(cache_dir, network)
    current = stored.get(name)
    policies = dict((n, v[0]) for n, v in stored.items() if n != name)
    if wanted is not None:
        policies[name] = wanted
    pod_list = pods(cache_dir, network, netns_exists)
    if policies and loaded is not None:
        problem = bridge_problem(loaded, pod_list, procsys)
        if problem:
            raise ParameterError('network %s: %s' % (network, problem), param='network')
    desired = _policyrules.compile_policies(list(policies.values()), pod_list)
    listing = nft.list_table(_policyrules.FAMILY, _policyrules.table_name(network))
    actual = _policyrules.from_listing(listing)
    spec_before = current[0] if current else None
    out.changes.add('policy/%s/%s/spec' % (network, name), spec_before, wanted, area='policy')
    table_differs = _policyrules.compare(network, desired, actual, out.changes)
    out.policies = sorted(policies)
    if wanted is not None:
        out.selected = sorted(p['id'] for p in pod_list if _policyspec.matches(wanted['pod_selector'], p['labels']))
    out.counts = _counts(desired)
    if check_mode:
        return out
    if table_differs:
        nft.apply(_policyrules.commands(network, desired, listing is not None))
        out.transactions += 1
    path = _policy_path(cache_dir, network, name)
    if wanted is not None and spec_before != wanted:
        _fileutil.atomic_write(path, json.dumps(wanted, indent=1, sort_keys=True) + '\n', mode=0o600)
    elif wanted is None and current is not None:
        _fileutil.remove(path)
    return out
