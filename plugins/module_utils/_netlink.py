# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netlink adapter: the one place that opens a pyroute2 socket.

``Netlink(netns)`` is a context manager bound to the host's network
namespace (``netns=None``) or to an existing named namespace (or path). It
never creates a namespace: a missing one raises ``NamespaceNotFound`` before
pyroute2 is asked (its default flags would create it, which would break
check mode). pyroute2 0.7.x (Debian's package) and 0.9.x differ in how a
namespace-bound socket is made; that difference lives here and nowhere else.
Kernel errors come back as typed errors (``NoSuchObject``, ``ObjectExists``,
``NotSupported``, ``PermissionDenied``, ``KernelRefused``).

This file imports no Ansible; pyroute2 is imported lazily so that a module
can fail with a clear message when it is missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket

from ansible_collections.cni.node.plugins.module_utils import _netns
from ansible_collections.cni.node.plugins.module_utils._errors import (
    CniNodeError,
    KernelRefused,
    MissingDependency,
    NoSuchObject,
    NotSupported,
    ObjectExists,
    PermissionDenied,
)

MISSING_PYROUTE2 = ('pyroute2 is required on the managed node: install python3-pyroute2 '
                    'or pip install pyroute2')

_ERRNO_TYPES = {
    errno.ENODEV: NoSuchObject,
    errno.ENOENT: NoSuchObject,
    errno.ESRCH: NoSuchObject,
    errno.EADDRNOTAVAIL: NoSuchObject,
    errno.EEXIST: ObjectExists,
    errno.EOPNOTSUPP: NotSupported,
    errno.EAFNOSUPPORT: NotSupported,
    errno.EPROTONOSUPPORT: NotSupported,
    errno.EPERM: PermissionDenied,
    errno.EACCES: PermissionDenied,
    errno.EINVAL: KernelRefused,
    errno.ERANGE: KernelRefused,
    errno.EBUSY: KernelRefused,
}


def pyroute2():
    """The pyroute2 package, or MissingDependency with what to install."""
    try:
        import pyroute2 as mod  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise MissingDependency(MISSING_PYROUTE2)
    return mod


def api_generation(mod=None):
    """'0.9' for pyroute2 >= 0.8 (asyncio core), '0.7' for the older API."""
    mod = mod or pyroute2()
    return '0.9' if hasattr(mod, 'AsyncIPRoute') else '0.7'


def typed_error(exc, what=''):
    """Map a pyroute2 NetlinkError (or OSError) to the collection's typed errors."""
    code = getattr(exc, 'code', None) or getattr(exc, 'errno', None) or 0
    cls = _ERRNO_TYPES.get(abs(code), CniNodeError)
    text = os.strerror(abs(code)) if code else str(exc)
    return cls('%s%s (errno %s)' % ('%s: ' % what if what else '', text, code), errno=code)


class Netlink(object):
    """A netlink route socket in the host or in an existing namespace."""

    def __init__(self, netns=None):
        self.netns = netns
        self.path = None
        self.ipr = None

    def __enter__(self):
        mod = pyroute2()
        if self.netns is not None:
            self.path = _netns.resolve(self.netns)
        where = 'network namespace %r' % self.netns if self.netns is not None else 'the node'
        try:
            if self.netns is None:
                self.ipr = mod.IPRoute()
            elif api_generation(mod) == '0.9':
                self.ipr = mod.IPRoute(netns=self.path, flags=0)
            else:
                # 0.7's NetNS forks a helper process per socket. A netlink
                # socket belongs to the namespace of the thread that opens
                # it, so open a plain in-process IPRoute inside the namespace
                # and come back: no fork, and namespace file descriptors
                # (veth peers, link moves) stay valid for the kernel.
                with _netns.entered(self.path):
                    self.ipr = mod.IPRoute()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # pyroute2 raises OSError, NetlinkError or its own errors here,
            # depending on the version: all of them become typed errors.
            raise typed_error(exc, 'opening a netlink socket in %s' % where)
        return self

    def __exit__(self, *exc_info):
        if self.ipr is not None:
            self.ipr.close()
            self.ipr = None
        return False

    def call(self, what, method, *args, **kwargs):
        """Run an IPRoute method; kernel errors become typed errors naming ``what``."""
        netlink_error = getattr(pyroute2(), 'NetlinkError', OSError)
        try:
            return getattr(self.ipr, method)(*args, **kwargs)
        except (netlink_error, OSError) as exc:
            raise typed_error(exc, what)

    def links(self):
        """One dump of all links, as plain dicts."""
        return [link_dict(m) for m in self.call('listing links', 'get_links')]

    def link(self, name):
        """The link called ``name`` as a dict, or None."""
        for item in self.links():
            if item['name'] == name:
                return item
        return None

    def addresses(self):
        """One dump of all addresses, as plain dicts (see ``addr_dict``)."""
        return [addr_dict(m) for m in self.call('listing addresses', 'get_addr')]

    def link_add(self, what, name, kind, **attrs):
        """Create link ``name`` of ``kind`` with IFLA attributes in one request."""
        return self.call(what, 'link', 'add', ifname=name, kind=kind, **attrs)

    def link_set(self, what, index, **attrs):
        """Change attributes of the link with ``index`` (``state='up'``/``'down'`` too)."""
        return self.call(what, 'link', 'set', index=index, **attrs)

    def link_del(self, what, index):
        """Delete the link with ``index``."""
        return self.call(what, 'link', 'del', index=index)

    def addr_add(self, what, index, address, prefixlen):
        """Add ``address/prefixlen`` to the link with ``index``."""
        return self.call(what, 'addr', 'add', index=index, address=address, prefixlen=prefixlen)

    def addr_del(self, what, index, address, prefixlen):
        """Remove ``address/prefixlen`` from the link with ``index``."""
        return self.call(what, 'addr', 'del', index=index, address=address, prefixlen=prefixlen)

    def veth_add(self, what, name, peer, peer_netns=None, **attrs):
        """Create a veth pair ``name``/``peer``; ``peer_netns`` (name or path) puts the peer there."""
        if peer_netns is None:
            return self.call(what, 'link', 'add', ifname=name, kind='veth', peer=peer, **attrs)
        fd = os.open(_netns.resolve(peer_netns), os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
        try:
            return self.call(what, 'link', 'add', ifname=name, kind='veth',
                             peer={'ifname': peer, 'net_ns_fd': fd}, **attrs)
        finally:
            os.close(fd)

    def link_move(self, what, index, netns):
        """Move the link with ``index`` into namespace ``netns`` (name or path)."""
        fd = os.open(_netns.resolve(netns), os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
        try:
            return self.call(what, 'link', 'set', index=index, net_ns_fd=fd)
        finally:
            os.close(fd)

    def routes(self, families=(4, 6), table=254):
        """One dump per family of the routes in ``table`` (main), as plain dicts (see ``route_dict``)."""
        out = []
        for fam in families:
            msgs = self.call('listing IPv%d routes' % fam, 'get_routes', family=_AF[fam], table=table)
            out.extend(route_dict(m) for m in msgs)
        return [r for r in out if r['table'] == table]

    def route_add(self, what, dst, oif, gateway=None, onlink=False, proto=None, table=254, replace=False):
        """Add (or with ``replace`` replace) the route to ``dst`` (CIDR text) out of link ``oif``."""
        return self.call(what, 'route', 'replace' if replace else 'add',
                         **_route_kwargs(dst, oif, gateway, onlink, proto, table))

    def route_del(self, what, dst, oif, gateway=None, onlink=False, proto=None, table=254):
        """Delete the route to ``dst``; with ``proto`` set the kernel deletes only a route of that protocol."""
        return self.call(what, 'route', 'del', **_route_kwargs(dst, oif, gateway, onlink, proto, table))

    def neighbours(self, families=(4, 6)):
        """One dump per family of the neighbour (ARP/NDP) tables, as plain dicts (see ``neigh_dict``)."""
        out = []
        for fam in families:
            out.extend(neigh_dict(m) for m in self.call('listing IPv%d neighbours' % fam, 'get_neighbours',
                                                        family=_AF[fam]))
        return out

    def neigh_set(self, what, index, dst, lladdr):
        """Make ``dst`` a permanent neighbour with ``lladdr`` on link ``index`` (created or replaced)."""
        return self.call(what, 'neigh', 'replace', ifindex=index, dst=dst, lladdr=lladdr, state=NUD_PERMANENT,
                         family=_AF[_family_of(dst)])

    def neigh_del(self, what, index, dst):
        """Delete the neighbour ``dst`` of link ``index``."""
        return self.call(what, 'neigh', 'del', ifindex=index, dst=dst, family=_AF[_family_of(dst)])

    def fdb(self):
        """One dump of the bridge forwarding databases (AF_BRIDGE neighbours), as plain dicts."""
        return [fdb_dict(m) for m in self.call('listing forwarding database entries', 'get_neighbours',
                                               family=socket.AF_BRIDGE)]

    def fdb_add(self, what, index, lladdr, dst, append=False):
        """A permanent FDB entry ``lladdr dst <dst>`` on link ``index`` (self).

        ``append`` adds one more destination for the same MAC (the flood
        entries of 00:00:00:00:00:00); otherwise an entry for that MAC is
        created or replaced.
        """
        return self.call(what, 'fdb', 'append' if append else 'replace', ifindex=index, lladdr=lladdr, dst=dst,
                         state=NUD_PERMANENT | NUD_NOARP, flags=NTF_SELF)

    def fdb_del(self, what, index, lladdr, dst):
        """Delete the FDB entry ``lladdr dst <dst>`` of link ``index``."""
        return self.call(what, 'fdb', 'del', ifindex=index, lladdr=lladdr, dst=dst, flags=NTF_SELF)


NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
NTF_MASTER = 0x04
RTNH_F_ONLINK = 0x04
_AF = {4: socket.AF_INET, 6: socket.AF_INET6}


def _family_of(address):
    return 6 if ':' in str(address) else 4


def _route_kwargs(dst, oif, gateway, onlink, proto, table):
    net, plen = str(dst).split('/', 1)
    kwargs = dict(dst=net, dst_len=int(plen), oif=oif, table=table, family=_AF[_family_of(net)])
    if gateway is not None:
        kwargs['gateway'] = gateway
    if onlink:
        kwargs['flags'] = RTNH_F_ONLINK
    if proto is not None:
        kwargs['proto'] = proto
    return kwargs


def route_dict(msg):
    """Plain dict of an RTM_NEWROUTE message.

    ``dst`` is CIDR text (``0.0.0.0/0`` / ``::/0`` for a default route);
    ``onlink`` is the RTNH_F_ONLINK flag; ``table`` prefers RTA_TABLE (tables
    above 255 do not fit the header field).
    """
    fam = 6 if msg['family'] == socket.AF_INET6 else 4
    dst = msg.get_attr('RTA_DST') or ('::' if fam == 6 else '0.0.0.0')
    return dict(
        family=fam,
        dst=u'%s/%d' % (dst, msg['dst_len']),
        gateway=msg.get_attr('RTA_GATEWAY'),
        oif=msg.get_attr('RTA_OIF'),
        table=msg.get_attr('RTA_TABLE') or msg['table'],
        proto=msg['proto'],
        scope=msg['scope'],
        type=msg['type'],
        onlink=bool(msg['flags'] & RTNH_F_ONLINK),
        priority=msg.get_attr('RTA_PRIORITY'),
    )


def neigh_dict(msg):
    """Plain dict of an RTM_NEWNEIGH message of the ARP/NDP tables."""
    lladdr = msg.get_attr('NDA_LLADDR')
    return dict(
        index=msg['ifindex'],
        family=6 if msg['family'] == socket.AF_INET6 else 4,
        dst=msg.get_attr('NDA_DST'),
        lladdr=lladdr.lower() if lladdr else None,
        state=msg['state'],
        permanent=bool(msg['state'] & NUD_PERMANENT),
        flags=msg['flags'],
    )


def fdb_dict(msg):
    """Plain dict of an AF_BRIDGE RTM_NEWNEIGH message (a forwarding database entry).

    ``self`` is true for entries of the device itself (a VXLAN device's
    remote destinations), false for entries of a bridge master; ``dst`` is
    the remote underlay address of a VXLAN entry (None for a bridge's).
    """
    lladdr = msg.get_attr('NDA_LLADDR')
    return dict(
        index=msg['ifindex'],
        lladdr=lladdr.lower() if lladdr else None,
        dst=msg.get_attr('NDA_DST'),
        state=msg['state'],
        permanent=bool(msg['state'] & NUD_PERMANENT),
        self=bool(msg['flags'] & NTF_SELF),
        master=msg.get_attr('NDA_MASTER'),
    )


def link_dict(msg):
    """Plain dict of the attributes cni.node reads from an RTM_NEWLINK message."""
    info = msg.get_attr('IFLA_LINKINFO')
    kind = info.get_attr('IFLA_INFO_KIND') if info is not None else None
    flags = msg['flags']
    return dict(
        index=msg['index'],
        name=msg.get_attr('IFLA_IFNAME'),
        kind=kind,
        mtu=msg.get_attr('IFLA_MTU'),
        address=msg.get_attr('IFLA_ADDRESS'),
        up=bool(flags & 1),
        master=msg.get_attr('IFLA_MASTER'),
        min_mtu=msg.get_attr('IFLA_MIN_MTU'),
        max_mtu=msg.get_attr('IFLA_MAX_MTU'),
        br_stp_state=_info_data(info, 'IFLA_BR_STP_STATE') if kind == 'bridge' else None,
        br_vlan_filtering=_info_data(info, 'IFLA_BR_VLAN_FILTERING') if kind == 'bridge' else None,
        link=msg.get_attr('IFLA_LINK'),
        link_netnsid=msg.get_attr('IFLA_LINK_NETNSID'),
        vxlan=_vxlan_data(info) if kind == 'vxlan' else None,
    )


def _vxlan_data(info):
    """The VXLAN attributes cni_vxlan manages (id, local, link, port, learning, gbp)."""
    data = info.get_attr('IFLA_INFO_DATA')
    if data is None or not hasattr(data, 'get_attr'):
        return {}
    names = [item[0] for item in data.get('attrs', ())]
    return dict(
        id=data.get_attr('IFLA_VXLAN_ID'),
        local=data.get_attr('IFLA_VXLAN_LOCAL') or data.get_attr('IFLA_VXLAN_LOCAL6'),
        link=data.get_attr('IFLA_VXLAN_LINK'),
        port=data.get_attr('IFLA_VXLAN_PORT'),
        learning=bool(data.get_attr('IFLA_VXLAN_LEARNING')),
        gbp='IFLA_VXLAN_GBP' in names,
    )


def _info_data(info, name):
    data = info.get_attr('IFLA_INFO_DATA')
    return data.get_attr(name) if data is not None and hasattr(data, 'get_attr') else None


def addr_dict(msg):
    """Plain dict of an RTM_NEWADDR message: index, family (4/6), address, prefixlen, scope.

    The address is IFA_LOCAL when present (IPv4: the address of this side;
    IFA_ADDRESS is the peer's on point-to-point links), else IFA_ADDRESS.
    """
    return dict(
        index=msg['index'],
        family=6 if msg['family'] == socket.AF_INET6 else 4,
        address=msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS'),
        prefixlen=msg['prefixlen'],
        scope=msg['scope'],
    )
