# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for roles: vxlan_mtu, vtep_mac, first_address, host_local_ranges, probe_finding, mask_secrets
(documented in their .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.cni.node.plugins.module_utils import _cniruntime, _ipamaddr, _overlay
from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError

NOT_JSON = '(not valid JSON: left out, since its secrets cannot be masked)'


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


def probe_finding(probe, node, check):
    """A cni.node.diagnose finding (check ping or path_mtu) from one probe of the role's cni_node_diag.py."""
    if check not in ('ping', 'path_mtu') or not isinstance(probe, dict):
        raise AnsibleFilterError('cni.node.probe_finding: a probe dict and check ping or path_mtu, not %r' % (check,))
    subject = '%s -> %s' % (node, probe.get('target'))
    if check == 'ping':
        return dict(check='ping', severity='error', subject=subject,
                    evidence='%d of %d pings from the pod namespace of %s to the one of %s (%s) came back%s'
                    % (probe.get('received', 0), probe.get('sent', 0), node, probe.get('target'), probe.get('address'),
                       ': %s' % probe['error'] if probe.get('error') else ''),
                    fix='read the peers, vxlan_port, forwarding and mtu findings of both nodes; capture the pings '
                        '(-e diagnose_capture=true)')
    largest = probe.get('largest')
    return dict(check='path_mtu', severity='error', subject=subject,
                evidence="don't-fragment pings of %s bytes from %s to %s do not pass; the largest that passes is %s"
                % (probe.get('mtu'), node, probe.get('target'), largest),
                fix='lower the overlay MTU (VXLAN device, bridge, network) to %s or less, or raise the underlay MTU '
                    'on the path' % largest)


def mask_secrets(value):
    """``value`` with the values of secret-looking keys masked, as the invocation log masks them.

    A string is read as JSON first; one that is not JSON cannot be masked, so it is left out (a note instead).
    """
    if isinstance(value, (bytes, str)):
        try:
            value = json.loads(value)
        except ValueError:
            return NOT_JSON
    return _cniruntime.mask(value)


class FilterModule(object):
    """cni.node filters."""

    def filters(self):
        return {
            'vxlan_mtu': vxlan_mtu,
            'vtep_mac': vtep_mac,
            'first_address': first_address,
            'host_local_ranges': host_local_ranges,
            'probe_finding': probe_finding,
            'mask_secrets': mask_secrets,
        }
