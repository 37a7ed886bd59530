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

from ansible_collections.cni.node.plugins.module_utils import _netns, _rtnl
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
        self.rtnl = None

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
        try:
            if self.path is None:
                self.rtnl = _rtnl.Socket()
            else:
                with _netns.entered(self.path):
                    self.rtnl = _rtnl.Socket()
        except OSError as exc:
            self.ipr.close()
            self.ipr = None
            raise typed_error(exc, 'opening a netlink socket in %s' % where)
        return self

    def __exit__(self, *exc_info):
        if self.ipr is not None:
            self.ipr.close()
            self.ipr = None
        if self.rtnl is not None:
            self.rtnl.close()
            self.rtnl = None
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

    # Read-only, for cni_doctor: links and their XDP attachments from one dump.
    def links_with_xdp(self):
        """One dump of all links, as plain dicts, each with its ``xdp`` (see ``xdp_dict``)."""
        out = []
        for m in self.call('listing links', 'get_links'):
            item = link_dict(m)
            item['xdp'] = xdp_dict(m)
            out.append(item)
        return out

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

    def nsid(self, path):
        """The id this namespace gives namespace ``path`` (RTM_GETNSID), or None when it has none."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            answer = self.call('reading the id of namespace %s' % path, 'get_netnsid', fd=fd)
        except CniNodeError:
            return None
        finally:
            os.close(fd)
        nsid = answer.get('nsid') if isinstance(answer, dict) else None
        return nsid if isinstance(nsid, int) and nsid >= 0 else None

    def xdp(self):
        """Every link's XDP attachment, by name: ``{'index', 'mode', 'id', 'ids'}`` (see ``xdp_dict``)."""
        return dict((m.get_attr('IFLA_IFNAME'), xdp_dict(m)) for m in self.call('listing links', 'get_links'))

    # Routes, neighbours and FDB entries go through the bulk codec in _rtnl
    # (one dump per kind, requests batched): an overlay has thousands.

    def _dump(self, what, fn, *args):
        try:
            return fn(*args)
        except OSError as exc:
            raise typed_error(exc, what)

    def routes(self, families=(4, 6), table=254):
        """One dump per family of the routes in ``table`` (main), as plain dicts (see ``_rtnl.route_dict``)."""
        out = []
        for fam in families:
            out.extend(self._dump('listing IPv%d routes' % fam, self.rtnl.dump_routes, _AF[fam]))
        return [r for r in out if r['table'] == table]

    def neighbours(self, families=(4, 6)):
        """One dump per family of the neighbour (ARP/NDP) tables, as plain dicts (see ``_rtnl.neigh_dict``)."""
        out = []
        for fam in families:
            out.extend(self._dump('listing IPv%d neighbours' % fam, self.rtnl.dump_neighbours, _AF[fam]))
        return out

    def fdb(self):
        """One dump of the forwarding databases (AF_BRIDGE neighbours), as plain dicts (``_rtnl.fdb_dict``).

        ``self`` is true for entries of the device itself (a VXLAN device's
        remote destinations), false for a bridge master's; ``dst`` is the
        remote underlay address of a VXLAN entry.
        """
        return self._dump('listing forwarding database entries', self.rtnl.dump_neighbours, socket.AF_BRIDGE)

    def batch(self, calls):
        """Run many route/neigh/fdb calls, given as (method, args, kwargs), in bulk.

        ``args`` start with the ``what`` text, as for the single methods.
        Every request is sent (the kernel handles each on its own); returns
        one entry per call: None when done, else the typed error.
        """
        requests = [_ENCODE[method](*args[1:], **kwargs) for method, args, kwargs in calls]
        try:
            codes = self.rtnl.execute(requests)
        except OSError as exc:
            raise typed_error(exc, calls[0][1][0] if calls else 'netlink batch')
        return [typed_error(OSError(code, os.strerror(code)), call[1][0]) if code else None
                for code, call in zip(codes, calls)]

    def _one(self, method, what, *args, **kwargs):
        error = self.batch([(method, (what,) + args, kwargs)])[0]
        if error is not None:
            raise error

    def route_add(self, what, dst, oif, gateway=None, onlink=False, proto=None, table=254, replace=False):
        """Add (or with ``replace`` replace) the route to ``dst`` (CIDR text) out of link ``oif``."""
        self._one('route_add', what, dst, oif, gateway=gateway, onlink=onlink, proto=proto, table=table,
                  replace=replace)

    def route_del(self, what, dst, oif, gateway=None, onlink=False, proto=None, table=254):
        """Delete the route to ``dst``; with ``proto`` set the kernel deletes only a route of that protocol."""
        self._one('route_del', what, dst, oif, gateway=gateway, onlink=onlink, proto=proto, table=table)

    def neigh_set(self, what, index, dst, lladdr):
        """Make ``dst`` a permanent neighbour with ``lladdr`` on link ``index`` (created or replaced)."""
        self._one('neigh_set', what, index, dst, lladdr)

    def neigh_del(self, what, index, dst):
        """Delete the neighbour ``dst`` of link ``index``."""
        self._one('neigh_del', what, index, dst)

    def fdb_add(self, what, index, lladdr, dst, append=False):
        """A permanent FDB entry ``lladdr dst <dst>`` on link ``index`` (self).

        ``append`` adds one more destination for the same MAC (the kernel
        keeps several only for the all-zero flood MAC and multicast MACs);
        otherwise an entry for that MAC is created or replaced.
        """
        self._one('fdb_add', what, index, lladdr, dst, append=append)

    def fdb_del(self, what, index, lladdr, dst):
        """Delete the FDB entry ``lladdr dst <dst>`` of link ``index``."""
        self._one('fdb_del', what, index, lladdr, dst)


def _route_del_request(dst, oif, gateway=None, onlink=False, proto=None, table=254):
    return _rtnl.route(False, dst, oif, gateway=gateway, onlink=onlink, proto=proto, table=table)


_ENCODE = {
    'route_add': lambda *a, **k: _rtnl.route(True, *a, **k),
    'route_del': _route_del_request,
    'neigh_set': lambda index, dst, lladdr: _rtnl.neigh(True, index, dst, lladdr),
    'neigh_del': lambda index, dst: _rtnl.neigh(False, index, dst),
    'fdb_add': lambda index, lladdr, dst, append=False: _rtnl.fdb(True, index, lladdr, dst, append=append),
    'fdb_del': lambda index, lladdr, dst: _rtnl.fdb(False, index, lladdr, dst),
}


_AF = {4: socket.AF_INET, 6: socket.AF_INET6}


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
    """Plain dict of an RTM_NEWADDR message: index, family (4/6), address, prefixlen, scope, flags.

    The address is IFA_LOCAL when present (IPv4: the address of this side;
    IFA_ADDRESS is the peer's on point-to-point links), else IFA_ADDRESS.
    ``flags`` are the ``IFA_F_*`` bits of linux/if_addr.h (temporary,
    deprecated, tentative, permanent, ...): the 32-bit IFA_FLAGS attribute
    when the kernel sends it, else the message header's 8-bit ``ifa_flags``.
    """
    flags = msg.get_attr('IFA_FLAGS')
    return dict(
        index=msg['index'],
        family=6 if msg['family'] == socket.AF_INET6 else 4,
        address=msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS'),
        prefixlen=msg['prefixlen'],
        scope=msg['scope'],
        flags=flags if flags is not None else msg['flags'],
    )


# IFLA_XDP_ATTACHED (linux/if_link.h XDP_ATTACHED_*): pyroute2 0.7 and 0.9 both decode it to
# bpftool's names; a number (another decoder) is read too.
_XDP_ATTACHED = {0: None, 1: 'native', 2: 'generic', 3: 'offload', 4: 'multi',
                 None: None, 'xdp': 'native', 'xdpdrv': 'native', 'xdpgeneric': 'generic',
                 'xdpoffload': 'offload', 'xdpmulti': 'multi'}
_XDP_MODE_IDS = (('native', 'IFLA_XDP_DRV_PROG_ID'), ('generic', 'IFLA_XDP_SKB_PROG_ID'),
                 ('offload', 'IFLA_XDP_HW_PROG_ID'))


def xdp_dict(msg):
    """The XDP attachment of an RTM_NEWLINK message: ``index``; ``mode`` (native, generic, offload, multi
    or None); ``id`` of the program (None: none); ``ids``, the program id per mode that has one."""
    nested = msg.get_attr('IFLA_XDP')
    attached = nested.get_attr('IFLA_XDP_ATTACHED') if nested is not None else None
    mode = _XDP_ATTACHED.get(attached, 'multi' if attached else None)
    ids = {}
    if nested is not None:
        for name, attr in _XDP_MODE_IDS:
            value = nested.get_attr(attr)
            if value:
                ids[name] = value
    prog_id = nested.get_attr('IFLA_XDP_PROG_ID') if nested is not None and mode else None
    if mode in ('native', 'generic', 'offload') and not ids.get(mode):
        ids[mode] = prog_id
    if mode == 'multi' and not prog_id and ids:
        prog_id = ids.get('native') or sorted(ids.values())[0]     # the kernel reports no single id then
    return dict(index=msg['index'], mode=mode, id=prog_id or None, ids=ids)
