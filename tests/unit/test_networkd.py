# -*- coding: utf-8 -*-
"""_networkd and _persist: the files of persist rendered, parsed back, their drift, the decision auto/true/false."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os

import pytest

from ansible_collections.cni.node.plugins.module_utils import _bridge, _networkd, _persist, _vxlanpeers
from ansible_collections.cni.node.plugins.module_utils._errors import NotSupported, ParameterError
from ansible_collections.cni.node.plugins.module_utils._result import Changes


def test_render_parse_round_trip_keeps_repeated_sections_and_keys():
    doc = [('Match', [('Name', 'vx0')]),
           ('Network', [('Address', '10.0.0.1/32'), ('Address', 'fd00::1/128')]),
           ('BridgeFDB', [('MACAddress', '00:00:00:00:00:00'), ('Destination', '192.0.2.2')]),
           ('BridgeFDB', [('MACAddress', '00:00:00:00:00:00'), ('Destination', '192.0.2.3')])]
    text = _networkd.render(doc, 'cni_vxlan')
    assert text.startswith('# Written by cni.node (cni_vxlan)')
    assert _networkd.parse(text) == doc


def test_parse_ignores_comments_blank_lines_and_spaces_like_systemd():
    text = '; a\n# b\n\n[Match]\n  Name = cni0 \n[Network]\nAddress=10.1.0.1/24\nNoValue\n'
    assert _networkd.parse(text) == [('Match', [('Name', 'cni0')]),
                                     ('Network', [('Address', '10.1.0.1/24'), ('NoValue', None)])]
    assert _networkd.canonical(text) == ['[Match] Name=cni0', '[Network] Address=10.1.0.1/24 NoValue']
    assert _networkd.parse(None) is None and _networkd.canonical(None) is None
    # Lines before any section are kept (and so reported), not dropped.
    assert _networkd.parse('Stray=1\n') == [('', [('Stray', '1')])]


def test_a_comment_is_no_drift_a_value_is():
    doc = [('Match', [('Name', 'cni0')])]
    one = _networkd.render(doc, 'cni_bridge')
    assert _networkd.canonical(one + '# mine\n') == _networkd.canonical(one)
    assert _networkd.canonical(one.replace('cni0', 'cni1')) != _networkd.canonical(one)


def test_bridge_files_hold_what_the_module_manages_and_nothing_else():
    spec = _bridge.Spec('cni0', mtu=1450, addresses=['10.244.1.1/24', 'fd00::1/64'], mac='02:42:0a:f4:01:01',
                        stp=False, vlan_filtering=True)
    files = _networkd.bridge_files(spec)
    assert files['netdev'] == [('NetDev', [('Name', 'cni0'), ('Kind', 'bridge'), ('MACAddress', '02:42:0a:f4:01:01')]),
                               ('Bridge', [('STP', 'no'), ('VLANFiltering', 'yes')])]
    network = dict(files['network'])
    assert network['Match'] == [('Name', 'cni0')]
    # The MTU is set after creation (the kernel then keeps it when ports come and go).
    assert network['Link'] == [('MTUBytes', '1450'), ('RequiredForOnline', 'no'), ('ActivationPolicy', 'up')]
    keys = network['Network']
    assert [v for k, v in keys if k == 'Address'] == sorted(spec.addresses)
    assert ('KeepConfiguration', 'static') in keys and ('IPv6AcceptRA', 'no') in keys
    # Left out: not managed, not written.
    bare = _networkd.bridge_files(_bridge.Spec('br1', up=False))
    assert bare['netdev'] == [('NetDev', [('Name', 'br1'), ('Kind', 'bridge')])]
    assert dict(bare['network'])['Link'] == [('RequiredForOnline', 'no'), ('ActivationPolicy', 'down')]
    assert [k for k, _v in dict(bare['network'])['Network'] if k == 'Address'] == []


class _Spec(object):
    name = 'vx0'
    vni = 42
    port = 4789
    learning = False
    gbp = False
    master = None
    addresses = ['10.244.1.0/32']
    dev = 'eth0'
    l2_mode = False
    direct_routing = True


class _Underlay(object):
    local = ipaddress.ip_address('192.0.2.1')
    network = ipaddress.ip_network('192.0.2.0/24')
    link = dict(name='eth0', index=2, mtu=1500)
    family = 'ipv4'


class _Want(_vxlanpeers.Entries):
    def __init__(self, spec, peers, tx=None):
        self.underlay = _Underlay()
        self.mtu = 1450
        self.mac = '0e:04:c0:00:02:01'
        self.tx_checksum = tx
        checked = _vxlanpeers.check_peers(peers, self.underlay.local, spec.l2_mode)
        super(_Want, self).__init__(spec, self.underlay, checked)


PEERS = [dict(remote='192.0.2.2', subnet='10.244.2.0/24'), dict(remote='198.51.100.3', subnet='10.244.3.0/24')]


def test_vxlan_files_match_the_kernel_entries_and_name_what_networkd_cannot_hold():
    spec = _Spec()
    want = _Want(spec, PEERS, tx='off')
    files, notes = _networkd.vxlan_files(spec, want, 152)
    netdev = dict(files['netdev'])
    assert netdev['NetDev'] == [('Name', 'vx0'), ('Kind', 'vxlan'), ('MTUBytes', '1450'),
                                ('MACAddress', '0e:04:c0:00:02:01')]
    assert netdev['VXLAN'] == [('VNI', '42'), ('Local', '192.0.2.1'), ('DestinationPort', '4789'),
                               ('MacLearning', 'no'), ('Independent', 'yes')]
    sections = files['network']
    fdb = [dict(items) for name, items in sections if name == 'BridgeFDB']
    neigh = [dict(items) for name, items in sections if name == 'Neighbor']
    routes = [dict(items) for name, items in sections if name == 'Route']
    # 192.0.2.2 is on the underlay subnet: a direct route via eth0, not in the file (a note instead).
    assert fdb == [dict(MACAddress=mac, Destination=remote) for mac, remote in sorted(want.fdb)]
    assert neigh == [dict(Address='10.244.3.0', LinkLayerAddress=_mac('198.51.100.3'))]
    assert routes == [dict(Destination='10.244.3.0/24', Gateway='10.244.3.0', GatewayOnLink='yes', Protocol='152')]
    assert len(notes) == 2 and 'direct routing' in notes[0] and 'tx_checksum_offload off' in notes[1]


def _mac(remote):
    from ansible_collections.cni.node.plugins.module_utils import _overlay
    return _overlay.vtep_mac(ipaddress.ip_address(remote))


def test_vxlan_l2_flood_entries_and_master():
    spec = _Spec()
    spec.master, spec.l2_mode, spec.direct_routing, spec.dev = 'br0', True, False, None
    want = _Want(spec, [dict(remote='192.0.2.2'), dict(remote='192.0.2.3')])
    files, notes = _networkd.vxlan_files(spec, want, 152)
    assert ('Bridge', 'br0') in dict(files['network'])['Network']
    assert [dict(i) for n, i in files['network'] if n == 'BridgeFDB'] == [
        dict(MACAddress='00:00:00:00:00:00', Destination='192.0.2.2'),
        dict(MACAddress='00:00:00:00:00:00', Destination='192.0.2.3')]
    assert notes == [] and _networkd.vxlan_unit(spec, want) is None


def test_vxlan_unit_creates_the_bound_device_before_networkd():
    spec = _Spec()
    unit = dict(_networkd.vxlan_unit(spec, _Want(spec, None)))
    assert ('ExecStart', 'ip link add vx0 address 0e:04:c0:00:02:01 mtu 1450 type vxlan id 42 local 192.0.2.1 '
                         'dstport 4789 dev eth0 nolearning') in unit['Service']
    assert ('Before', 'systemd-networkd.service network-pre.target shutdown.target') in unit['Unit']
    assert ('ConditionPathExists', '!/sys/class/net/vx0') in unit['Unit']


@pytest.mark.parametrize('value, want', [(None, 'auto'), ('auto', 'auto'), (True, True), ('yes', True),
                                         ('True', True), (False, False), ('no', False), ('off', False)])
def test_persist_values(value, want):
    assert _persist.check_mode_value(value) == want


def test_persist_bad_value_and_root_name_the_parameter():
    with pytest.raises(ParameterError) as exc:
        _persist.check_mode_value('sometimes')
    assert exc.value.param == 'persist' and 'auto, true or false' in exc.value.msg
    with pytest.raises(ParameterError) as exc:
        _persist.check_root('relative/dir')
    assert exc.value.param == 'persist_root'


def _root(tmp_path, networkd=True):
    root = tmp_path / 'root'
    (root / 'usr/lib/systemd').mkdir(parents=True)
    if networkd:
        (root / 'usr/lib/systemd/systemd-networkd').write_text(u'')
    return str(root)


def test_decide(tmp_path):
    booted = str(tmp_path / 'booted')
    root = _root(tmp_path)
    assert _persist.decide(False, root, booted=booted)[0] is False
    active, reason = _persist.decide('auto', root, booted=booted)
    assert active is False and 'did not boot systemd' in reason
    os.mkdir(booted)
    assert _persist.decide('auto', root, booted=booted)[0] is True
    assert _persist.decide(True, root, booted=booted)[0] is True
    active, reason = _persist.decide('auto', root, netns='lab', booted=booted)
    assert active is False and 'network namespace lab' in reason
    with pytest.raises(ParameterError):
        _persist.decide(True, root, netns='lab', booted=booted)
    bare = _root(tmp_path / 'x', networkd=False)
    assert _persist.decide('auto', bare, booted=booted) == (False, 'skipped (persist=auto): systemd-networkd is '
                                                                   'not installed')
    with pytest.raises(NotSupported) as exc:
        _persist.decide(True, bare, booted=booted)
    assert exc.value.param == 'persist' and 'systemd-networkd is not installed' in exc.value.msg


def _run(files, spec):
    changes = Changes()
    files.plan(changes, _persist.bridge_items(spec))
    if changes.changed:
        files.prepare()
        files.commit()
    return changes


def test_files_written_0644_idempotent_drift_exact_and_removed(tmp_path):
    root = _root(tmp_path)
    spec = _bridge.Spec('cni0', mtu=1450, addresses=['10.244.1.1/24'])
    changes = _run(_persist.Files('cni0', True, root), spec)
    assert [d['path'] for d in changes.drift] == ['persist/cni0/netdev', 'persist/cni0/network',
                                                  'persist/networkd.conf']
    network = os.path.join(root, 'etc/systemd/network/50-cni-node-cni0.network')
    assert os.stat(network).st_mode & 0o777 == 0o644
    assert _run(_persist.Files('cni0', True, root), spec).drift == []
    # An edit by hand: exactly that file drifts, before/after its sections.
    with open(network) as f:
        text = f.read()
    with open(network, 'w') as f:
        f.write(text.replace('MTUBytes=1450', 'MTUBytes=9000'))
    check = Changes()
    files = _persist.Files('cni0', True, root)
    files.plan(check, _persist.bridge_items(spec))
    assert [d['path'] for d in check.drift] == ['persist/cni0/network']
    assert '[Link] MTUBytes=9000 RequiredForOnline=no ActivationPolicy=up' in check.drift[0]['before']
    assert '[Link] MTUBytes=1450 RequiredForOnline=no ActivationPolicy=up' in check.drift[0]['after']
    files.prepare()
    files.commit()
    assert open(network).read() == text
    # Another link's files keep the shared drop-in; the last one takes it.
    other = _bridge.Spec('cni1')
    _run(_persist.Files('cni1', True, root), other)
    gone = _run(_persist.Files('cni0', True, root), _bridge.Spec('cni0', state='absent'))
    assert [d['path'] for d in gone.drift] == ['persist/cni0/netdev', 'persist/cni0/network']
    last = _run(_persist.Files('cni1', True, root), _bridge.Spec('cni1', state='absent'))
    assert [d['path'] for d in last.drift] == ['persist/cni1/netdev', 'persist/cni1/network',
                                               'persist/networkd.conf']
    assert os.listdir(os.path.join(root, 'etc/systemd/network')) == []
    assert not os.path.exists(os.path.join(root, _networkd.CONF_DROPIN))


def test_false_writes_and_reports_nothing(tmp_path):
    root = _root(tmp_path)
    files = _persist.Files('cni0', False, root)
    assert _run(files, _bridge.Spec('cni0')).drift == []
    assert not os.path.exists(os.path.join(root, 'etc')) and files.result()['active'] is False


def test_vxlan_unit_link_replaced_and_removed(tmp_path):
    root = _root(tmp_path)
    spec = _Spec()
    spec.state = 'present'
    want = _Want(spec, PEERS)
    changes = Changes()
    files = _persist.Files('vx0', True, root)
    files.plan(changes, *_persist.vxlan_items(spec, want, 152))
    files.prepare()
    files.commit()
    link = os.path.join(root, 'etc/systemd/system/systemd-networkd.service.wants/cni-node-vxlan-vx0.service')
    assert os.readlink(link) == '/etc/systemd/system/cni-node-vxlan-vx0.service'
    assert 'persist/vx0/wants' in [d['path'] for d in changes.drift]
    spec.dev = None   # unbound now: unit and link go
    changes = Changes()
    files = _persist.Files('vx0', True, root)
    files.plan(changes, *_persist.vxlan_items(spec, want, 152))
    assert sorted(d['path'] for d in changes.drift) == ['persist/vx0/unit', 'persist/vx0/wants']
    files.prepare()
    files.commit()
    assert not os.path.lexists(link)
