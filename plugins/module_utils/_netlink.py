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
                self.ipr = mod.NetNS(self.path, flags=0)
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
