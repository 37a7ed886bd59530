# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ethtool adapter: a link's offload features through the SIOCETHTOOL ioctl.

``Ethtool(netns)`` is a context manager holding one AF_INET datagram socket
opened inside the network namespace (None: the node's). The kernel runs an
ethtool ioctl in the namespace of the socket it is made on, so every call
acts on the links of that namespace, by index as the netlink adapter names
them (``SIOCGIFNAME`` gives the name the ioctl wants).

The features are those of ``ethtool -k`` (the ``ETH_SS_FEATURES`` string
set, e.g. ``tx-checksum-ip-generic``), read with ``ETHTOOL_GFEATURES`` and
changed with ``ETHTOOL_SFEATURES``, one bit each: the ABI every kernel since
2.6.39 has, with no pyroute2 (its ethtool API differs between 0.7.x and
0.9.x) and no ethtool(8). Errors come back typed as the netlink adapter's
(``NoSuchObject``, ``NotSupported``, ``PermissionDenied``, ...).

No Ansible, no pyroute2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import fcntl
import socket
import struct

from ansible_collections.cni.node.plugins.module_utils import _netns
from ansible_collections.cni.node.plugins.module_utils._errors import KernelRefused, NotSupported
from ansible_collections.cni.node.plugins.module_utils._netlink import typed_error

SIOCGIFNAME = 0x8910
SIOCETHTOOL = 0x8946
ETHTOOL_GSTRINGS = 0x1b
ETHTOOL_GSSET_INFO = 0x37
ETHTOOL_GFEATURES = 0x3a
ETHTOOL_SFEATURES = 0x3b
ETH_SS_FEATURES = 4
ETH_GSTRING_LEN = 32
IFNAMSIZ = 16
IFREQ_SIZE = 40                    # struct ifreq on 64-bit (32 on 32-bit: the kernel reads no further)
ETHTOOL_F_UNSUPPORTED = 1 << 0     # SFEATURES: a bit asked for is not changeable on this device
ETHTOOL_F_WISH = 1 << 1            # SFEATURES: the device's features differ from what was asked


class Ethtool(object):
    """Offload features of the links of one namespace (None: the node's)."""

    def __init__(self, netns=None):
        self.netns = netns
        self.sock = None
        self._names = None

    def __enter__(self):
        where = 'network namespace %r' % self.netns if self.netns is not None else 'the node'
        try:
            with _netns.entered(self.netns):
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        except OSError as exc:
            raise typed_error(exc, 'opening an ethtool socket in %s' % where)
        return self

    def __exit__(self, *exc_info):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        return False

    def _ioctl(self, what, request, ifreq):
        try:
            return fcntl.ioctl(self.sock.fileno(), request, ifreq)
        except OSError as exc:
            raise typed_error(exc, what)

    def ifname(self, index):
        """The name of link ``index`` in the socket's namespace (``SIOCGIFNAME``)."""
        ifreq = bytearray(IFREQ_SIZE)
        struct.pack_into('=i', ifreq, IFNAMSIZ, index)
        self._ioctl('reading the name of link %d' % index, SIOCGIFNAME, ifreq)
        return bytes(ifreq[:IFNAMSIZ]).split(b'\0', 1)[0].decode('utf-8', 'surrogateescape')

    def _ethtool(self, what, name, data, answer=True):
        """One SIOCETHTOOL request on link ``name``: ``data`` (bytes) in; the bytes out (``answer``) or the
        ioctl's return value back."""
        buf = ctypes.create_string_buffer(data, len(data))
        ifreq = bytearray(IFREQ_SIZE)
        raw = name.encode('utf-8', 'surrogateescape')
        ifreq[:len(raw)] = raw
        struct.pack_into('@P', ifreq, IFNAMSIZ, ctypes.addressof(buf))
        ret = self._ioctl(what, SIOCETHTOOL, ifreq)
        return buf.raw if answer else ret

    def feature_names(self, name):
        """The kernel's feature names (``ETH_SS_FEATURES``), bit by bit; read once per adapter."""
        if self._names is None:
            what = 'reading the feature names of %s' % name
            out = self._ethtool(what, name, struct.pack('=IIQI', ETHTOOL_GSSET_INFO, 0, 1 << ETH_SS_FEATURES, 0))
            mask, count = struct.unpack_from('=8xQI', out)
            if not mask & (1 << ETH_SS_FEATURES):
                raise NotSupported('%s: the kernel has no feature string set' % what)
            head = struct.pack('=III', ETHTOOL_GSTRINGS, ETH_SS_FEATURES, count)
            out = self._ethtool(what, name, head + b'\0' * (count * ETH_GSTRING_LEN))
            self._names = [out[12 + i * ETH_GSTRING_LEN:12 + (i + 1) * ETH_GSTRING_LEN].split(b'\0', 1)[0]
                           .decode('ascii', 'replace') for i in range(count)]
        return self._names

    def _bit(self, what, name, feature):
        names = self.feature_names(name)
        if feature not in names:
            raise NotSupported('%s: this kernel has no feature %r' % (what, feature))
        return names.index(feature), (len(names) + 31) // 32

    def _blocks(self, what, name, words):
        """``ETHTOOL_GFEATURES``: per word of 32 bits (available, requested, active, never_changed)."""
        out = self._ethtool(what, name, struct.pack('=II', ETHTOOL_GFEATURES, words) + b'\0' * (16 * words))
        return [struct.unpack_from('=IIII', out, 8 + 16 * i) for i in range(words)]

    def feature(self, index, feature):
        """Feature ``feature`` of link ``index``: ``dict(active, requested, changeable)`` (booleans).

        ``changeable`` is false for a feature ``ethtool -k`` shows as
        ``[fixed]``; ``requested`` is what was last asked for (the kernel may
        keep a feature off that depends on another, ``[requested on]``).
        """
        name = self.ifname(index)
        what = 'reading feature %s of %s' % (feature, name)
        bit, words = self._bit(what, name, feature)
        available, requested, active = self._blocks(what, name, words)[bit // 32][:3]
        mask = 1 << (bit % 32)
        return dict(active=bool(active & mask), requested=bool(requested & mask), changeable=bool(available & mask))

    def set_feature(self, what, index, feature, on):
        """Turn ``feature`` of link ``index`` on or off (``ETHTOOL_SFEATURES``, that bit only).

        A feature the device does not let change fails with NotSupported,
        one the kernel does not turn as asked with KernelRefused; either
        way the device is as it was.
        """
        name = self.ifname(index)
        bit, words = self._bit(what, name, feature)
        ret = self._sfeatures(what, name, bit, words, on)
        if ret & ETHTOOL_F_UNSUPPORTED:
            raise NotSupported('%s: %s cannot change %s (fixed)' % (what, name, feature))
        if ret & ETHTOOL_F_WISH:
            # The kernel keeps the wish but not the feature: wish for it as it is, so that it does not turn
            # later by itself (when what held it up goes).
            self._sfeatures('undoing: ' + what, name, bit, words, not on)
            raise KernelRefused('%s: the kernel keeps %s %s on %s' % (what, feature, 'off' if on else 'on', name))

    def _sfeatures(self, what, name, bit, words, on):
        blocks = [0] * (2 * words)
        blocks[2 * (bit // 32)] = 1 << (bit % 32)                            # valid
        blocks[2 * (bit // 32) + 1] = (1 << (bit % 32)) if on else 0         # requested
        return self._ethtool(what, name, struct.pack('=II%dI' % len(blocks), ETHTOOL_SFEATURES, words, *blocks),
                             answer=False)
