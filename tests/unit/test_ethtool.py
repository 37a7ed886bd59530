# -*- coding: utf-8 -*-
"""The ethtool adapter's requests, against a fake SIOCETHTOOL in place of the kernel's.

The fake reads and writes the request buffers where the adapter points the
ioctl (``ifr_data``), so each test pins the bytes the kernel gets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import struct

import pytest

from ansible_collections.cni.node.plugins.module_utils import _ethtool
from ansible_collections.cni.node.plugins.module_utils._errors import KernelRefused, NoSuchObject, NotSupported

# 40 names: the feature words are two; tx-checksum-ip-generic is bit 3, the other one bit 35.
NAMES = ['f%d' % i for i in range(40)]
NAMES[3] = 'tx-checksum-ip-generic'
NAMES[35] = 'late-feature'


class FakeKernel(object):
    def __init__(self, available=(1 << 3), active=(1 << 3), sfeatures_ret=0, links=None):
        self.available = [available, 1 << 3]
        self.active = [active, 0]
        self.sfeatures_ret = sfeatures_ret
        self.links = links or {7: 'vx0'}
        self.sets = []

    def ioctl(self, fd, request, ifreq):
        if request == _ethtool.SIOCGIFNAME:
            index, = struct.unpack_from('=i', ifreq, 16)
            if index not in self.links:
                raise OSError(errno.ENODEV, 'No such device')
            ifreq[:16] = self.links[index].encode().ljust(16, b'\0')
            return 0
        assert request == _ethtool.SIOCETHTOOL
        assert bytes(ifreq[:16]).rstrip(b'\0') == b'vx0'
        addr, = struct.unpack_from('@P', ifreq, 16)
        cmd, = struct.unpack('=I', ctypes.string_at(addr, 4))
        if cmd == _ethtool.ETHTOOL_GSSET_INFO:
            ctypes.memmove(addr + 8, struct.pack('=QI', 1 << _ethtool.ETH_SS_FEATURES, len(NAMES)), 12)
        elif cmd == _ethtool.ETHTOOL_GSTRINGS:
            data = b''.join(n.encode().ljust(32, b'\0') for n in NAMES)
            ctypes.memmove(addr + 12, data, len(data))
        elif cmd == _ethtool.ETHTOOL_GFEATURES:
            assert struct.unpack('=I', ctypes.string_at(addr + 4, 4)) == (2,)
            for i in range(2):
                ctypes.memmove(addr + 8 + 16 * i, struct.pack('=IIII', self.available[i], self.active[i],
                                                              self.active[i], 0), 16)
        elif cmd == _ethtool.ETHTOOL_SFEATURES:
            words, = struct.unpack('=I', ctypes.string_at(addr + 4, 4))
            blocks = struct.unpack('=%dI' % (2 * words), ctypes.string_at(addr + 8, 8 * words))
            self.sets.append(blocks)
            if not self.sfeatures_ret:
                for i in range(words):
                    valid, wanted = blocks[2 * i], blocks[2 * i + 1]
                    self.active[i] = (self.active[i] & ~valid) | (wanted & valid)
            return self.sfeatures_ret
        else:
            raise AssertionError('unexpected command %#x' % cmd)
        return 0


@pytest.fixture
def kernel(monkeypatch):
    fake = FakeKernel()
    monkeypatch.setattr(_ethtool.fcntl, 'ioctl', fake.ioctl)
    return fake


def test_feature_reads_names_once_and_the_right_bit(kernel):
    with _ethtool.Ethtool() as et:
        assert et.feature(7, 'tx-checksum-ip-generic') == dict(active=True, requested=True, changeable=True)
        assert et.feature(7, 'late-feature') == dict(active=False, requested=False, changeable=True)
        assert et.feature(7, 'f4') == dict(active=False, requested=False, changeable=False)
        assert et.feature_names('vx0') is et.feature_names('vx0')


def test_set_feature_sends_that_bit_only(kernel):
    with _ethtool.Ethtool() as et:
        et.set_feature('off', 7, 'tx-checksum-ip-generic', False)
        et.set_feature('on', 7, 'late-feature', True)
        assert et.feature(7, 'tx-checksum-ip-generic')['active'] is False
    assert kernel.sets == [(1 << 3, 0, 0, 0), (0, 0, 1 << 3, 1 << 3)]


def test_a_fixed_feature_is_not_supported(kernel):
    kernel.sfeatures_ret = _ethtool.ETHTOOL_F_UNSUPPORTED
    with _ethtool.Ethtool() as et:
        with pytest.raises(NotSupported) as err:
            et.set_feature('setting f4 on', 7, 'f4', True)
    assert err.value.msg == 'setting f4 on: vx0 cannot change f4 (fixed)'


def test_a_wish_the_kernel_does_not_keep_is_taken_back_and_refused(kernel):
    kernel.sfeatures_ret = _ethtool.ETHTOOL_F_WISH
    with _ethtool.Ethtool() as et:
        with pytest.raises(KernelRefused) as err:
            et.set_feature('setting it off', 7, 'tx-checksum-ip-generic', False)
    assert err.value.msg == 'setting it off: the kernel keeps tx-checksum-ip-generic on on vx0'
    assert kernel.sets == [(1 << 3, 0, 0, 0), (1 << 3, 1 << 3, 0, 0)]


def test_unknown_feature_and_missing_link_are_typed(kernel):
    with _ethtool.Ethtool() as et:
        with pytest.raises(NotSupported) as err:
            et.feature(7, 'no-such-feature')
        assert "this kernel has no feature 'no-such-feature'" in err.value.msg
        with pytest.raises(NoSuchObject) as err:
            et.feature(9, 'tx-checksum-ip-generic')
        assert err.value.msg == 'reading the name of link 9: No such device (errno 19)'
