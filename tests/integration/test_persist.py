# -*- coding: utf-8 -*-
"""persist of cni_bridge and cni_vxlan on the real kernel: the networkd files parsed back equal the kernel objects.

The module runs inside the test's ``cnt-`` namespace (``ip netns exec``,
no ``netns`` argument: networkd persists only the node's own namespace),
with ``persist=true`` and ``persist_root`` a temporary directory holding a
stand-in ``usr/lib/systemd/systemd-networkd`` (the host's /etc is never
written). Drift of the files (an edit by hand, a removed file) is reported
exactly, in check mode without a change, then repaired; state=absent
removes them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

import pytest

from conftest import run_module, sh

from ansible_collections.cni.node.plugins.module_utils import _networkd


def in_ns(netns):
    return ('ip', 'netns', 'exec', netns)


@pytest.fixture
def root(tmp_path):
    path = tmp_path / 'root'
    (path / 'usr/lib/systemd').mkdir(parents=True)
    (path / 'usr/lib/systemd/systemd-networkd').write_text(u'')
    return str(path)


def doc(root, name, kind):
    path = os.path.join(root, _networkd.file_names(name)[kind])
    with open(path) as f:
        return _networkd.parse(f.read()), os.stat(path).st_mode & 0o777


def values(sections, section, key):
    return [v for name, items in sections if name == section for k, v in items if k == key]


def entries(sections, section):
    return sorted(tuple(items) for name, items in sections if name == section)


def ipj(netns, *argv):
    out = sh('ip', '-n', netns, '-j', *argv)
    return json.loads(out) if out.strip() else []


def drift_cycle(module, args, netns, expect, files_before, root):
    """Check mode reports exactly ``expect`` and changes no file; the real run the same; then nothing."""
    check = module(args['_module'], _args(args), check=True, prefix=in_ns(netns))
    assert 'failed' not in check, check
    assert [d['path'] for d in check['drift']] == expect, check['drift']
    assert snapshot(root) == files_before, 'check mode changed a file'
    real = module(args['_module'], _args(args), prefix=in_ns(netns))
    assert [d['path'] for d in real['drift']] == expect and real['drift'] == check['drift'], real
    again = module(args['_module'], _args(args), prefix=in_ns(netns))
    assert again['changed'] is False and again['drift'] == [], again


def _args(args):
    return dict((k, v) for k, v in args.items() if k != '_module')


def snapshot(root):
    out = {}
    for d, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[p] = os.readlink(p) if os.path.islink(p) else open(p).read()
    return out


def test_bridge_files_equal_the_kernel_drift_exact_absent(netns, root):
    name = 'cnp-br'
    args = dict(_module='cni_bridge', name=name, mtu=1400, addresses=['10.244.1.1/24', 'fd00:10:244:1::1/64'],
                mac='02:42:0a:f4:01:01', stp=False, persist=True, persist_root=root)
    first = run_module('cni_bridge', _args(args), prefix=in_ns(netns))
    assert first['changed'] and 'failed' not in first, first
    assert first['persist']['active'] is True and len(first['persist']['files']) == 3
    netdev, mode = doc(root, name, 'netdev')
    network, mode2 = doc(root, name, 'network')
    assert mode == mode2 == 0o644
    link = ipj(netns, '-d', 'link', 'show', 'dev', name)[0]
    addrs = ipj(netns, 'addr', 'show', 'dev', name)[0]['addr_info']
    assert values(netdev, 'NetDev', 'Kind') == [link['linkinfo']['info_kind']] == ['bridge']
    assert values(netdev, 'NetDev', 'MACAddress') == [link['address']]
    assert values(netdev, 'Bridge', 'STP') == ['no'] and link['linkinfo']['info_data']['stp_state'] == 0
    assert values(network, 'Link', 'MTUBytes') == [str(link['mtu'])]
    assert sorted(values(network, 'Network', 'Address')) == sorted(
        '%s/%s' % (a['local'], a['prefixlen']) for a in addrs if not a['local'].startswith('fe80:'))
    assert run_module('cni_bridge', _args(args), prefix=in_ns(netns))['changed'] is False

    # A file edited by hand, then one removed: exactly that file's drift.
    path = os.path.join(root, _networkd.file_names(name)['network'])
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text.replace('Address=10.244.1.1/24', 'Address=10.9.9.9/24'))
    drift_cycle(run_module, args, netns, ['persist/%s/network' % name], snapshot(root), root)
    assert open(path).read() == text
    os.unlink(os.path.join(root, _networkd.file_names(name)['netdev']))
    drift_cycle(run_module, args, netns, ['persist/%s/netdev' % name], snapshot(root), root)

    # persist=false: no file is reported or removed.
    quiet = run_module('cni_bridge', dict(_args(args), persist=False), prefix=in_ns(netns))
    assert quiet['changed'] is False and quiet['persist']['active'] is False

    gone = dict(args, state='absent')
    drift_cycle(run_module, gone, netns, ['link/%s' % name, 'persist/%s/netdev' % name, 'persist/%s/network' % name,
                                          'persist/networkd.conf'], snapshot(root), root)
    assert os.listdir(os.path.join(root, 'etc/systemd/network')) == []


@pytest.fixture
def node(netns):
    sh('ip', '-n', netns, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1')
    sh('ip', '-n', netns, 'addr', 'add', '192.0.2.1/24', 'dev', 'u0')
    sh('ip', '-n', netns, 'link', 'set', 'u0', 'up')
    sh('ip', '-n', netns, 'link', 'set', 'u1', 'up')
    deadline = time.time() + 5
    while 'NO-CARRIER' in sh('ip', '-n', netns, '-o', 'link', 'show', 'u0'):
        assert time.time() < deadline
        time.sleep(0.02)
    return netns


PEERS = [dict(remote='192.0.2.2', subnet='10.244.2.0/24'), dict(remote='198.51.100.3', subnet='10.244.3.0/24'),
         dict(remote='198.51.100.4', subnet='10.244.4.0/24', vtep_mac='02:00:00:00:04:04')]


def test_vxlan_files_equal_the_kernel_entries_drift_exact_absent(node, root):
    netns = node
    name = 'cnp-vx'
    args = dict(_module='cni_vxlan', name=name, vni=42, dev='u0', addresses=['10.244.1.0/32'], peers=PEERS,
                purge_peers=True, persist=True, persist_root=root)
    first = run_module('cni_vxlan', _args(args), prefix=in_ns(netns))
    assert first['changed'] and 'failed' not in first, first
    netdev, _mode = doc(root, name, 'netdev')
    network, _mode = doc(root, name, 'network')
    link = ipj(netns, '-d', 'link', 'show', 'dev', name)[0]
    data = link['linkinfo']['info_data']
    assert values(netdev, 'VXLAN', 'VNI') == [str(data['id'])]
    assert values(netdev, 'VXLAN', 'Local') == [data['local']]
    assert values(netdev, 'VXLAN', 'DestinationPort') == [str(data['port'])]
    assert values(netdev, 'VXLAN', 'MacLearning') == ['no'] and not data['learning']
    assert values(netdev, 'NetDev', 'MACAddress') == [link['address']]
    assert values(netdev, 'NetDev', 'MTUBytes') == [str(link['mtu'])]
    fdb = json.loads(sh('bridge', '-n', netns, '-j', 'fdb', 'show', 'dev', name))
    assert entries(network, 'BridgeFDB') == sorted(
        (('MACAddress', f['mac']), ('Destination', f['dst'])) for f in fdb if 'permanent' in f.get('state', ''))
    neigh = ipj(netns, 'neigh', 'show', 'dev', name, 'nud', 'permanent')
    assert entries(network, 'Neighbor') == sorted(
        (('Address', n['dst']), ('LinkLayerAddress', n['lladdr'])) for n in neigh)
    routes = ipj(netns, 'route', 'show', 'proto', '152')
    assert entries(network, 'Route') == sorted(
        (('Destination', r['dst']), ('Gateway', r['gateway']), ('GatewayOnLink', 'yes'), ('Protocol', '152'))
        for r in routes if r['dev'] == name)
    assert len(entries(network, 'Route')) == 3
    # The boot unit binds the device to its underlay, as the kernel has it.
    unit_path, wants = _networkd.unit_names(name)
    with open(os.path.join(root, unit_path)) as f:
        unit = _networkd.parse(f.read())
    assert ('dev %s ' % data['link']) in values(unit, 'Service', 'ExecStart')[0]
    assert os.readlink(os.path.join(root, wants)) == '/' + unit_path
    assert run_module('cni_vxlan', _args(args), prefix=in_ns(netns))['changed'] is False

    # A peer's FDB entry deleted from the file by hand: only the file drifts (the kernel has it).
    path = os.path.join(root, _networkd.file_names(name)['network'])
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text.replace('[BridgeFDB]\nMACAddress=02:00:00:00:04:04\nDestination=198.51.100.4\n', ''))
    drift_cycle(run_module, args, netns, ['persist/%s/network' % name], snapshot(root), root)
    os.unlink(os.path.join(root, wants))
    drift_cycle(run_module, args, netns, ['persist/%s/wants' % name], snapshot(root), root)
    # One peer fewer: the kernel entries and the file change together.
    fewer = dict(args, peers=PEERS[:2])
    drift_cycle(run_module, fewer, netns, [
        'vxlan/%s/routes/10.244.4.0/24' % name, 'vxlan/%s/neighbours/10.244.4.0' % name,
        'vxlan/%s/fdb/02:00:00:00:04:04/198.51.100.4' % name, 'persist/%s/network' % name], snapshot(root), root)
    network, _mode = doc(root, name, 'network')
    assert len(entries(network, 'Route')) == 2

    gone = dict(_module='cni_vxlan', name=name, state='absent', persist=True, persist_root=root)
    drift_cycle(run_module, gone, netns, [
        'vxlan/%s' % name, 'persist/%s/netdev' % name, 'persist/%s/network' % name, 'persist/%s/unit' % name,
        'persist/%s/wants' % name, 'persist/networkd.conf'], snapshot(root), root)
    assert [p for p in snapshot(root) if 'cni-node' in p] == []
