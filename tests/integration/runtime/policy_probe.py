# -*- coding: utf-8 -*-
"""Real traffic for the policy tests, run inside a pod's namespace (``ip netns exec POD python3 policy_probe.py``).

``serve TCP_PORTS UDP_PORTS``: listen on every given TCP and UDP port of
all addresses; each TCP connection gets ``ok`` back, each UDP datagram an
``ok`` reply. Prints ``ready`` once listening.

``probe JSON``: run probes ``[[kind, address, port], ...]`` (kind ``tcp``,
``udp`` or ``icmp``) in parallel and print ``[true|false, ...]``: whether
each one got its answer (a connection and ``ok``, a UDP reply, an echo
reply) within the timeout.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import subprocess
import sys
import threading

TIMEOUT = 1.0


def serve(tcp_ports, udp_ports):
    def tcp(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', port))
        s.listen(64)
        while True:
            conn, _addr = s.accept()
            try:
                conn.sendall(b'ok')
            finally:
                conn.close()

    def udp(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('0.0.0.0', port))
        while True:
            _data, addr = s.recvfrom(100)
            s.sendto(b'ok', addr)

    threads = [threading.Thread(target=tcp, args=(p,)) for p in tcp_ports]
    threads += [threading.Thread(target=udp, args=(p,)) for p in udp_ports]
    for t in threads:
        t.daemon = True
        t.start()
    print('ready')
    sys.stdout.flush()
    for t in threads:
        t.join()


def one(kind, address, port):
    if kind == 'icmp':
        return subprocess.call(['ping', '-c', '1', '-W', '1', address], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) == 0
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == 'tcp' else socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    try:
        if kind == 'tcp':
            s.connect((address, port))
            return s.recv(10) == b'ok'
        s.sendto(b'hi', (address, port))
        return s.recvfrom(10)[0] == b'ok'
    except (socket.timeout, OSError):
        return False
    finally:
        s.close()


def probe(probes):
    out = [None] * len(probes)

    def run(i, item):
        out[i] = one(*item)

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(probes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out))


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve([int(p) for p in sys.argv[2].split(',') if p], [int(p) for p in sys.argv[3].split(',') if p])
    else:
        probe(json.loads(sys.argv[2]))
