# -*- coding: utf-8 -*-
"""Smoke run of every module of the installed collection, one ``ansible localhost -m`` each.

    python smoke.py --label 2.16 --bin VENV/bin --collections PATH

runs ``VENV/bin/ansible`` ad hoc against localhost (local connection, the
virtualenv's python as the module interpreter), with only PATH providing
collections, once for every module the installed cni.node has. The
arguments are harmless on the host: check mode, temporary directories for
every path, names of namespaces and links that do not exist with
state=absent, the host's own value for a sysctl key. Each run must succeed
with the expected ``changed`` and leave its temporary directory as it found
it. A module without a case here fails the run, so a new module gets one.

Prints one ``ok``/``FAIL`` line per module and closes with
``smoke LABEL: N passed, M failed``; exits non-zero when any failed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid

CONFLIST = {'cniVersion': '1.0.0', 'name': 'cnt-smoke', 'plugins': [{'type': 'loopback'}]}
BRIDGE = [{'type': 'bridge', 'bridge': 'cnt-smoke0', 'ipam': {'type': 'host-local', 'subnet': '10.254.9.0/24'}}]


def _host_value(key):
    with open('/proc/sys/' + key.replace('.', '/')) as f:
        return ' '.join(f.read().split())


def _unused_name(prefix):
    """A namespace/link name that exists nowhere: the prefix and 8 random hex digits (15 bytes at most)."""
    return prefix + uuid.uuid4().hex[:8]


def _with_conflist(tmp):
    os.mkdir(os.path.join(tmp, 'net.d'))
    with open(os.path.join(tmp, 'net.d', '10-cnt-smoke.conflist'), 'w') as f:
        json.dump(CONFLIST, f)
    return os.path.join(tmp, 'net.d')


# module -> function(tmp) returning (args, expected changed, check of the result or None)
def _sysctl(tmp):
    key = 'net.ipv4.ip_forward'
    value = _host_value(key)
    return (dict(params={key: value}, persist=False, sysctl_dir=tmp), False,
            lambda r: r.get('drift') == [] and (r.get('values') or {}).get(key) == value)


def _info(tmp):
    conf_dir = _with_conflist(tmp)
    return (dict(gather=['networks', 'plugins'], conf_dir=conf_dir, bin_dirs=[tmp], cache_dir=tmp,
                 plugin_versions=False, query='networks.default_network.name'), False,
            lambda r: r.get('value') == 'cnt-smoke')


def _doctor(tmp):
    conf_dir = _with_conflist(tmp)
    return (dict(checks=['conflists', 'leases'], conf_dir=conf_dir, bin_dirs=[tmp], cache_dir=tmp), False,
            lambda r: r.get('checks') == ['conflists', 'leases'] and isinstance(r.get('findings'), list))


def _network(tmp):
    return (dict(name='cnt-smoke', plugins=BRIDGE, cni_version='1.0.0', validate=False, conf_dir=tmp), True,
            lambda r: r.get('path') == os.path.join(tmp, '10-cnt-smoke.conflist'))


def _ipam_pool(tmp):
    return (dict(name='pods', cidr='10.244.0.0/16', node_prefix=24, members=['n1'],
                 path=os.path.join(tmp, 'pool.json')), True,
            lambda r: (r.get('members') or {}).get('n1', {}).get('ipv4') == '10.244.0.0/24')


def _plugin(tmp):
    return dict(names=['bridge'], bin_dir=tmp, state='absent'), False, None


def _attachment(tmp):
    return (dict(network='cnt-smoke', container_id='cnt-smoke', conf_dir=_with_conflist(tmp),
                 cache_dir=os.path.join(tmp, 'cache'), state='absent'), False,
            lambda r: r.get('actions') == [])


def _gc(tmp):
    return dict(config=CONFLIST, cache_dir=tmp), False, lambda r: r.get('released') == []


def _xdp(tmp):
    # Nothing attached to lo and nothing to remove: no program is loaded.
    return (dict(dev='lo', state='absent', state_file=os.path.join(tmp, 'xdp.json')), False,
            lambda r: r['interfaces']['lo']['id'] is None)


def _policy(tmp):
    # A policy of a network that has none: nft lists one table that does not exist, nothing else.
    return (dict(name='smoke', network=_unused_name('cnt-smoke-'), conf_dir=_with_conflist(tmp), cache_dir=tmp,
                 state='absent'), False, lambda r: r.get('policies') == [] and r.get('transactions') == 0)


def _preflight(tmp):
    # Read-only by design; an empty conf_dir and the loopback as underlay pass anywhere.
    return (dict(checks=['conf_dir', 'underlay'], conf_dir=tmp, underlay='lo', fail_on_missing=False), False,
            lambda r: r.get('missing') == [] and [c['name'] for c in r.get('checks', [])] == [
                'underlay.exists', 'underlay.up', 'underlay.mtu', 'conf_dir.conflicts'])


def _absent(prefix):
    def case(tmp):   # pylint: disable=unused-argument
        return dict(name=_unused_name(prefix), state='absent'), False, None
    return case


CASES = {
    'cni_attachment': _attachment,
    'cni_bridge': _absent('cnt-smk'),
    'cni_doctor': _doctor,
    'cni_gc': _gc,
    'cni_info': _info,
    'cni_ipam_pool': _ipam_pool,
    'cni_netns': _absent('cnt-smoke-'),
    'cni_network': _network,
    'cni_plugin': _plugin,
    'cni_policy': _policy,
    'cni_preflight': _preflight,
    'cni_sysctl': _sysctl,
    'cni_vxlan': _absent('cnt-smk'),
    'cni_xdp': _xdp,
}


def _tree(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(d, name)
            out.append((os.path.relpath(path, root), os.path.getsize(path) if name in files else None))
    return out


def _adhoc(bindir, python, env, module, args, cwd):
    """One ad-hoc run in check mode: (status, result) from the minimal callback's output."""
    argv = [os.path.join(bindir, 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local', '--check',
            '-e', 'ansible_python_interpreter=%s' % python, '-m', 'cni.node.%s' % module, '-a', json.dumps(args)]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=env, cwd=cwd, timeout=120, check=False)
    # The minimal callback prints "localhost | STATUS => {result}".
    m = re.search(r'^localhost \| (\S+) => ', proc.stdout, re.M)
    if not m:
        raise RuntimeError('no result for localhost (rc=%s)\nstdout: %s\nstderr: %s'
                           % (proc.returncode, proc.stdout, proc.stderr))
    result, dummy = json.JSONDecoder().raw_decode(proc.stdout[m.end():])
    return m.group(1), result


def _installed_modules(collections):
    d = os.path.join(collections, 'ansible_collections', 'cni', 'node', 'plugins', 'modules')
    return sorted(f[:-3] for f in os.listdir(d) if f.endswith('.py') and f != '__init__.py')


def run_case(bindir, python, env, module, work):
    """Problems of one module's smoke run (empty when it passed) and a one-line summary."""
    tmp = tempfile.mkdtemp(prefix='%s-' % module, dir=work)
    try:
        args, want_changed, check = CASES[module](tmp)
        before = _tree(tmp)
        status, result = _adhoc(bindir, python, env, module, args, work)
        problems = []
        if status not in ('SUCCESS', 'CHANGED') or result.get('failed'):
            problems.append('status %s: %s' % (status, result.get('msg', result)))
        elif result.get('changed') is not want_changed:
            problems.append('changed=%r, expected %r' % (result.get('changed'), want_changed))
        elif check is not None and not check(result):
            problems.append('unexpected result: %s' % json.dumps(result, sort_keys=True)[:800])
        if _tree(tmp) != before:
            problems.append('check mode changed %s: %r -> %r' % (tmp, before, _tree(tmp)))
        return problems, 'changed=%s' % str(result.get('changed')).lower()
    except Exception as e:  # pylint: disable=broad-except
        return ['%s: %s' % (type(e).__name__, e)], ''
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--label', required=True, help='name of this run in the output, e.g. 2.16')
    parser.add_argument('--bin', required=True, help="the virtualenv's bin directory (ansible, python)")
    parser.add_argument('--collections', required=True, help='collections path holding the installed cni.node')
    parser.add_argument('--jobs', type=int, default=4, help='runs at the same time (default 4)')
    opts = parser.parse_args()

    python = os.path.join(opts.bin, 'python')
    work = tempfile.mkdtemp(prefix='cni-node-smoke-')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=opts.collections, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=os.path.join(work, '.ansible-tmp'),
               ANSIBLE_REMOTE_TMP=os.path.join(work, '.ansible-remote'))
    env.pop('PYTHONPATH', None)
    modules = _installed_modules(opts.collections)
    passed = failed = 0
    try:
        # The runs are independent: a few at a time, reported in order.
        with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
            runs = [pool.submit(run_case, opts.bin, python, env, m, work) if m in CASES else None
                    for m in modules]
            for module, run in zip(modules, runs):
                if run is None:
                    problems, summary = ['no smoke case in %s' % os.path.abspath(__file__)], ''
                else:
                    problems, summary = run.result()
                if problems:
                    failed += 1
                    print('FAIL  %s smoke:%s: %s' % (opts.label, module, '; '.join(problems)))
                else:
                    passed += 1
                    print('ok    %s smoke:%s %s' % (opts.label, module, summary))
                sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('smoke %s: %d passed, %d failed' % (opts.label, passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
