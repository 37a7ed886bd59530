# -*- coding: utf-8 -*-
"""Property tests (hypothesis) of the rtnetlink decoder (``_rtnl``) on truncated and garbage messages.

The kernel's answers are read from a fake socket: any bytes give a decoded
list (``dump``) or one errno per request (``execute``), or the decoder's own
error, an OSError (EBADMSG for a message it cannot read); never IndexError,
struct.error or another exception. Encoders and decoders agree on what they
write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import socket
import struct

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.cni.node.plugins.module_utils import _rtnl

settings.register_profile('cni-node-properties', derandomize=True, deadline=None, database=None,
                          max_examples=200, suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile('cni-node-properties')

HDR = struct.Struct('=IHHII')
KINDS = [_rtnl.RTM_NEWROUTE, _rtnl.RTM_NEWNEIGH, _rtnl.NLMSG_ERROR, _rtnl.NLMSG_DONE]


class FakeSocket(object):
    """recv() gives the garbage of one read after each send, then what ends the exchange properly."""

    def __init__(self, owner, reads, ending):
        self.owner = owner
        self.reads = reads      # callables: seq -> bytes
        self.ending = ending    # callable: (owner, seq) -> bytes
        self.queue = []
        self.sent = 0

    def send(self, data):
        self.sent += 1
        self.queue = [read(self.owner.seq) for read in self.reads]

    def recv(self, _size):
        if self.queue:
            return self.queue.pop(0)
        return self.ending(self.owner)


def _socket(reads, ending):
    sock = _rtnl.Socket.__new__(_rtnl.Socket)   # no kernel socket: the reads are the kernel's answer
    sock.seq = 0
    sock.sock = FakeSocket(sock, reads, ending)
    return sock


@st.composite
def attributes(draw):
    """rtattrs: right or wrong lengths, known and unknown types, payloads of any size."""
    out = b''
    for _attr in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from([_rtnl.RTA_DST, _rtnl.RTA_OIF, _rtnl.RTA_GATEWAY, _rtnl.RTA_PRIORITY,
                                     _rtnl.RTA_TABLE, _rtnl.NDA_LLADDR, _rtnl.NDA_MASTER]) | st.integers(0, 0xffff))
        payload = draw(st.sampled_from([b'\x0a\x00\x00\x01', b'\xfd' + b'\0' * 15, b'\x02\0\0\0\0\x01', b'\x07\0\0\0'])
                       | st.binary(max_size=20))
        length = 4 + len(payload)
        length = draw(st.sampled_from([length, length]) | st.integers(0, 0xffff))
        out += struct.pack('=HH', length, kind) + payload + b'\0' * ((4 - len(payload) % 4) % 4)
    return out


@st.composite
def message(draw):
    """One netlink message as a function of the sequence number the socket waits for."""
    kind = draw(st.sampled_from(KINDS) | st.integers(0, 0xffff))
    flags = draw(st.sampled_from([0, _rtnl.NLM_F_MULTI]) | st.integers(0, 0xffff))
    right_seq = draw(st.booleans())
    other_seq = draw(st.integers(0, 2 ** 32 - 1))
    head = draw(st.sampled_from([b'', struct.pack('=BBBBBBBBI', socket.AF_INET, 24, 0, 0, 254, 3, 0, 1, 0),
                                 struct.pack('=BBBBBBBBI', socket.AF_INET6, 64, 0, 0, 254, 3, 0, 1, 4),
                                 struct.pack('=BxxxiHBB', socket.AF_INET, 3, 0x80, 0, 0),
                                 struct.pack('=BxxxiHBB', _rtnl.AF_BRIDGE, 3, 0xc0, 2, 0),
                                 struct.pack('=i', -errno.EEXIST), struct.pack('=i', 0)])
                | st.binary(max_size=16))
    body = head + draw(attributes())
    cut = draw(st.none() | st.integers(0, len(body)))
    if cut is not None:
        body = body[:cut]
    length = draw(st.sampled_from([None, None, None]) | st.integers(0, 2 ** 32 - 1) | st.integers(0, 40))

    def render(seq):
        size = HDR.size + len(body) if length is None else length
        return HDR.pack(size, kind, flags, seq if right_seq else other_seq, 0) + body
    return render


@st.composite
def reads(draw):
    """Reads of one exchange: several messages each, the whole read possibly cut anywhere."""
    out = []
    for _read in range(draw(st.integers(1, 2))):
        parts = draw(st.lists(message(), min_size=1, max_size=3))
        cut = draw(st.none() | st.integers(0, 200))

        def read(seq, parts=parts, cut=cut):
            data = b''.join(p(seq) for p in parts)
            return data if cut is None else data[:cut]
        out.append(read)
    return out


def _done(owner):
    return HDR.pack(HDR.size + 4, _rtnl.NLMSG_DONE, _rtnl.NLM_F_MULTI, owner.seq, 0) + struct.pack('=i', 0)


def _acks(owner):
    """An ACK (errno 0) for every request still waiting: the last seq numbers the socket gave out."""
    return b''.join(HDR.pack(HDR.size + 4, _rtnl.NLMSG_ERROR, 0, seq, 0) + struct.pack('=i', 0)
                    for seq in range(1, owner.seq + 1))


def _check_dict(item, keys):
    assert isinstance(item, dict) and set(item) == keys, item


ROUTE_KEYS = {'family', 'dst', 'gateway', 'oif', 'table', 'proto', 'scope', 'type', 'onlink', 'priority'}
NEIGH_KEYS = {'index', 'family', 'dst', 'lladdr', 'state', 'permanent', 'flags'}
FDB_KEYS = {'index', 'lladdr', 'dst', 'state', 'permanent', 'self', 'master'}


@settings(PROFILE, max_examples=200)
@given(reads(), st.sampled_from(['routes4', 'routes6', 'neigh4', 'fdb']))
@example([lambda seq: HDR.pack(HDR.size, _rtnl.NLMSG_ERROR, 0, seq, 0)], 'routes4')   # found: struct.error
def test_dump_of_garbage_decodes_or_fails_with_oserror(answer, what):
    sock = _socket(answer, _done)
    try:
        if what.startswith('routes'):
            out = sock.dump_routes(socket.AF_INET if what == 'routes4' else socket.AF_INET6)
            keys = ROUTE_KEYS
        elif what == 'neigh4':
            out = sock.dump_neighbours(socket.AF_INET)
            keys = NEIGH_KEYS
        else:
            out = sock.dump_neighbours(_rtnl.AF_BRIDGE)
            keys = FDB_KEYS
    except OSError as exc:
        assert exc.errno is not None and exc.strerror, exc
    else:
        assert isinstance(out, list)
        for item in out:
            _check_dict(item, keys)
    assert sock.sock.sent <= 3


@settings(PROFILE, max_examples=150)
@given(reads(), st.integers(1, 5))
@example([lambda seq: HDR.pack(HDR.size + 2, _rtnl.NLMSG_ERROR, 0, seq, 0) + b'\0\0'], 1)   # found: struct.error
def test_execute_on_garbage_acks_returns_errnos_or_fails_with_oserror(answer, count):
    requests = [_rtnl.route(True, '10.%d.0.0/24' % i, 3, gateway='192.0.2.1') for i in range(count)]
    sock = _socket(answer, _acks)
    try:
        out = sock.execute(requests)
    except OSError as exc:
        assert exc.errno is not None and exc.strerror, exc
    else:
        assert len(out) == count and all(isinstance(code, int) for code in out), out


@PROFILE
@given(st.binary(max_size=64), st.integers(0, 8))
def test_decoders_raise_only_what_dump_turns_into_ebadmsg(data, offset):
    """route_dict, neigh_dict, fdb_dict on any bytes: a dict, or struct.error/ValueError/IndexError."""
    for decode, keys in ((_rtnl.route_dict, ROUTE_KEYS), (_rtnl.neigh_dict, NEIGH_KEYS),
                         (_rtnl.fdb_dict, FDB_KEYS)):
        try:
            item = decode(data, offset)
        except (struct.error, ValueError, IndexError):
            pass
        else:
            _check_dict(item, keys)


IPV4 = st.integers(0, 2 ** 32 - 1).map(lambda n: socket.inet_ntop(socket.AF_INET, struct.pack('!I', n)))
IPV6 = st.binary(min_size=16, max_size=16).map(lambda b: socket.inet_ntop(socket.AF_INET6, b))
MAC = st.binary(min_size=6, max_size=6).map(lambda b: ':'.join('%02x' % x for x in bytearray(b)))


def _decoded(encoded, decode):
    _kind, _flags, body = encoded
    return decode(HDR.pack(HDR.size + len(body), 0, 0, 1, 0) + body, HDR.size)


@PROFILE
@given(st.one_of(st.tuples(IPV4, st.integers(0, 32), IPV4), st.tuples(IPV6, st.integers(0, 128), IPV6)),
       st.integers(1, 2 ** 31), st.integers(1, 2 ** 32 - 1), st.booleans())
def test_route_encoder_and_decoder_agree(addrs, oif, table, onlink):
    net, plen, gateway = addrs
    got = _decoded(_rtnl.route(True, '%s/%d' % (net, plen), oif, gateway=gateway, onlink=onlink, table=table),
                   _rtnl.route_dict)
    assert got['dst'] == '%s/%d' % (net, plen) and got['gateway'] == gateway
    assert (got['oif'], got['table'], got['onlink']) == (oif, table, onlink)
    assert got['family'] == (6 if ':' in net else 4)


@PROFILE
@given(IPV4 | IPV6, MAC, st.integers(1, 2 ** 31 - 1))
def test_neighbour_and_fdb_encoders_and_decoders_agree(dst, mac, index):
    got = _decoded(_rtnl.neigh(True, index, dst, mac), _rtnl.neigh_dict)
    assert (got['index'], got['dst'], got['lladdr'], got['permanent']) == (index, dst, mac, True)
    got = _decoded(_rtnl.fdb(True, index, mac, dst), _rtnl.fdb_dict)
    assert (got['index'], got['dst'], got['lladdr'], got['self']) == (index, dst, mac, True)
