#!/usr/bin/env python3
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
answer), and the largest. Exit status 0 when every pair answered.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
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
                answered[(a, b)] = round(time.monotonic() - since, 2)
                return
            time.sleep(0.1)

    pollers = [threading.Thread(target=poll, args=pair) for pair in pairs]
    for t in pollers:
        t.start()
    for t in pollers:
        t.join()
    out = dict(restarted=sorted(started), pairs=dict(('%s->%s' % pair, answered.get(pair)) for pair in pairs))
    out['max_seconds'] = max(answered.values()) if len(answered) == len(pairs) else None
    print(json.dumps(out, sort_keys=True))
    return 0 if out['max_seconds'] is not None else 1


if __name__ == '__main__':
    raise SystemExit(main())
