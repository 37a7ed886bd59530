# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bulk rtnetlink for routes, neighbours and FDB entries: part of the netlink adapter.

Only ``_netlink`` uses this file. Thousands of peer entries (a VXLAN
overlay of 1,000 nodes has 3,000) cost one pyroute2 round trip each, and
pyroute2 0.9's asyncio core spends about a millisecond per request. Here the
three message kinds are encoded with ``struct`` (their layouts are fixed
kernel ABI: nlmsghdr, rtmsg, ndmsg, rtattr), sent many per ``send`` and
acknowledged in bulk, as ``ip -batch`` does; dumps are parsed the same way.
The dumps of links and addresses are read here too (``link_dict``,
``addr_dict``): a module run that only reads (no change, check mode) needs
no pyroute2, whose import and socket cost more than a small run's own work;
creating and changing links stays with pyroute2.

The socket is opened in the namespace of the calling thread at that moment
(``_netlink`` enters the target namespace first). No Ansible, no pyroute2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket
import struct

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_GETLINK = 18
RTM_GETADDR = 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH

RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15
NDA_DST, NDA_LLADDR, NDA_MASTER = 1, 2, 9
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_LINKINFO = 1, 3, 4, 5, 10, 18
IFLA_LINK_NETNSID, IFLA_XDP, IFLA_MIN_MTU, IFLA_MAX_MTU = 37, 43, 50, 51
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
IFLA_BR_STP_STATE, IFLA_BR_VLAN_FILTERING = 5, 7
IFLA_VXLAN_ID, IFLA_VXLAN_LINK, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LEARNING = 1, 3, 4, 7
IFLA_VXLAN_PORT, IFLA_VXLAN_LOCAL6, IFLA_VXLAN_GBP = 15, 17, 23
IFLA_XDP_ATTACHED, IFLA_XDP_PROG_ID, IFLA_XDP_DRV_PROG_ID, IFLA_XDP_SKB_PROG_ID, IFLA_XDP_HW_PROG_ID = 2, 4, 5, 6, 7
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
RT_TABLE_MAIN = 254
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1
RTNH_F_ONLINK = 0x04
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
AF_BRIDGE = 7

_HDR = struct.Struct('=IHHII')      # nlmsghdr: len, type, flags, seq, pid
_RTM = struct.Struct('=BBBBBBBBI')  # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
_NDM = struct.Struct('=BxxxiHBB')   # ndmsg: family, ifindex, state, flags, type
_RTA = struct.Struct('=HH')         # rtattr: len, type
_IFI = struct.Struct('=BxHiII')     # ifinfomsg: family, type, index, flags, change
_IFA = struct.Struct('=BBBBI')      # ifaddrmsg: family, prefixlen, flags, scope, index
_ERR = struct.Struct('=i')
CHUNK = 256                         # requests per send: their ACKs fit any receive buffer
TIMEOUT = 30.0                      # seconds to wait for the kernel's answer


def _family(address):
    return socket.AF_INET6 if ':' in address else socket.AF_INET


def _attr(kind, payload):
    length = _RTA.size + len(payload)
    return _RTA.pack(length, kind) + payload + b'\0' * ((4 - length % 4) % 4)


def _addr(address):
    return socket.inet_pton(_family(address), address)


def _mac(text):
    return bytes(bytearray(int(x, 16) for x in text.split(':')))


def _mac_text(raw):
    return ':'.join('%02x' % b for b in bytearray(raw))


def _attrs(data, offset):
    out = {}
    end = len(data)
    while offset + _RTA.size <= end:
        length, kind = _RTA.unpack_from(data, offset)
        if length < _RTA.size:
            break
        out[kind & 0x3fff] = data[offset + _RTA.size:offset + length]
        offset += (length + 3) & ~3
    return out


# Encoders: each returns (message type, flags, body).

def route(add, dst, oif, gateway=None, onlink=False, proto=None, table=RT_TABLE_MAIN, replace=False):
    net, plen = dst.split('/', 1)
    fam = _family(net)
    if add:
        msg_type = RTM_NEWROUTE
        flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
        head = _RTM.pack(fam, int(plen), 0, 0, table if table < 256 else 252, proto or 3, RT_SCOPE_UNIVERSE,
                         RTN_UNICAST, RTNH_F_ONLINK if onlink else 0)
    else:
        msg_type, flags = RTM_DELROUTE, 0
        head = _RTM.pack(fam, int(plen), 0, 0, table if table < 256 else 252, proto or 0, RT_SCOPE_NOWHERE, 0, 0)
    body = head + _attr(RTA_DST, _addr(net)) + _attr(RTA_TABLE, struct.pack('=I', table))
    if oif is not None:
        body += _attr(RTA_OIF, struct.pack('=I', oif))
    if gateway is not None:
        body += _attr(RTA_GATEWAY, _addr(gateway))
    return msg_type, flags, body


def neigh(add, index, dst, lladdr=None):
    fam = _family(dst)
    if add:
        body = _NDM.pack(fam, index, NUD_PERMANENT, 0, 0) + _attr(NDA_DST, _addr(dst)) + \
            _attr(NDA_LLADDR, _mac(lladdr))
        return RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body
    return RTM_DELNEIGH, 0, _NDM.pack(fam, index, 0, 0, 0) + _attr(NDA_DST, _addr(dst))


def fdb(add, index, lladdr, dst, append=False):
    attrs = _attr(NDA_LLADDR, _mac(lladdr)) + _attr(NDA_DST, _addr(dst))
    if add:
        return (RTM_NEWNEIGH, NLM_F_CREATE | (NLM_F_APPEND if append else NLM_F_REPLACE),
                _NDM.pack(AF_BRIDGE, index, NUD_PERMANENT | NUD_NOARP, NTF_SELF, 0) + attrs)
    return RTM_DELNEIGH, 0, _NDM.pack(AF_BRIDGE, index, 0, NTF_SELF, 0) + attrs


# Decoders of dump messages into the adapter's plain dicts.

def _ip_text(raw):
    if raw is None:
        return None
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def route_dict(data, offset):
    fam, dst_len, _src, _tos, table, proto, scope, rtype, flags = _RTM.unpack_from(data, offset)
    attrs = _attrs(data, offset + _RTM.size)
    v6 = fam == socket.AF_INET6
    dst = _ip_text(attrs.get(RTA_DST)) or ('::' if v6 else '0.0.0.0')
    return dict(
        family=6 if v6 else 4,
        dst=u'%s/%d' % (dst, dst_len),
        gateway=_ip_text(attrs.get(RTA_GATEWAY)),
        oif=struct.unpack('=I', attrs[RTA_OIF])[0] if RTA_OIF in attrs else None,
        table=struct.unpack('=I', attrs[RTA_TABLE])[0] if RTA_TABLE in attrs else table,
        proto=proto,
        scope=scope,
        type=rtype,
        onlink=bool(flags & RTNH_F_ONLINK),
        priority=struct.unpack('=I', attrs[RTA_PRIORITY])[0] if RTA_PRIORITY in attrs else None,
    )


def _ndm(data, offset):
    fam, index, state, flags, _type = _NDM.unpack_from(data, offset)
    return fam, index, state, flags, _attrs(data, offset + _NDM.size)


def neigh_dict(data, offset):
    fam, index, state, flags, attrs = _ndm(data, offset)
    lladdr = attrs.get(NDA_LLADDR)
    return dict(
        index=index,
        family=6 if fam == socket.AF_INET6 else 4,
        dst=_ip_text(attrs.get(NDA_DST)),
        lladdr=_mac_text(lladdr) if lladdr and len(lladdr) == 6 else None,
        state=state,
        permanent=bool(state & NUD_PERMANENT),
        flags=flags,
    )


def fdb_dict(data, offset):
    _fam, index, state, flags, attrs = _ndm(data, offset)
    lladdr = attrs.get(NDA_LLADDR)
    return dict(
        index=index,
        lladdr=_mac_text(lladdr) if lladdr else None,
        dst=_ip_text(attrs.get(NDA_DST)),
        state=state,
        permanent=bool(state & NUD_PERMANENT),
        self=bool(flags & NTF_SELF),
        master=struct.unpack('=I', attrs[NDA_MASTER])[0] if NDA_MASTER in attrs else None,
    )


def _u32(attrs, kind):
    raw = attrs.get(kind)
    return struct.unpack('=I', raw[:4])[0] if raw is not None and len(raw) >= 4 else None


def _text(raw):
    if raw is None:
        return None
    raw = raw.split(b'\0', 1)[0]
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        return raw.decode('latin-1')


def _vxlan_data(data):
    """The VXLAN attributes cni_vxlan manages, as pyroute2 gives them (the port in host order)."""
    if data is None:
        return {}
    attrs = _attrs(data, 0)
    local = attrs.get(IFLA_VXLAN_LOCAL) or attrs.get(IFLA_VXLAN_LOCAL6)
    port = attrs.get(IFLA_VXLAN_PORT)
    learning = attrs.get(IFLA_VXLAN_LEARNING)
    return dict(
        id=_u32(attrs, IFLA_VXLAN_ID),
        local=_ip_text(local) if local and len(local) in (4, 16) else None,
        link=_u32(attrs, IFLA_VXLAN_LINK),
        port=struct.unpack('!H', port[:2])[0] if port is not None and len(port) >= 2 else None,
        learning=bool(learning and bytearray(learning)[0]),
        gbp=IFLA_VXLAN_GBP in attrs,
    )


def link_dict(data, offset):
    """An RTM_NEWLINK message as the netlink adapter's link dict; its XDP attributes under ``xdp``.

    ``xdp``: ``attached`` (XDP_ATTACHED_* number, None without IFLA_XDP) and
    the program ids by attribute (``prog``, ``drv``, ``skb``, ``hw``).
    """
    _fam, _type, index, flags, _change = _IFI.unpack_from(data, offset)
    attrs = _attrs(data, offset + _IFI.size)
    info = _attrs(attrs[IFLA_LINKINFO], 0) if IFLA_LINKINFO in attrs else {}
    kind = _text(info.get(IFLA_INFO_KIND))
    data_attrs = _attrs(info[IFLA_INFO_DATA], 0) if kind == 'bridge' and IFLA_INFO_DATA in info else {}
    address = attrs.get(IFLA_ADDRESS)
    netnsid = attrs.get(IFLA_LINK_NETNSID)
    xdp = _attrs(attrs[IFLA_XDP], 0) if IFLA_XDP in attrs else None
    vlan_filtering = data_attrs.get(IFLA_BR_VLAN_FILTERING)
    return dict(
        index=index,
        name=_text(attrs.get(IFLA_IFNAME)),
        kind=kind,
        mtu=_u32(attrs, IFLA_MTU),
        address=_mac_text(address) if address else None,
        up=bool(flags & 1),
        master=_u32(attrs, IFLA_MASTER),
        min_mtu=_u32(attrs, IFLA_MIN_MTU),
        max_mtu=_u32(attrs, IFLA_MAX_MTU),
        br_stp_state=_u32(data_attrs, IFLA_BR_STP_STATE) if kind == 'bridge' else None,
        br_vlan_filtering=(bytearray(vlan_filtering)[0] if vlan_filtering else None) if kind == 'bridge' else None,
        link=_u32(attrs, IFLA_LINK),
        link_netnsid=struct.unpack('=i', netnsid[:4])[0] if netnsid is not None and len(netnsid) >= 4 else None,
        vxlan=_vxlan_data(info.get(IFLA_INFO_DATA)) if kind == 'vxlan' else None,
        xdp=None if xdp is None else dict(
            attached=bytearray(xdp[IFLA_XDP_ATTACHED])[0] if xdp.get(IFLA_XDP_ATTACHED) else 0,
            prog=_u32(xdp, IFLA_XDP_PROG_ID), drv=_u32(xdp, IFLA_XDP_DRV_PROG_ID),
            skb=_u32(xdp, IFLA_XDP_SKB_PROG_ID), hw=_u32(xdp, IFLA_XDP_HW_PROG_ID)),
    )


def addr_dict(data, offset):
    """An RTM_NEWADDR message as the netlink adapter's address dict (see ``_netlink.Netlink.addresses``)."""
    fam, prefixlen, flags, scope, index = _IFA.unpack_from(data, offset)
    attrs = _attrs(data, offset + _IFA.size)
    address = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    return dict(
        index=index,
        family=6 if fam == socket.AF_INET6 else 4,
        address=_ip_text(address) if address and len(address) in (4, 16) else None,
        prefixlen=prefixlen,
        scope=scope,
        flags=_u32(attrs, IFA_FLAGS) if IFA_FLAGS in attrs else flags,
    )


def _errno(data, off):
    """The errno of an NLMSG_ERROR message (0: an ACK); OSError(EBADMSG) when the message is cut short."""
    if len(data) < off + _ERR.size:
        raise OSError(errno.EBADMSG, 'netlink error message cut short (%d bytes)' % len(data))
    return -_ERR.unpack_from(data, off)[0]


class Socket(object):
    """A NETLINK_ROUTE socket of the namespace the calling thread is in when it is made."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        # A lost answer must not hang a module run: the kernel answers at once.
        self.sock.settimeout(TIMEOUT)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self):
        self.sock.close()

    def _next(self):
        self.seq += 1
        return self.seq

    def _messages(self):
        """Yield (type, flags, seq, data, body offset) of every message of one read."""
        data = self.sock.recv(1 << 20)
        offset = 0
        while offset + _HDR.size <= len(data):
            length, msg_type, flags, seq, _pid = _HDR.unpack_from(data, offset)
            if length < _HDR.size:
                break
            yield msg_type, flags, seq, data[offset:offset + length], _HDR.size
            offset += (length + 3) & ~3

    def dump(self, msg_type, head, decode):
        """All messages of one dump request, decoded.

        A dump the kernel marks as interrupted (the table changed meanwhile)
        is asked again, up to three times; then OSError(EINTR). A message
        that cannot be decoded raises OSError(EBADMSG).
        """
        for _attempt in range(3):
            seq = self._next()
            self.sock.send(_HDR.pack(_HDR.size + len(head), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + head)
            out, interrupted, done = [], False, False
            while not done:
                for kind, flags, mseq, data, off in self._messages():
                    if mseq != seq:
                        continue
                    if flags & NLM_F_DUMP_INTR:
                        interrupted = True
                    if kind == NLMSG_DONE:
                        code = -_ERR.unpack_from(data, off)[0] if len(data) >= off + _ERR.size else 0
                        if code > 0:
                            raise OSError(code, 'netlink dump ended with an error: %s' % os.strerror(code))
                        done = True
                        break
                    if kind == NLMSG_ERROR:
                        code = _errno(data, off)
                        if code:
                            raise OSError(code, 'netlink dump failed: %s' % errno.errorcode.get(code, code))
                        done = True
                        break
                    try:
                        out.append(decode(data, off))
                    except (struct.error, ValueError, IndexError) as exc:
                        raise OSError(errno.EBADMSG, 'netlink dump message not understood: %s' % exc)
            if not interrupted:
                return out
        raise OSError(errno.EINTR, 'netlink dump interrupted three times (the table kept changing)')

    def dump_routes(self, family):
        return self.dump(RTM_GETROUTE, _RTM.pack(family, 0, 0, 0, 0, 0, 0, 0, 0), route_dict)

    def dump_links(self):
        return self.dump(RTM_GETLINK, _IFI.pack(socket.AF_UNSPEC, 0, 0, 0, 0), link_dict)

    def dump_addresses(self):
        return self.dump(RTM_GETADDR, _IFA.pack(socket.AF_UNSPEC, 0, 0, 0, 0), addr_dict)

    def dump_neighbours(self, family):
        decode = fdb_dict if family == AF_BRIDGE else neigh_dict
        return self.dump(RTM_GETNEIGH, _NDM.pack(family, 0, 0, 0, 0), decode)

    def execute(self, requests):
        """Send (type, flags, body) requests in chunks; return one errno (0 = done) per request.

        Only the last request of a chunk asks for an ACK: the kernel answers
        a request without NLM_F_ACK only when it fails (an NLMSG_ERROR with
        its sequence number) and handles the requests of one send in order,
        so when the last one's ACK arrives every earlier failure has been
        read, and the requests without an answer succeeded. One receive per
        chunk instead of one per request (each ACK is a datagram of its own).
        """
        results = [0] * len(requests)
        for start in range(0, len(requests), CHUNK):
            chunk = requests[start:start + CHUNK]
            seqs = {}
            buf = []
            last = len(chunk) - 1
            for i, (msg_type, flags, body) in enumerate(chunk):
                seq = self._next()
                seqs[seq] = start + i
                ack = NLM_F_ACK if i == last else 0
                buf.append(_HDR.pack(_HDR.size + len(body), msg_type, NLM_F_REQUEST | ack | flags, seq, 0))
                buf.append(body)
            self.sock.send(b''.join(buf))
            final = seq
            done = False
            while not done:
                for kind, _flags, seq, data, off in self._messages():
                    if kind != NLMSG_ERROR or seq not in seqs:
                        continue
                    results[seqs.pop(seq)] = _errno(data, off)
                    done = done or seq == final
        return results
