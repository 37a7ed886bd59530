# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for roles: vxlan_mtu, vtep_mac, first_address, host_local_ranges (documented in their .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.cni.node.plugins.module_utils import _ipamaddr, _overlay
from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError


def vxlan_mtu(underlay_mtu, family='ipv4'):
    try:
        return _overlay.vxlan_mtu(underlay_mtu, family)
    except CniNodeError as exc:
        raise AnsibleFilterError('cni.node.vxlan_mtu: %s' % exc)


def vtep_mac(underlay_ip):
    try:
        return _overlay.vtep_mac(underlay_ip)
    except CniNodeError as exc:
        raise AnsibleFilterError('cni.node.vtep_mac: %s' % exc)


def first_address(candidates):
    """The first of ``candidates`` that is an underlay address (as cni_vxlan reads one), as text; '' when none is."""
    if not isinstance(candidates, (list, tuple)):
        candidates = [candidates]
    for candidate in candidates:
        if candidate in (None, ''):
            continue
        try:
            return _overlay.underlay_address(candidate).compressed
        except CniNodeError:
            continue
    return ''


def host_local_ranges(subnets):
    if isinstance(subnets, (list, tuple)):
        items = list(subnets)
    else:
        items = [subnets]
    if not items:
        raise AnsibleFilterError('cni.node.host_local_ranges: no subnet given')
    ranges = []
    for item in items:
        try:
            ranges.append([_ipamaddr.host_local_range(str(item).strip())])
        except ValueError as exc:
            raise AnsibleFilterError('cni.node.host_local_ranges: %r is not a usable subnet: %s' % (item, exc))
    return ranges


class FilterModule(object):
    """cni.node filters."""

    def filters(self):
        return {
            'vxlan_mtu': vxlan_mtu,
            'vtep_mac': vtep_mac,
            'first_address': first_address,
            'host_local_ranges': host_local_ranges,
        }
