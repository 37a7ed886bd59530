# -*- coding: utf-8 -*-
"""The bulk rtnetlink codec: requests encoded and decoded again, attribute parsing (no kernel needed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import struct

from ansible_collections.cni.node.plugins.module_utils import _rtnl


def test_rtnl_route_request_decodes_to_what_was_asked():
    msg_type, flags, body = _rtnl.route(True, '10.244.2.0/24', 7, gateway='10.244.2.0', onlink=True, proto=152)
    assert msg_type == _rtnl.RTM_NEWROUTE and flags & _rtnl.NLM_F_CREATE and flags & _rtnl.NLM_F_EXCL
    assert _rtnl.route_dict(body, 0) == dict(family=4, dst='10.244.2.0/24', gateway='10.244.2.0', oif=7,
                                             table=254, proto=152, scope=0, type=1, onlink=True, priority=None)
    _t, flags, body = _rtnl.route(True, 'fd00:2::/64', 7, gateway='fd00:2::', replace=True)
    assert flags & _rtnl.NLM_F_REPLACE and not flags & _rtnl.NLM_F_EXCL
    assert _rtnl.route_dict(body, 0)['dst'] == 'fd00:2::/64'
    msg_type, _f, body = _rtnl.route(False, '10.244.2.0/24', 7, proto=152)
    assert msg_type == _rtnl.RTM_DELROUTE and _rtnl.route_dict(body, 0)['scope'] == 255


def test_rtnl_neighbour_and_fdb_requests_decode():
    _t, _f, body = _rtnl.neigh(True, 5, '10.244.3.0', '0e:04:c6:33:64:03')
    assert _rtnl.neigh_dict(body, 0) == dict(index=5, family=4, dst='10.244.3.0', lladdr='0e:04:c6:33:64:03',
                                             state=0x80, permanent=True, flags=0)
    msg_type, flags, body = _rtnl.fdb(True, 5, '00:00:00:00:00:00', '192.0.2.2', append=True)
    assert msg_type == _rtnl.RTM_NEWNEIGH and flags & _rtnl.NLM_F_APPEND
    assert _rtnl.fdb_dict(body, 0) == dict(index=5, lladdr='00:00:00:00:00:00', dst='192.0.2.2', state=0xc0,
                                           permanent=True, self=True, master=None)


def test_rtnl_attributes_are_padded_and_skipped_safely():
    attr = _rtnl._attr(1, b'\x01\x02\x03')
    assert len(attr) == 8 and struct.unpack('=HH', attr[:4]) == (7, 1)
    # A truncated attribute header ends the parse instead of looping.
    assert _rtnl._attrs(b'\x00\x00\x01\x00', 0) == {}
    assert _rtnl._ip_text(socket.inet_pton(socket.AF_INET6, 'fd00::1')) == 'fd00::1'
