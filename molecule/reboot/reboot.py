# -*- coding: utf-8 -*-
"""Restart lab nodes with docker restart and time how soon their pods reach the other pods again.

    reboot.py --restart NODE [NODE ...] --pod NODE=ADDRESS [--pod ...] [--limit 30]

The named nodes are restarted together (one docker restart each, in
parallel); the clock of each starts when its docker restart returns (the
container runs again: systemd boots). Then, without any playbook, every
ordered pair of pods of which one is on a restarted node is pinged from
inside the pod's namespace (``docker exec NODE ip netns exec rbpod ping``)
until it answers or ``--limit`` seconds have passed. Prints JSON: per pair
the seconds from its restarted node's start to the first answer (null: no
answer) and the largest (``max_seconds``); the same from the start of the
restarted node's systemd-networkd (``max_networkd_seconds``: how soon the
persisted configuration brings the pods back once networking starts, which
a loaded host does not stretch as much as the whole boot), read from its
``ExecMainStartTimestampMonotonic`` (a container shares the host's
monotonic clock); and the host's load average and CPU count at the end.
Exit status 0 when every pair answered.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import subprocess
import threading
import time


def restart(node, started):
    subprocess.run(['docker', 'restart', '-t', '10', node], check=True, stdout=subprocess.DEVNULL)
    started[node] = time.monotonic()


def ping(node, address):
    proc = subprocess.run(['docker', 'exec', node, 'ip', 'netns', 'exec', 'rbpod', 'ping', '-c', '1', '-W', '1',
                           '-q', address], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return proc.returncode == 0


def networkd_started(node):
    """When ``node``'s systemd-networkd started, on the host's monotonic clock (seconds), or None."""
    out = subprocess.run(['docker', 'exec', node, 'systemctl', 'show', '-p', 'ExecMainStartTimestampMonotonic',
                          '--value', 'systemd-networkd.service'], stdout=subprocess.PIPE, universal_newlines=True,
                         check=False).stdout.strip()
    return int(out) / 1e6 if out.isdigit() and int(out) else None


def diagnose(node):
    out = {}
    commands = [
        ('state', ['systemctl', 'is-system-running']),
        ('failed', ['systemctl', '--failed', '--plain', '--no-legend']),
        ('networkctl', ['networkctl', '--no-legend']),
        ('pod', ['ip', 'netns', 'exec', 'rbpod', 'ip', '-br', 'addr']),
    ]
    for key, argv in commands:
        proc = subprocess.run(['docker', 'exec', node] + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, check=False)
        out[key] = proc.stdout.strip().splitlines()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--restart', nargs='+', required=True)
    parser.add_argument('--pod', action='append', required=True, help='NODE=ADDRESS')
    parser.add_argument('--limit', type=float, default=30.0)
    args = parser.parse_args()
    pods = dict(item.split('=', 1) for item in args.pod)
    started = {}
    threads = [threading.Thread(target=restart, args=(node, started)) for node in args.restart]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pairs = [(a, b) for a in sorted(pods) for b in sorted(pods) if a != b and (a in started or b in started)]
    answered = {}
    deadline = max(started.values()) + args.limit

    def poll(a, b):
        # Each pair on its own thread: a pair still waiting costs the others nothing.
        since = max(started.get(n, 0) for n in (a, b))
        while time.monotonic() < deadline:
            if ping(a, pods[b]):
                answered[(a, b)] = time.monotonic()
                return
            time.sleep(0.1)

    pollers = [threading.Thread(target=poll, args=pair) for pair in pairs]
    for t in pollers:
        t.start()
    for t in pollers:
        t.join()
    networkd = dict((node, networkd_started(node)) for node in started)

    def since(pair, clock):
        if pair not in answered or any(clock.get(n) is None for n in pair if n in started):
            return None
        return round(answered[pair] - max(clock[n] for n in pair if n in started), 2)

    boot = dict(('%s->%s' % pair, since(pair, started)) for pair in pairs)
    net = dict(('%s->%s' % pair, since(pair, networkd)) for pair in pairs)
    out = dict(restarted=sorted(started), pairs=boot, pairs_after_networkd=net, load=os.getloadavg()[0],
               cpus=os.cpu_count())
    out['max_seconds'] = max(boot.values()) if None not in boot.values() else None
    out['max_networkd_seconds'] = max(net.values()) if None not in net.values() else None
    if out['max_seconds'] is None:
        # What the nodes say, to tell a slow boot from a broken one.
        out['diagnostics'] = dict((node, diagnose(node)) for node in sorted(started))
    print(json.dumps(out, sort_keys=True))
    return 0 if out['max_seconds'] is not None else 1


if __name__ == '__main__':
    raise SystemExit(main())
