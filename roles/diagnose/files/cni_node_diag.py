# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni.node.diagnose's probes on a node, run by the role with ansible.builtin.script (standard library only).

  cni_node_diag.py probe NETNS MTU COUNT [--capture DEV PORT FILE SECONDS PACKETS SNAPLEN] NAME=ADDRESS...
      from the pod namespace NETNS: ping each target COUNT times, then a don't-fragment ping of MTU bytes;
      when that fails, bisect the largest size that passes. With --capture, tcpdump records UDP PORT on DEV
      into FILE during the probes (started before, stopped after them; at most SECONDS and PACKETS, SNAPLEN
      bytes each). JSON {probes, capture} on stdout.
  cni_node_diag.py summary PCAP PORT
      tcpdump -nn -r PCAP: packets per outer pair (node to node on the VXLAN port PORT) and the inner flows.
  cni_node_diag.py perf NETNS ADDRESS SECONDS
      iperf3 -J from NETNS to an iperf3 server at ADDRESS for SECONDS, and 10 pings: throughput and latency.

Nothing here changes the node: ping, tcpdump -r and iperf3 (client) only. No shell.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import select
import subprocess
import sys
import time

IP_HEADERS = 28   # IPv4 (20) + ICMP (8): ping -s takes the payload
_RTT = re.compile(r'= [\d.]+/([\d.]+)/')
_RECEIVED = re.compile(r'(\d+) packets transmitted, (\d+) received')
_OUTER = re.compile(r'^\S+ IP6? (\S+)\.(\d+) > (\S+)\.(\d+): VXLAN.*?vni (\d+)\s*(.*)$')
_INNER = re.compile(r'^IP6? (?:truncated-ip - \d+ bytes missing! )?(\S+?) > (\S+?): (\w+)')


def run(argv, timeout):
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, 'timed out after %ss' % timeout
    return proc.returncode, proc.stdout


def ping(netns, address, count=1, size=None, df=False, wait=1, interval=None):
    argv = ['ip', 'netns', 'exec', netns, 'ping', '-n', '-q', '-c', str(count), '-W', str(wait)]
    if interval:
        argv += ['-i', str(interval)]
    if df:
        argv += ['-M', 'do']
    if size is not None:
        argv += ['-s', str(size)]
    rc, out = run(argv + [address], timeout=count * (wait + 1) + 5)
    got = _RECEIVED.search(out)
    rtt = _RTT.search(out)
    return dict(rc=rc, sent=int(got.group(1)) if got else count, received=int(got.group(2)) if got else 0,
                rtt_avg_ms=float(rtt.group(1)) if rtt else None, output=out.strip().splitlines()[-1:] or [''])


def probe(netns, mtu, count, targets):
    out = []
    for item in targets:
        name, address = item.split('=', 1)
        basic = ping(netns, address, count=count)
        entry = dict(target=name, address=address, sent=basic['sent'], received=basic['received'],
                     reachable=basic['received'] > 0, rtt_avg_ms=basic['rtt_avg_ms'], mtu=mtu, mtu_ok=None,
                     largest=None, error=None if basic['received'] else basic['output'][0])
        if entry['reachable']:
            full = ping(netns, address, size=mtu - IP_HEADERS, df=True)
            entry['mtu_ok'] = full['received'] > 0
            if entry['mtu_ok']:
                entry['largest'] = mtu
            else:
                low, high = 0, mtu - IP_HEADERS   # payload sizes: low passes, high fails
                while high - low > 1:
                    mid = (low + high) // 2
                    if ping(netns, address, size=mid, df=True)['received'] > 0:
                        low = mid
                    else:
                        high = mid
                entry['largest'] = low + IP_HEADERS
        out.append(entry)
    return out


def start_capture(dev, port, path, seconds, packets, snaplen):
    """tcpdump (bounded by timeout and a packet count), once it listens; (process, error)."""
    proc = subprocess.Popen(['timeout', str(seconds), 'tcpdump', '-i', dev, '-nn', '-U', '-s', str(snaplen),
                             '-c', str(packets), '-w', path, 'udp', 'port', str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
    deadline = time.time() + 15
    while time.time() < deadline:
        ready, _w, _x = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if 'listening on' in line:
                return proc, None
            if not line:   # tcpdump ended
                break
    proc.poll()
    return proc, 'tcpdump did not start listening on %s (rc=%s)' % (dev, proc.returncode)


def stop_capture(proc):
    """Stop the tcpdump this script started (its own child, by its process); its exit code."""
    time.sleep(0.5)   # the last replies
    if proc.poll() is None:
        proc.terminate()   # timeout passes SIGTERM on to tcpdump, which writes and exits
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def summary(pcap, port):
    rc, text = run(['tcpdump', '-nn', '-r', pcap], timeout=60)
    if rc != 0 and not text.strip():
        return dict(error=text.strip(), packets=0, pairs={}, flows=[])
    pairs, flows, packets, pending = {}, {}, 0, None
    for line in text.splitlines():
        m = _OUTER.match(line)
        if m:
            src, dst, dport = m.group(1), m.group(3), int(m.group(4))
            if dport != port and int(m.group(2)) != port:
                pending = None
                continue
            packets += 1
            key = '%s > %s' % (src, dst)
            pairs[key] = pairs.get(key, 0) + 1
            pending = (src, dst, m.group(5))
            rest = m.group(6)
            if not rest:
                continue
            line = rest
        if pending is None:
            continue
        inner = _INNER.match(line.strip())
        what = (inner.group(1), inner.group(2), inner.group(3)) if inner else (None, None, line.split(',')[0].strip())
        key = pending + what
        flows[key] = flows.get(key, 0) + 1
        pending = None
    return dict(packets=packets, pairs=pairs, flows=[
        dict(outer_src=k[0], outer_dst=k[1], vni=int(k[2]), inner_src=k[3], inner_dst=k[4], proto=k[5], packets=n)
        for k, n in sorted(flows.items(), key=lambda kv: [str(x) for x in kv[0]])])


def perf(netns, address, seconds):
    rc, text = run(['ip', 'netns', 'exec', netns, 'iperf3', '-J', '-c', address, '-t', str(seconds)],
                   timeout=seconds + 30)
    out = dict(target=address, seconds=seconds, throughput_mbps=None, retransmits=None, error=None)
    try:
        data = json.loads(text)
        end = data['end']['sum_received']
        out['throughput_mbps'] = round(end['bits_per_second'] / 1e6, 1)
        out['retransmits'] = data['end'].get('sum_sent', {}).get('retransmits')
    except (ValueError, KeyError, TypeError):
        out['error'] = (text.strip().splitlines() or ['iperf3 rc=%d' % rc])[-1]
    lat = ping(netns, address, count=10, interval=0.2)
    out['rtt_avg_ms'] = lat['rtt_avg_ms']
    out['loss_percent'] = round(100.0 * (lat['sent'] - lat['received']) / lat['sent'], 1) if lat['sent'] else None
    return out


def main(argv):
    if len(argv) >= 4 and argv[0] == 'probe':
        targets, capture = argv[4:], None
        if targets[:1] == ['--capture']:
            capture, targets = targets[1:7], targets[7:]
        result = dict(capture=None)
        proc = None
        if capture:
            proc, error = start_capture(*capture)
            result['capture'] = dict(file=capture[2], error=error, rc=None)
        result['probes'] = probe(argv[1], int(argv[2]), int(argv[3]), targets)
        if proc is not None:
            result['capture']['rc'] = stop_capture(proc)
    elif len(argv) == 3 and argv[0] == 'summary':
        result = summary(argv[1], int(argv[2]))
    elif len(argv) == 4 and argv[0] == 'perf':
        result = perf(argv[1], argv[2], int(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
