#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Benchmark: the whole overlay profile on the 3-node lab, cni.node.site vs a conventional playbook.

The lab is Molecule's ``bench`` scenario (molecule/bench: bp-node1..3 on the
docker network cni-node-lab4, 172.28.4.0/24, apart from the CI's and the
demo's labs). For each tool the lab is created fresh (``molecule create``:
create + prepare), then the tool's playbook runs twice - a first run on the
fresh nodes and a no-change run - and ``cni.node.verify`` (not timed) proves
pod-to-pod traffic between every pair of nodes; then the lab is destroyed.

- cni.node.site with profile_kind=overlay (the collection's roles).
- bench/conventional/overlay.yml: the same job with builtin modules
  (ansible.posix.sysctl loop, get_url + unarchive, copy, ``ip``/``bridge``
  commands; subnets from the inventory index).

Both install the plugins from the same archive: /usr/lib/cni of this host
packed into a release-style .tgz with its sha256, served over HTTP by
``python -m http.server`` bound only to the lab network's gateway address,
started after the lab is up and stopped (by its PID) before it goes down.

Measured per run: wall time of the whole ansible-playbook run, and from the
ansible.posix.json callback the tasks executed (task results that were not
skipped, over the 3 nodes, as in the PLAY RECAP's ok), the module runs (each
loop item counted; controller-only actions such as assert and set_fact not)
and the changed results. Prints a Markdown section (for docs/performance.md).

The playbooks run with the scenario's inventory and ansible.cfg from
Molecule's ephemeral directory (as hack/demo.sh does). The lab is destroyed
at the end, also on failure or interrupt. Needs dockerd and the lab image
(make lab).

Usage: .venv/bin/python bench/bench_profile.py [--rounds N] [--no-verify] [--keep-lab]
"""

from __future__ import absolute_import, division, print_function

import argparse
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, '.venv', 'bin')
SCENARIO = 'bench'
CONVENTIONAL = os.path.join(REPO, 'bench', 'conventional', 'overlay.yml')
CNI_BIN = '/usr/lib/cni'
ARCHIVE = 'cni-plugins-linux-amd64-v1.1.1.tgz'
TOOLS = ('cni', 'conv')
LABEL = {'cni': 'cni.node.site', 'conv': 'conventional playbook'}


def log(msg):
    print('>> bench_profile: ' + msg, file=sys.stderr)
    sys.stderr.flush()


def lab_layout():
    """Node names and the lab network's gateway, from molecule/bench/molecule.yml."""
    with open(os.path.join(REPO, 'molecule', SCENARIO, 'molecule.yml')) as f:
        conf = yaml.safe_load(f)
    nodes = [p['name'] for p in conf['platforms']]
    gateway = None
    for p in conf['platforms']:
        for net in p.get('docker_networks', []):
            for ipam in net.get('ipam_config', []):
                gateway = gateway or ipam.get('gateway')
    if not gateway:
        raise SystemExit('molecule/%s/molecule.yml names no gateway of the lab network' % SCENARIO)
    return nodes, gateway


def environment():
    link = os.path.join(REPO, 'build', 'collections', 'ansible_collections', 'cni', 'node')
    if not os.path.exists(os.path.join(link, 'galaxy.yml')):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(REPO, link)
    return dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''),
                ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, 'build', 'collections'),
                ANSIBLE_FORCE_COLOR='0', PY_COLORS='0', ANSIBLE_NOCOLOR='1')


def molecule(env, action):
    proc = subprocess.run([os.path.join(VENV_BIN, 'molecule'), action, '-s', SCENARIO, '--no-command-borders'],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    if proc.returncode != 0:
        raise SystemExit('molecule %s -s %s failed:\n%s' % (action, SCENARIO, proc.stdout[-4000:]))


def ephemeral():
    """Molecule's ephemeral directory of the scenario: (inventory, ansible.cfg)."""
    found = sorted(glob.glob(os.path.join(os.path.expanduser('~'), '.ansible', 'tmp', 'molecule.*.' + SCENARIO)),
                   key=os.path.getmtime, reverse=True)
    for eph in found:
        inventory = os.path.join(eph, 'inventory', 'ansible_inventory.yml')
        if os.path.isfile(inventory):
            return inventory, os.path.join(eph, 'ansible.cfg')
    raise SystemExit('no Molecule inventory for the %s scenario' % SCENARIO)


def pack(workdir):
    """/usr/lib/cni as a release-style .tgz: (directory served, file name, sha256, size)."""
    served = os.path.join(workdir, 'srv')
    os.mkdir(served)
    path = os.path.join(served, ARCHIVE)
    with tarfile.open(path, 'w:gz') as tar:
        for name in sorted(os.listdir(CNI_BIN)):
            tar.add(os.path.join(CNI_BIN, name), arcname='./' + name)
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return served, digest.hexdigest(), os.path.getsize(path)


class Server:
    """python -m http.server on the lab network's gateway address only; stopped by its PID."""

    def __init__(self, address, directory):
        self.address, self.directory, self.proc, self.port = address, directory, None, None

    def __enter__(self):
        probe = socket.socket()
        probe.bind((self.address, 0))   # fails unless the lab network's gateway address exists
        self.port = probe.getsockname()[1]
        probe.close()
        self.proc = subprocess.Popen([sys.executable, '-m', 'http.server', '--bind', self.address,
                                      '--directory', self.directory, str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((self.address, self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise SystemExit('the HTTP server on %s did not start' % self.address)
                time.sleep(0.2)
        log('serving %s on http://%s:%d/ (pid %d)' % (self.directory, self.address, self.port, self.proc.pid))
        return self

    def url(self, name):
        return 'http://%s:%d/%s' % (self.address, self.port, name)

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            log('HTTP server (pid %d) stopped' % self.proc.pid)


# Actions that run on the controller only (no module is executed).
CONTROLLER_ONLY = frozenset('ansible.builtin.' + a for a in (
    'assert', 'set_fact', 'debug', 'fail', 'meta', 'include_role', 'include_tasks', 'include_vars', 'import_role',
    'import_tasks', 'set_stats'))


def count(report):
    """From the ansible.posix.json output, per host: tasks executed (not skipped), module runs
    (loop items counted, controller-only actions such as assert and set_fact not), changed results."""
    tasks, runs, changed = {}, {}, {}
    for play in report['plays']:
        for task in play['tasks']:
            for host, res in task['hosts'].items():
                if res.get('skipped'):
                    continue
                tasks[host] = tasks.get(host, 0) + 1
                changed[host] = changed.get(host, 0) + bool(res.get('changed'))
                if res.get('action') in CONTROLLER_ONLY:
                    continue
                items = [r for r in res.get('results', []) if isinstance(r, dict) and not r.get('skipped')]
                runs[host] = runs.get(host, 0) + (len(items) if 'results' in res else 1)
    return tasks, runs, changed


def playbook(env, inventory, cfg, target, extra):
    """One ansible-playbook run: (wall seconds, tasks, module runs, changed: dicts by host)."""
    run_env = dict(env, ANSIBLE_CONFIG=cfg, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json')
    start = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inventory, '-e', json.dumps(extra),
                           target], cwd=REPO, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit('%s failed (rc %d):\n%s\n%s' % (target, proc.returncode, proc.stdout[-4000:],
                                                         proc.stderr[-2000:]))
    return (wall,) + count(json.loads(proc.stdout))


def one_lab(tool, env, served, digest, gateway, workdir, verify, keep):
    """A fresh lab, the tool's first and no-change runs, verify, and the lab destroyed."""
    log('%s: creating the lab (molecule create -s %s)' % (LABEL[tool], SCENARIO))
    molecule(env, 'destroy')   # what a killed run may have left
    try:
        molecule(env, 'create')
        inventory, cfg = ephemeral()
        with Server(gateway, served) as server:
            url = server.url(ARCHIVE)
            if tool == 'cni':
                target = 'cni.node.site'
                extra = dict(profile_kind='overlay', plugins_src=url, plugins_checksum='sha256:' + digest,
                             overlay_state_path=os.path.join(workdir, 'ipam-pods-%d.json' % time.time_ns()))
            else:
                target, extra = CONVENTIONAL, dict(conv_plugins_url=url, conv_plugins_checksum='sha256:' + digest)
            runs = []
            for label in ('first run', 'no-change run'):
                runs.append(playbook(env, inventory, cfg, target, extra))
                log('%s %s: %.1f s, %d tasks, %d module runs, %d changed'
                    % (LABEL[tool], label, runs[-1][0], sum(runs[-1][1].values()), sum(runs[-1][2].values()),
                       sum(runs[-1][3].values())))
        if verify:
            playbook(env, inventory, cfg, 'cni.node.verify', {})
            log('%s: cni.node.verify passed (pod-to-pod between every pair of nodes)' % LABEL[tool])
        return runs
    finally:
        if keep:
            log('lab kept (--keep-lab): molecule destroy -s %s removes it' % SCENARIO)
        else:
            log('destroying the lab')
            molecule(env, 'destroy')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=1, help='fresh labs per tool (interleaved); medians')
    parser.add_argument('--no-verify', dest='verify', action='store_false',
                        help='skip cni.node.verify after each tool')
    parser.add_argument('--keep-lab', action='store_true', help='leave the last lab up (for debugging)')
    parser.add_argument('--tools', default=','.join(TOOLS),
                        help='cni, conv or both (a table needs both; one alone is for debugging)')
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit('run as root: the benchmark drives dockerd and binds to the lab network')

    def interrupted(signum, _frame):
        raise SystemExit('interrupted (signal %d): cleaning up' % signum)
    signal.signal(signal.SIGTERM, interrupted)

    nodes, gateway = lab_layout()
    env = environment()
    workdir = tempfile.mkdtemp(prefix='cnb-profile-')
    tools = [t for t in TOOLS if t in args.tools.split(',')]
    results = {tool: [] for tool in tools}
    try:
        served, digest, size = pack(workdir)
        for rnd in range(args.rounds):
            for tool in tools:
                last = rnd == args.rounds - 1 and tool == tools[-1]
                results[tool].append(one_lab(tool, env, served, digest, gateway, workdir, args.verify,
                                             args.keep_lab and last))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if tools != list(TOOLS):
        return

    def med(tool, run, field):
        values = [r[run][field] for r in results[tool]]
        if field == 0:
            return statistics.median(values)
        return statistics.median(sum(v.values()) for v in values)

    def per_node(tool, run, field):
        values = sorted(set(n for r in results[tool] for n in r[run][field].values()))
        return '%d' % values[0] if len(values) == 1 else '%d-%d' % (values[0], values[-1])

    print('%s, %d cores, %s; %s, %d nodes (%s), each tool on freshly created nodes; '
          'plugins from a %.1f MB archive over HTTP for both.%s\n'
          % (time.strftime('%Y-%m-%d'), os.cpu_count(),
             'one lab per tool' if args.rounds == 1 else 'median of %d interleaved labs per tool' % args.rounds,
             'Molecule scenario `%s`' % SCENARIO, len(nodes), ', '.join(nodes), size / 1e6,
             ' Both passed `cni.node.verify` afterwards.' if args.verify else ''))
    print('| run | figure | cni.node.site | conventional playbook | ratio |')
    print('|---|---|---|---|---|')
    for run, label in ((0, 'first run'), (1, 'no-change run')):
        c, v = med('cni', run, 0), med('conv', run, 0)
        print('| %s | wall time (whole playbook) | %.1f s | %.1f s | **%.1fx** |' % (label, c, v, v / c))
        c, v = med('cni', run, 1), med('conv', run, 1)
        print('| %s | tasks executed, %d nodes (per node) | %d (%s) | %d (%s) | %.1fx |'
              % (label, len(nodes), c, per_node('cni', run, 1), v, per_node('conv', run, 1), v / c))
        c, v = med('cni', run, 2), med('conv', run, 2)
        print('| %s | module runs (loop items counted; no assert, set_fact) | %d | %d | %.1fx |' % (label, c, v, v / c))
        print('| %s | changed | %d | %d | |' % (label, med('cni', run, 3), med('conv', run, 3)))


if __name__ == '__main__':
    main()
