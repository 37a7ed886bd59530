# -*- coding: utf-8 -*-
"""The netlink adapter's XDP reading (``xdp_dict``) on messages shaped as pyroute2 0.7.x and 0.9.x decode them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _netlink


class Nla(object):
    """A decoded netlink message or nested attribute: ``get_attr`` and item access, as pyroute2 gives them."""

    def __init__(self, attrs, **fields):
        self.attrs = dict(attrs)
        self.fields = fields

    def get_attr(self, name):
        return self.attrs.get(name)

    def __getitem__(self, key):
        return self.fields[key]


def link(xdp_attrs):
    return Nla({'IFLA_IFNAME': 'eth0', 'IFLA_XDP': Nla(xdp_attrs) if xdp_attrs is not None else None}, index=3)


@pytest.mark.parametrize('attached', ['xdpgeneric', 2])
def test_a_generic_program(attached):
    msg = link([('IFLA_XDP_SKB_PROG_ID', 102), ('IFLA_XDP_ATTACHED', attached), ('IFLA_XDP_PROG_ID', 102)])
    assert _netlink.xdp_dict(msg) == dict(index=3, mode='generic', id=102, ids={'generic': 102})


@pytest.mark.parametrize('attached', ['xdp', 'xdpdrv', 1])
def test_a_native_program_without_the_per_mode_id(attached):
    msg = link([('IFLA_XDP_ATTACHED', attached), ('IFLA_XDP_PROG_ID', 7)])
    assert _netlink.xdp_dict(msg) == dict(index=3, mode='native', id=7, ids={'native': 7})


@pytest.mark.parametrize('attrs', [None, [('IFLA_XDP_ATTACHED', None)], [('IFLA_XDP_ATTACHED', 0)]])
def test_no_program(attrs):
    assert _netlink.xdp_dict(link(attrs)) == dict(index=3, mode=None, id=None, ids={})


def test_native_and_offload_at_once_are_multi_with_each_id():
    msg = link([('IFLA_XDP_ATTACHED', 'xdpmulti'), ('IFLA_XDP_DRV_PROG_ID', 5), ('IFLA_XDP_HW_PROG_ID', 6)])
    out = _netlink.xdp_dict(msg)
    assert out['mode'] == 'multi' and out['ids'] == {'native': 5, 'offload': 6} and out['id'] == 5
