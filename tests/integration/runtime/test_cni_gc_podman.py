# -*- coding: utf-8 -*-
"""cni_gc against what the real podman leaves: podman 4.3.1 (Debian) with the CNI backend.

podman's libcni predates the cache entry's ``netns`` key: the entry it
writes (``/var/lib/cni/results/<network>-<containerID>-eth0``, libcni's
host-wide cache) names the container's namespace only in the cached
result's ``interfaces[].sandbox``. cni_gc must judge the attachment by it:
keep it while the namespace lives, release it once the namespace is gone.

The setup is the one measured in notes/podman.md:

- the conflist is written by cni.node's own cni_network into a temporary
  conf_dir (network ``cntpd-<hex>``, bridge ``cnp<hex>``, host-local
  ``dataDir`` in the temporary directory, a random 10.199.X.0/24);
- podman's store, run root, ``tmp_dir`` and containers.conf live in the
  temporary directory, its image is the lab image (``docker save``, loaded
  into that store);
- podman, and so the plugins it runs, run inside a throwaway namespace
  (``nsenter --net``), so the bridge and the host end of the veth are made
  there, never on the machine; cni_gc runs in the same namespace.

How the leak is made: the container's conmon, then the container's process
(both started by this test, found by their PIDs from ``podman inspect``) are
killed with SIGKILL, so podman's exit command (``podman container cleanup``,
which would run DEL) never runs; then the namespace file podman bind-mounted
under /run/netns is unmounted and removed. That is what a node's reboot
leaves (/run is a tmpfs; the cache and the dataDir persist): lease and cache
entry, no namespace. Measured here: even ``podman rm -f`` then leaves both
(it cannot join the namespace), so without cni_gc the address stays taken.

Everything is removed in a finally: the container (``podman rm -f``), the
namespace files, the cache entries of this test's network, the temporary
directory. (podman load also touches podman's blob-info cache under
/var/lib/containers/cache, a cache of image digests.)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from conftest import run_module, sh, unique

IMAGE = 'cni-node-lab:latest'
CNI_BIN = '/usr/lib/cni'
CACHE_DIR = '/var/lib/cni'          # podman's libcni caches host-wide, not configurable in containers.conf
RUN_LIMITS = ('--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--pids-limit', '0')


def _skip_reason():
    if shutil.which('podman') is None:
        return 'podman is missing (apt-get install podman; hack/bootstrap.sh installs it)'
    if shutil.which('docker') is None:
        return 'docker is missing: podman\'s image is loaded from the lab image %s' % IMAGE
    proc = subprocess.run(['docker', 'image', 'inspect', IMAGE], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False, timeout=60)
    if proc.returncode != 0:
        return 'the lab image %s is missing (the lead builds it with make lab)' % IMAGE
    missing = [p for p in ('bridge', 'host-local') if not os.path.isfile(os.path.join(CNI_BIN, p))]
    if missing:
        return 'reference CNI plugins missing in %s: %s' % (CNI_BIN, ', '.join(missing))
    return None


class PodmanLab(object):
    """A podman of its own (store, config, tmp_dir in one temporary directory) inside a throwaway namespace."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='cnt-podman-')
        self.ns = unique()
        self.network = 'cntpd-' + uuid.uuid4().hex[:8]
        self.bridge = 'cnp' + uuid.uuid4().hex[:8]
        self.subnet = '10.199.%d.0/24' % random.randint(0, 255)
        self.conf_dir = os.path.join(self.tmp, 'net.d')
        self.data_dir = os.path.join(self.tmp, 'ipam')
        self.containers = []
        self.sandboxes = []
        os.mkdir(self.conf_dir)
        with open(os.path.join(self.tmp, 'containers.conf'), 'w') as f:
            f.write('[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["%s"]\nnetwork_config_dir = "%s"\n'
                    'default_network = "%s"\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                    'tmp_dir = "%s"\n' % (CNI_BIN, self.conf_dir, self.network, os.path.join(self.tmp, 'tmp')))
        # cni_gc (any module) runs inside the throwaway namespace too: the interpreter is entered there.
        self.python = os.path.join(self.tmp, 'python-in-ns')
        with open(self.python, 'w') as f:
            f.write('#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' % (self.ns, sys.executable))
        os.chmod(self.python, 0o755)
        sh('ip', 'netns', 'add', self.ns)

    def podman_argv(self, *args):
        return ['nsenter', '--net=/run/netns/' + self.ns, 'podman', '--root', os.path.join(self.tmp, 'root'),
                '--runroot', os.path.join(self.tmp, 'runroot'), '--storage-driver', 'vfs'] + list(args)

    def podman(self, *args, **kwargs):
        env = dict(os.environ, CONTAINERS_CONF=os.path.join(self.tmp, 'containers.conf'))
        return sh(*self.podman_argv(*args), env=env, timeout=60, **kwargs)

    def load_image(self):
        """The lab image, streamed from ``docker save`` into this podman's store."""
        env = dict(os.environ, CONTAINERS_CONF=os.path.join(self.tmp, 'containers.conf'))
        save = subprocess.Popen(['docker', 'save', IMAGE], stdout=subprocess.PIPE)
        try:
            load = subprocess.run(self.podman_argv('load', '-q'), stdin=save.stdout, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=60, check=False)
        finally:
            save.stdout.close()
            save.wait(timeout=60)
        assert save.returncode == 0 and load.returncode == 0, load.stderr
        return 'localhost/' + IMAGE

    def run(self, name, image):
        self.containers.append(name)
        self.podman('run', '-d', '--name', name, '--network', self.network, *RUN_LIMITS + (image, 'sleep', 'infinity'))
        [info] = json.loads(self.podman('inspect', name))
        self.sandboxes.append(info['NetworkSettings']['SandboxKey'])
        return info

    def module(self, name, args, check=False):
        return run_module(name, args, check=check, python=self.python)

    def cache_entries(self):
        """This network's entries in libcni's host-wide cache: {path: parsed entry}."""
        out = {}
        for path in glob.glob(os.path.join(CACHE_DIR, 'results', glob.escape(self.network) + '-*')):
            try:
                with open(path) as f:
                    data = json.load(f)
            except (IOError, OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get('networkName') == self.network:
                out[path] = data
        return out

    def leases(self):
        d = os.path.join(self.data_dir, self.network)
        names = os.listdir(d) if os.path.isdir(d) else []
        out = {}
        for name in names:
            if name != 'lock' and not name.startswith('last_reserved_ip'):
                with open(os.path.join(d, name), newline='') as f:
                    out[name] = f.read()
        return out

    def destroy(self):
        """Every cleanup step runs even when an earlier one fails; the failures are reported together."""
        errors = []

        def step(what, fn, *args, **kwargs):
            try:
                fn(*args, **kwargs)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                errors.append('%s: %r' % (what, exc))

        for name in self.containers:
            step('podman rm ' + name, self.podman, 'rm', '-f', '-t', '0', name, check=False)
        for path in self.sandboxes:       # what podman could not remove (its namespace file, still mounted)
            if path and os.path.exists(path):
                step('umount ' + path, subprocess.run, ['umount', path], stderr=subprocess.DEVNULL, check=False)
                step('unlink ' + path, os.unlink, path)
        step('ip netns del ' + self.ns, sh, 'ip', 'netns', 'del', self.ns, check=False)
        for path in self.cache_entries():
            step('unlink ' + path, os.unlink, path)
        # podman rm of a container whose conmon was killed leaves its shm mount in the store: unmount it.
        for path in reversed(self.mounts()):
            step('umount ' + path, subprocess.run, ['umount', path], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
        left = [p for p in self.sandboxes + ['/run/netns/' + self.ns, self.tmp] if p and os.path.exists(p)]
        assert not errors and not left and not self.cache_entries(), \
            'cleanup: errors %s; left behind: %s %s' % (errors, left, list(self.cache_entries()))

    def mounts(self):
        """Mount points inside the temporary directory, in the order they were mounted."""
        with open('/proc/self/mountinfo') as f:
            points = [line.split()[4] for line in f]
        return [p for p in points if p.startswith(self.tmp + os.sep)]


@pytest.fixture
def podman_lab():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    lab = PodmanLab()
    try:
        yield lab
    finally:
        lab.destroy()


def kill_as_a_crash_would(info):
    """SIGKILL conmon first (so podman's exit command never runs), then the container; drop its namespace file."""
    conmon, pid = info['State']['ConmonPid'], info['State']['Pid']
    assert conmon > 0 and pid > 0, info['State']
    for victim in (conmon, pid):
        os.kill(victim, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and not all(_dead(p) for p in (conmon, pid)):
        time.sleep(0.05)
    assert all(_dead(p) for p in (conmon, pid))
    sandbox = info['NetworkSettings']['SandboxKey']
    sh('umount', sandbox)
    os.unlink(sandbox)


def _dead(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except (IOError, OSError):
        return True


def test_cni_gc_keeps_a_live_podman_attachment_and_releases_it_once_its_namespace_is_gone(podman_lab):
    lab = podman_lab
    written = run_module('cni_network', dict(
        name=lab.network, conf_dir=lab.conf_dir, bin_dirs=[CNI_BIN], cni_version='1.0.0',
        plugins=[{'type': 'bridge', 'bridge': lab.bridge, 'isGateway': True, 'ipMasq': False,
                  'ipam': {'type': 'host-local', 'dataDir': lab.data_dir, 'ranges': [[{'subnet': lab.subnet}]]}}]))
    assert written['changed'] is True, written
    info = lab.run('cntpd-c-' + uuid.uuid4().hex[:6], lab.load_image())
    cid, sandbox = info['Id'], info['NetworkSettings']['SandboxKey']
    address = info['NetworkSettings']['Networks'][lab.network]['IPAddress']

    # What podman left: libcni's entry without netns, the namespace only in the result's sandbox.
    entry_path = os.path.join(CACHE_DIR, 'results', '%s-%s-eth0' % (lab.network, cid))
    entries = lab.cache_entries()
    assert list(entries) == [entry_path]
    entry = entries[entry_path]
    assert 'netns' not in entry and entry['kind'] == 'cniCacheV1'
    with open(written['path'], 'rb') as f:
        assert base64.b64decode(entry['config']) == f.read()         # the conflist cni_network wrote
    assert [i.get('sandbox') for i in entry['result']['interfaces']] == [None, None, sandbox]   # bridge, veth, eth0
    assert lab.leases() == {address: cid + '\r\neth0'}

    args = dict(network=lab.network, conf_dir=lab.conf_dir, bin_dirs=[CNI_BIN], cache_dir=CACHE_DIR)
    # Alive: kept, judged by its sandbox; a real run changes nothing.
    for check in (True, False):
        kept = lab.module('cni_gc', args, check=check)
        assert (kept['changed'], kept['released'], kept['deleted_attachments'], kept['errors']) == (
            False, [], [], []), kept
        assert kept['kept'] == [dict(container_id=cid, ifname='eth0', netns=sandbox,
                                     netns_source='result.interfaces[2].sandbox', why='live')]
    assert list(lab.cache_entries()) == [entry_path] and lab.leases() == {address: cid + '\r\neth0'}
    assert os.path.exists(sandbox)

    kill_as_a_crash_would(info)
    assert not os.path.exists(sandbox)
    assert list(lab.cache_entries()) == [entry_path] and lab.leases() == {address: cid + '\r\neth0'}  # leaked

    lease_file = os.path.join(lab.data_dir, lab.network, address)
    predicted = lab.module('cni_gc', args, check=True)
    assert predicted['changed'] is True, predicted
    assert predicted['released'] == [dict(address=address, container_id=cid, ifname='eth0', lease_file=lease_file,
                                          via='DEL')]
    assert predicted['deleted_attachments'] == [dict(container_id=cid, ifname='eth0', netns=sandbox,
                                                     netns_source='result.interfaces[2].sandbox',
                                                     cache_file=entry_path)]
    assert (predicted['kept'], predicted['leases']) == ([], {'total': 1, 'released': 1, 'kept': 0})
    assert sorted(d['path'] for d in predicted['drift']) == [
        'attachment/' + os.path.basename(entry_path), 'lease/%s/%s' % (lab.network, address)]
    assert predicted['invocations'] == []
    assert list(lab.cache_entries()) == [entry_path] and lab.leases() == {address: cid + '\r\neth0'}

    done = lab.module('cni_gc', args)
    assert (done['changed'], done['released'], done['errors']) == (True, predicted['released'], []), done
    # Released by the plugins' DEL of the cached configuration (host-local freed the address itself).
    assert [(i['plugin'], i['command'], i['exit_code']) for i in done['invocations']] == [('bridge', 'DEL', 0)]
    assert lab.leases() == {} and lab.cache_entries() == {}

    again = lab.module('cni_gc', args)
    assert (again['changed'], again['released'], again['drift'], again['kept']) == (False, [], [], [])
