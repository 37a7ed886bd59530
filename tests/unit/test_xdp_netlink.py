# -*- coding: utf-8 -*-
"""The netlink adapter's XDP reading (``_rtnl.link_dict`` then ``xdp_dict``) on RTM_NEWLINK messages as the kernel
encodes them (linux/if_link.h: IFLA_XDP nested, IFLA_XDP_ATTACHED a u8, the program ids u32)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

import pytest

from ansible_collections.cni.node.plugins.module_utils import _netlink, _rtnl

ATTR = {'attached': (_rtnl.IFLA_XDP_ATTACHED, '=B'), 'prog': (_rtnl.IFLA_XDP_PROG_ID, '=I'),
        'drv': (_rtnl.IFLA_XDP_DRV_PROG_ID, '=I'), 'skb': (_rtnl.IFLA_XDP_SKB_PROG_ID, '=I'),
        'hw': (_rtnl.IFLA_XDP_HW_PROG_ID, '=I')}


def link(xdp_attrs):
    """A decoded RTM_NEWLINK of eth0 (index 3) with IFLA_XDP holding ``xdp_attrs`` (None: no IFLA_XDP)."""
    body = struct.pack('=BxHiII', 0, 1, 3, 0x1043, 0) + _rtnl._attr(_rtnl.IFLA_IFNAME, b'eth0\0')  # pylint: disable=protected-access
    if xdp_attrs is not None:
        nested = b''.join(_rtnl._attr(ATTR[k][0], struct.pack(ATTR[k][1], v))  # pylint: disable=protected-access
                          for k, v in xdp_attrs)
        body += _rtnl._attr(_rtnl.IFLA_XDP | 0x8000, nested)  # pylint: disable=protected-access
    out = _rtnl.link_dict(body, 0)
    assert out['name'] == 'eth0' and out['index'] == 3 and out['up'] is True
    return out


def test_a_generic_program():
    msg = link([('skb', 102), ('attached', 2), ('prog', 102)])
    assert _netlink.xdp_dict(msg) == dict(index=3, mode='generic', id=102, ids={'generic': 102})


def test_a_native_program_without_the_per_mode_id():
    msg = link([('attached', 1), ('prog', 7)])
    assert _netlink.xdp_dict(msg) == dict(index=3, mode='native', id=7, ids={'native': 7})


@pytest.mark.parametrize('attrs', [None, [], [('attached', 0)]])
def test_no_program(attrs):
    assert _netlink.xdp_dict(link(attrs)) == dict(index=3, mode=None, id=None, ids={})


def test_native_and_offload_at_once_are_multi_with_each_id():
    msg = link([('attached', 4), ('drv', 5), ('hw', 6)])
    out = _netlink.xdp_dict(msg)
    assert out['mode'] == 'multi' and out['ids'] == {'native': 5, 'offload': 6} and out['id'] == 5
