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

This file imports no Ansible. pyroute2 is imported, and its socket opened,
only when a change needs it (creating, changing or deleting links and
addresses, a namespace id): reading links, addresses, XDP attachments,
routes, neighbours and FDB entries goes through the bulk codec in
``_rtnl``, so a no-change or check-mode run never pays pyroute2's import
(about 0.15 s here, more than such a run's own work). Whether pyroute2 is
installed is still checked on entry (without importing it), so a module
fails with a clear message on a node without it, whatever the run needs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import importlib.util
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


def require_pyroute2():
    """MissingDependency when pyroute2 cannot be imported; pyroute2 itself is not imported."""
    try:
        found = importlib.util.find_spec('pyroute2') is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingDependency(MISSING_PYROUTE2)


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
        require_pyroute2()
        if self.netns is not None:
            self.path = _netns.resolve(self.netns)
        try:
            if self.path is None:
                self.rtnl = _rtnl.Socket()
            else:
                with _netns.entered(self.path):
                    self.rtnl = _rtnl.Socket()
        except OSError as exc:
            raise typed_error(exc, 'opening a netlink socket in %s' % self._where())
        return self

    def _where(self):
        return 'network namespace %r' % self.netns if self.netns is not None else 'the node'

    def _ipr(self):
        """pyroute2's IPRoute in the same namespace, opened at its first use."""
        if self.ipr is not None:
            return self.ipr
        mod = pyroute2()
        try:
            if self.path is None:
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
            raise typed_error(exc, 'opening a netlink socket in %s' % self._where())
        return self.ipr

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
        ipr = self._ipr()
        netlink_error = getattr(pyroute2(), 'NetlinkError', OSError)
        try:
            return getattr(ipr, method)(*args, **kwargs)
        except (netlink_error, OSError) as exc:
            raise typed_error(exc, what)

    def links(self):
        """One dump of all links, as plain dicts (see ``_rtnl.link_dict``; its ``xdp`` part left out)."""
        out = self._dump('listing links', self.rtnl.dump_links)
        for item in out:
            del item['xdp']
        return out

    # Read-only, for cni_doctor: links and their XDP attachments from one dump.
    def links_with_xdp(self):
        """One dump of all links, as plain dicts, each with its ``xdp`` (see ``xdp_dict``)."""
        out = self._dump('listing links', self.rtnl.dump_links)
        for item in out:
            item['xdp'] = xdp_dict(item)
        return out

    def link(self, name):
        """The link called ``name`` as a dict, or None."""
        for item in self.links():
            if item['name'] == name:
                return item
        return None

    def addresses(self):
        """One dump of all addresses, as plain dicts: index, family (4/6), address, prefixlen, scope, flags.

        The address is IFA_LOCAL when present (IPv4: the address of this side;
        IFA_ADDRESS is the peer's on point-to-point links), else IFA_ADDRESS.
        ``flags`` are the ``IFA_F_*`` bits of linux/if_addr.h (temporary,
        deprecated, tentative, permanent, ...): the 32-bit IFA_FLAGS attribute
        when the kernel sends it, else the message header's 8-bit ``ifa_flags``.
        """
        return self._dump('listing addresses', self.rtnl.dump_addresses)

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
        return dict((l['name'], xdp_dict(l)) for l in self._dump('listing links', self.rtnl.dump_links))

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


# IFLA_XDP_ATTACHED (linux/if_link.h XDP_ATTACHED_*).
_XDP_ATTACHED = {0: None, 1: 'native', 2: 'generic', 3: 'offload', 4: 'multi'}
_XDP_MODE_IDS = (('native', 'drv'), ('generic', 'skb'), ('offload', 'hw'))


def xdp_dict(link):
    """The XDP attachment of a link dict of ``_rtnl.link_dict``: ``index``; ``mode`` (native, generic,
    offload, multi or None); ``id`` of the program (None: none); ``ids``, the program id per mode that has one."""
    nested = link['xdp']
    attached = nested['attached'] if nested is not None else None
    mode = _XDP_ATTACHED.get(attached, 'multi' if attached else None)
    ids = {}
    if nested is not None:
        for name, attr in _XDP_MODE_IDS:
            value = nested[attr]
            if value:
                ids[name] = value
    prog_id = nested['prog'] if nested is not None and mode else None
    if mode in ('native', 'generic', 'offload') and not ids.get(mode):
        ids[mode] = prog_id
    if mode == 'multi' and not prog_id and ids:
        prog_id = ids.get('native') or sorted(ids.values())[0]     # the kernel reports no single id then
    return dict(index=link['index'], mode=mode, id=prog_id or None, ids=ids)
