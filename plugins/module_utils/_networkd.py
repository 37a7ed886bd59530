# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd-networkd files of cni_bridge and cni_vxlan: rendered from the wanted state, parsed back.

A document is a list of sections ``(name, [(key, value), ...])``, in file
order; a section name and a key may repeat (``[BridgeFDB]`` once per entry,
``Address=`` once per address), as systemd's unit file syntax allows.
``render`` writes one, ``parse`` reads one back (comments, blank lines and
whitespace around ``=`` ignored, as systemd does), ``canonical`` gives the
form drift is told in: one string per section, ``[Section] Key=Value ...``.

``bridge_files`` and ``vxlan_files`` build the documents for a module's
wanted state: what the module programs in the kernel, nothing else (see
docs/persistence.md for each key and why). ``vxlan_unit`` is the boot unit
that creates a VXLAN device bound to its underlay link before networkd
starts (networkd can bind a VXLAN device only to a link it manages itself).

Pure Python: no Ansible, no pyroute2, no file access.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

HEADER = (u'# Written by cni.node (%s); the next run of the module replaces it.\n'
          u'# Remove it with state=absent or the cni.node.teardown playbook.\n')
NETWORK_DIR = u'etc/systemd/network'
UNIT_DIR = u'etc/systemd/system'
CONF_DROPIN = u'etc/systemd/networkd.conf.d/cni-node.conf'
ZERO_MAC = u'00:00:00:00:00:00'


def file_names(name):
    """Paths, relative to the root, of the files of link ``name``: {kind: path}."""
    base = u'%s/50-cni-node-%s' % (NETWORK_DIR, name)
    return dict(netdev=base + u'.netdev', network=base + u'.network')


def unit_names(name):
    """(unit path, wants link path) of the VXLAN boot unit of ``name``, relative to the root."""
    unit = u'cni-node-vxlan-%s.service' % name
    return (u'%s/%s' % (UNIT_DIR, unit), u'%s/systemd-networkd.service.wants/%s' % (UNIT_DIR, unit))


def render(doc, module):
    """Text of document ``doc`` (see the module docstring), with the header naming ``module``."""
    out = [HEADER % module]
    for section, items in doc:
        out.append(u'\n[%s]\n' % section)
        for key, value in items:
            out.append(u'%s=%s\n' % (key, value))
    return u''.join(out)


def parse(text):
    """Document of ``text`` (None stays None). Lines outside a section are kept under section ''."""
    if text is None:
        return None
    doc = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in '#;':
            continue
        if line.startswith('[') and line.endswith(']'):
            current = (line[1:-1].strip(), [])
            doc.append(current)
            continue
        key, sep, value = line.partition('=')
        if current is None:
            current = (u'', [])
            doc.append(current)
        current[1].append((key.strip(), value.strip() if sep else None))
    return doc


def canonical(text):
    """Drift form of ``text``: one string per section, ``[Section] Key=Value ...`` (None when absent)."""
    doc = parse(text)
    if doc is None:
        return None
    return [u' '.join([u'[%s]' % section] + [k if v is None else u'%s=%s' % (k, v) for k, v in items])
            for section, items in doc]


def _yes(flag):
    return u'yes' if flag else u'no'


def _match(name):
    """[Match] of one link by its name: networkd touches no other link through this file."""
    return [(u'Match', [(u'Name', name)])]


def _network_keys():
    # Configured with or without a port/peer up (a bridge without ports
    # has no carrier); no DHCP, no router advertisements taken; on a
    # restart of networkd, addresses and routes already there are kept.
    return [(u'ConfigureWithoutCarrier', u'yes'), (u'IgnoreCarrierLoss', u'yes'), (u'DHCP', u'no'),
            (u'IPv6AcceptRA', u'no'), (u'KeepConfiguration', u'static')]


def bridge_files(spec):
    """{'netdev': doc, 'network': doc} of a cni_bridge ``spec`` (state present)."""
    netdev_keys = [(u'Name', spec.name), (u'Kind', u'bridge')]
    if spec.mac is not None:
        netdev_keys.append((u'MACAddress', spec.mac))
    netdev = [(u'NetDev', netdev_keys)]
    bridge = []
    if spec.stp is not None:
        bridge.append((u'STP', _yes(spec.stp)))
    if spec.vlan_filtering is not None:
        bridge.append((u'VLANFiltering', _yes(spec.vlan_filtering)))
    if bridge:
        netdev.append((u'Bridge', bridge))
    link = [(u'RequiredForOnline', u'no'), (u'ActivationPolicy', u'up' if spec.up else u'down')]
    if spec.mtu is not None:
        # In [Link], not [NetDev]: networkd sets it after creating the
        # bridge, a real change, so the kernel keeps it when ports come and
        # go (see _bridge.detour_mtu); MTUBytes= of [NetDev] goes into the
        # create request, which the kernel does not count as set by the user.
        link.insert(0, (u'MTUBytes', str(spec.mtu)))
    network = _match(spec.name) + [(u'Link', link)]
    keys = _network_keys()
    # The kernel gives a bridge its IPv6 link-local address itself; so
    # does networkd's default (LinkLocalAddressing=ipv6): left as is.
    keys.extend((u'Address', cidr) for cidr in (spec.addresses or ()))
    network.append((u'Network', keys))
    return dict(netdev=netdev, network=network)


def vxlan_files(spec, want, protocol):
    """({'netdev': doc, 'network': doc}, notes) of a cni_vxlan ``spec`` and its ``want`` (``_vxlan.Desired``).

    Routes get ``Protocol=protocol`` (the module's own, so it knows them
    again after a boot). ``notes`` lists what networkd cannot hold (direct
    routes through the underlay link, a checksum offload setting): the next
    run of the module puts those back.
    """
    underlay = want.underlay
    netdev = [
        (u'NetDev', [(u'Name', spec.name), (u'Kind', u'vxlan'), (u'MTUBytes', str(want.mtu)),
                     (u'MACAddress', want.mac)]),
    ]
    vx = [(u'VNI', str(spec.vni)), (u'Local', underlay.local.compressed), (u'DestinationPort', str(spec.port)),
          (u'MacLearning', _yes(spec.learning))]
    if spec.gbp:
        vx.append((u'GroupPolicyExtension', u'yes'))
    # Created by networkd itself, not stacked on a link's .network (which
    # would make networkd manage the underlay); a binding to ``dev`` is the
    # boot unit's (vxlan_unit), which runs first.
    vx.append((u'Independent', u'yes'))
    netdev.append((u'VXLAN', vx))
    network = _match(spec.name) + [(u'Link', [(u'RequiredForOnline', u'no')])]
    keys = _network_keys()
    # The module's device has no addresses but the listed ones; its IPv6
    # link-local one, which the kernel would add, is ignored by the module
    # either way, and networkd adds none.
    keys.append((u'LinkLocalAddressing', u'no'))
    if spec.master is not None:
        keys.append((u'Bridge', spec.master))
    keys.extend((u'Address', cidr) for cidr in (spec.addresses or ()))
    network.append((u'Network', keys))
    notes = []
    if want.peers is not None:
        for mac, remote in sorted(want.fdb):
            network.append((u'BridgeFDB', [(u'MACAddress', mac), (u'Destination', remote)]))
        for ip, mac in sorted(want.neighbours.items()):
            network.append((u'Neighbor', [(u'Address', ip), (u'LinkLayerAddress', mac)]))
        for dst, route in sorted(want.routes.items()):
            if route['dev'] != spec.name:
                notes.append(u'route %s via %s dev %s (direct routing: networkd cannot put a route on a link it '
                             u'does not manage)' % (dst, route['gateway'], route['dev']))
                continue
            items = [(u'Destination', dst), (u'Gateway', route['gateway'])]
            if route['onlink']:
                items.append((u'GatewayOnLink', u'yes'))
            items.append((u'Protocol', str(protocol)))
            network.append((u'Route', items))
    if want.tx_checksum is not None:
        notes.append(u'tx_checksum_offload %s (an offload of a link is udev\'s, not networkd\'s)' % want.tx_checksum)
    return dict(netdev=netdev, network=network), notes


def vxlan_unit(spec, want):
    """Document of the boot unit creating ``spec.name`` bound to ``spec.dev``, or None without ``dev``.

    It runs before systemd-networkd (linked into its ``.wants``), so
    networkd finds the device there ("netdev exists, using existing") and
    only configures it from the .network file. Skipped when the device
    exists already; when it fails (no underlay link yet), networkd creates
    the device from the .netdev file unbound, and the next run of the
    module reports the ``dev`` drift.
    """
    if spec.dev is None:
        return None
    cmd = [u'ip', u'link', u'add', spec.name, u'address', want.mac, u'mtu', str(want.mtu), u'type', u'vxlan',
           u'id', str(spec.vni), u'local', want.underlay.local.compressed, u'dstport', str(spec.port),
           u'dev', spec.dev, u'learning' if spec.learning else u'nolearning']
    if spec.gbp:
        cmd.append(u'gbp')
    return [
        (u'Unit', [(u'Description', u'cni.node: VXLAN device %s on %s' % (spec.name, spec.dev)),
                   (u'DefaultDependencies', u'no'),
                   (u'After', u'local-fs.target'),
                   (u'Before', u'systemd-networkd.service network-pre.target shutdown.target'),
                   (u'Wants', u'network-pre.target'),
                   (u'Conflicts', u'shutdown.target'),
                   (u'ConditionPathExists', u'!/sys/class/net/%s' % spec.name)]),
        (u'Service', [(u'Type', u'oneshot'), (u'RemainAfterExit', u'yes'), (u'ExecStart', u' '.join(cmd))]),
    ]


def networkd_conf():
    """The networkd.conf drop-in: networkd leaves routes and rules it did not configure alone."""
    return [(u'Network', [(u'ManageForeignRoutes', u'no'), (u'ManageForeignRoutingPolicyRules', u'no')])]
