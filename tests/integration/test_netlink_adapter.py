# -*- coding: utf-8 -*-
"""The netlink adapter on both pyroute2 generations, and /proc/sys in a namespace.

The venv's interpreter carries pyroute2 0.9.x; Debian's /usr/bin/python3
carries python3-pyroute2 0.7.x (what the lab nodes have). The same probe
runs under both.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from conftest import SYSTEM_PYTHON, sh, unique

PROBE = r'''
import json, sys
from ansible_collections.cni.node.plugins.module_utils import _netlink, _errors
netns, missing, veth = sys.argv[1:4]
out = {'generation': _netlink.api_generation()}
with _netlink.Netlink(netns) as nl:
    links = nl.links()
    out['names'] = sorted(l['name'] for l in links)
    out['lo'] = nl.link('lo')
    out['veth'] = nl.link(veth)
    try:
        nl.call('setting mtu of a missing link', 'link', 'set', index=999999, mtu=1400)
    except _errors.CniNodeError as exc:
        out['error'] = [type(exc).__name__, str(exc)]
try:
    with _netlink.Netlink(missing):
        pass
except _errors.NamespaceNotFound as exc:
    out['missing'] = [exc.param, str(exc)]
print(json.dumps(out))
'''

INTERPRETERS = [
    pytest.param(sys.executable, '0.9', id='pyroute2-0.9-venv'),
    pytest.param(SYSTEM_PYTHON, '0.7', id='pyroute2-0.7-debian'),
]


def run_probe(python, *args):
    env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
    proc = subprocess.run([python, '-c', PROBE] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, cwd='/', check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize('python, generation', INTERPRETERS)
def test_adapter_in_a_namespace(netns, python, generation):
    if not os.path.exists(python):
        pytest.fail('%s is missing: make deps installs python3 and python3-pyroute2' % python)
    veth, peer = unique('cnv'), unique('cnp')
    sh('ip', 'netns', 'exec', netns, 'ip', 'link', 'add', veth, 'mtu', '1400', 'type', 'veth', 'peer', 'name', peer)
    missing = unique()
    out = run_probe(python, netns, missing, veth)
    assert out['generation'] == generation
    assert out['names'] == sorted(['lo', veth, peer])
    assert out['lo']['up'] is False and out['lo']['mtu'] == 65536
    assert out['veth']['kind'] == 'veth' and out['veth']['mtu'] == 1400
    assert out['error'][0] == 'NoSuchObject' and out['error'][1].startswith('setting mtu of a missing link: ')
    assert out['missing'][0] == 'netns' and 'does not exist' in out['missing'][1]
    assert not os.path.exists('/run/netns/' + missing), 'the adapter created a namespace'
    # The host never saw the veth pair.
    assert veth not in sh('ip', '-o', 'link', 'show')


ADDR_PROBE = r'''
import json, sys
from ansible_collections.cni.node.plugins.module_utils import _netlink
with _netlink.Netlink(sys.argv[1]) as nl:
    index = nl.link(sys.argv[2])['index']
    print(json.dumps([a for a in nl.addresses() if a['index'] == index]))
'''


@pytest.mark.parametrize('python, generation', INTERPRETERS)
def test_addresses_carry_their_flags(netns, python, generation):
    """IFA_F_* flags under both pyroute2 generations: permanent 0x80, nodad 0x02, deprecated 0x20,
    tentative 0x40 (no carrier: duplicate address detection cannot finish), IPv4 secondary 0x01."""
    if not os.path.exists(python):
        pytest.fail('%s is missing: make deps installs python3 and python3-pyroute2' % python)
    veth, peer = unique('cnv'), unique('cnp')
    ip = ('ip', 'netns', 'exec', netns, 'ip')
    sh(*ip + ('link', 'add', veth, 'type', 'veth', 'peer', 'name', peer))
    sh(*ip + ('link', 'set', veth, 'up'))
    sh(*ip + ('addr', 'add', '192.0.2.1/24', 'dev', veth))
    sh(*ip + ('addr', 'add', '192.0.2.2/24', 'dev', veth))
    sh(*ip + ('addr', 'add', '2001:db8::1/64', 'dev', veth, 'nodad'))
    sh(*ip + ('addr', 'add', '2001:db8::5/64', 'dev', veth, 'nodad', 'preferred_lft', '0'))
    sh(*ip + ('addr', 'add', '2001:db8::7/64', 'dev', veth))
    env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
    proc = subprocess.run([python, '-c', ADDR_PROBE, netns, veth], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, cwd='/', check=False)
    assert proc.returncode == 0, proc.stderr
    flags = dict((a['address'], a['flags']) for a in json.loads(proc.stdout) if a['scope'] == 0)
    assert flags == {'192.0.2.1': 0x80, '192.0.2.2': 0x80 | 0x01, '2001:db8::1': 0x80 | 0x02,
                     '2001:db8::5': 0x80 | 0x02 | 0x20, '2001:db8::7': 0x80 | 0x40}, (generation, flags)


def test_missing_pyroute2_message(tmp_path):
    # A real interpreter without pyroute2: a bare venv of Debian's python3.
    venv = tmp_path / 'bare'
    sh(SYSTEM_PYTHON, '-m', 'venv', '--without-pip', str(venv))
    env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
    code = ('from ansible_collections.cni.node.plugins.module_utils import _netlink, _errors\n'
            'try:\n    _netlink.Netlink(None).__enter__()\n'
            'except _errors.MissingDependency as exc:\n    print(exc)\n')
    out = subprocess.run([str(venv / 'bin' / 'python'), '-c', code], stdout=subprocess.PIPE,
                         universal_newlines=True, env=env, check=True).stdout
    assert out.strip() == ('pyroute2 is required on the managed node: install python3-pyroute2 '
                           'or pip install pyroute2')


def test_procsys_entered_namespace_is_isolated(netns):
    code = ('import os, sys\n'
            'from ansible_collections.cni.node.plugins.module_utils import _netns\n'
            'from ansible_collections.cni.node.plugins.module_utils._procsys import ProcSys\n'
            'ps = ProcSys()\n'
            'home = os.stat("/proc/thread-self/ns/net").st_ino\n'
            'with _netns.entered(sys.argv[1]):\n'
            '    ps.write("net.core.somaxconn", "1234")\n'
            '    inside = ps.read("net.core.somaxconn")\n'
            '    moved = os.stat("/proc/thread-self/ns/net").st_ino != home\n'
            'try:\n'
            '    with _netns.entered(sys.argv[1]):\n'
            '        raise RuntimeError("boom")\n'
            'except RuntimeError:\n'
            '    pass\n'
            'back = os.stat("/proc/thread-self/ns/net").st_ino == home\n'
            'print(inside, ps.read("net.core.somaxconn"), moved, back)\n')
    env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
    host_before = open('/proc/sys/net/core/somaxconn').read().strip()
    out = subprocess.run([sys.executable, '-c', code, netns], stdout=subprocess.PIPE, universal_newlines=True,
                         env=env, check=True).stdout.split()
    # Inside: the namespace's value; after the block (also after an exception): home again.
    assert out == ['1234', host_before, 'True', 'True']
    assert open('/proc/sys/net/core/somaxconn').read().strip() == host_before


BATCH_PROBE = r'''
import json, sys
from ansible_collections.cni.node.plugins.module_utils import _netlink, _rtnl
netns, dev, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = []
with _netlink.Netlink(netns) as nl:
    index = nl.link(dev)['index']
    for i in range(count):
        ip = '10.%d.%d.1' % (i // 250 + 1, i % 250)
        if i % 97 == 5:   # a neighbour that does not exist: the kernel refuses to delete it
            calls.append(('neigh_del', ('removing neighbour %s' % ip, index, ip), {}))
        else:
            calls.append(('neigh_set', ('adding neighbour %s' % ip, index, ip, '02:00:00:00:%02x:%02x'
                                        % (i // 256, i % 256)), {}))
    calls.append(('neigh_del', ('removing neighbour 10.250.0.1', index, '10.250.0.1'), {}))   # the last one fails
    errors = nl.batch(calls)
    have = sorted(n['dst'] for n in nl.neighbours() if n['index'] == index and n['permanent'])
print(json.dumps(dict(chunk=_rtnl.CHUNK, failed=[i for i, e in enumerate(errors) if e is not None],
                      kinds=sorted(set(type(e).__name__ for e in errors if e is not None)), have=have)))
'''


def test_batch_reports_each_failure_and_every_success(netns):
    """One batch of 1,001 neighbour requests over several chunks (only the last of a chunk asks for an
    ACK): every refused request is reported at its own index, every other one is done in the kernel."""
    dev, peer = unique('cnv'), unique('cnp')
    sh('ip', 'netns', 'exec', netns, 'ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', peer)
    count = 1000
    env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
    proc = subprocess.run([sys.executable, '-c', BATCH_PROBE, netns, dev, str(count)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env, cwd='/', check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert count > 3 * out['chunk']
    refused = [i for i in range(count) if i % 97 == 5] + [count]
    assert out['failed'] == refused
    assert out['kinds'] == ['NoSuchObject']
    assert out['have'] == sorted('10.%d.%d.1' % (i // 250 + 1, i % 250) for i in range(count) if i % 97 != 5)


READ_PROBE = r'''
import json, sys
from ansible_collections.cni.node.plugins.module_utils import _netlink

def info_data(info, name):
    data = info.get_attr('IFLA_INFO_DATA')
    return data.get_attr(name) if data is not None and hasattr(data, 'get_attr') else None

def vxlan_data(info):
    data = info.get_attr('IFLA_INFO_DATA')
    names = [item[0] for item in data.get('attrs', ())]
    return dict(id=data.get_attr('IFLA_VXLAN_ID'),
                local=data.get_attr('IFLA_VXLAN_LOCAL') or data.get_attr('IFLA_VXLAN_LOCAL6'),
                link=data.get_attr('IFLA_VXLAN_LINK'), port=data.get_attr('IFLA_VXLAN_PORT'),
                learning=bool(data.get_attr('IFLA_VXLAN_LEARNING')), gbp='IFLA_VXLAN_GBP' in names)

def reference_link(msg):   # what pyroute2 decodes, field by field
    info = msg.get_attr('IFLA_LINKINFO')
    kind = info.get_attr('IFLA_INFO_KIND') if info is not None else None
    return dict(index=msg['index'], name=msg.get_attr('IFLA_IFNAME'), kind=kind, mtu=msg.get_attr('IFLA_MTU'),
                address=msg.get_attr('IFLA_ADDRESS'), up=bool(msg['flags'] & 1), master=msg.get_attr('IFLA_MASTER'),
                min_mtu=msg.get_attr('IFLA_MIN_MTU'), max_mtu=msg.get_attr('IFLA_MAX_MTU'),
                br_stp_state=info_data(info, 'IFLA_BR_STP_STATE') if kind == 'bridge' else None,
                br_vlan_filtering=info_data(info, 'IFLA_BR_VLAN_FILTERING') if kind == 'bridge' else None,
                link=msg.get_attr('IFLA_LINK'), link_netnsid=msg.get_attr('IFLA_LINK_NETNSID'),
                vxlan=vxlan_data(info) if kind == 'vxlan' else None)

def reference_addr(msg):
    flags = msg.get_attr('IFA_FLAGS')
    return dict(index=msg['index'], family=6 if msg['family'] == 10 else 4,
                address=msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS'), prefixlen=msg['prefixlen'],
                scope=msg['scope'], flags=flags if flags is not None else msg['flags'])

with _netlink.Netlink(sys.argv[1]) as nl:
    links, addresses = nl.links(), nl.addresses()
    read_without_pyroute2 = nl.ipr is None and 'pyroute2' not in sys.modules
    ipr = nl._ipr()
    reference = dict(links=[reference_link(m) for m in ipr.get_links()],
                     addresses=[reference_addr(m) for m in ipr.get_addr()])
print(json.dumps(dict(links=links, addresses=addresses, reference=reference, lazy=read_without_pyroute2)))
'''


@pytest.mark.parametrize('python, generation', INTERPRETERS)
def test_links_and_addresses_read_as_pyroute2_decodes_them(netns, python, generation):
    """The adapter reads links and addresses with its own codec (no pyroute2 import for a reading run):
    every field equals pyroute2's decoding, for a bridge, two VXLAN devices (IPv4 and IPv6 underlay, gbp,
    learning), a veth whose peer is in another namespace, a bridge port, and addresses with their flags."""
    if not os.path.exists(python):
        pytest.fail('%s is missing: make deps installs python3 and python3-pyroute2' % python)
    other = unique('cnt-')
    sh('ip', 'netns', 'add', other)
    try:
        ip = ('ip', '-n', netns)
        sh(*ip + ('link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1', 'netns', other))
        sh(*ip + ('addr', 'add', '192.0.2.1/24', 'dev', 'u0'))
        sh(*ip + ('addr', 'add', '2001:db8::1/64', 'dev', 'u0', 'nodad'))
        sh(*ip + ('link', 'set', 'u0', 'up'))
        sh(*ip + ('link', 'add', 'br0', 'mtu', '1400', 'type', 'bridge'))   # (no VLAN filtering in this kernel)
        sh(*ip + ('link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'))
        sh(*ip + ('link', 'set', 'd0', 'master', 'br0'))
        sh(*ip + ('link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', '192.0.2.1', 'dev', 'u0',
                  'dstport', '4789', 'nolearning', 'gbp'))
        sh(*ip + ('link', 'add', 'vx6', 'type', 'vxlan', 'id', '7', 'local', '2001:db8::1', 'dev', 'u0',
                  'dstport', '8472', 'learning'))
        sh(*ip + ('addr', 'add', '10.0.0.0/32', 'dev', 'vx0'))
        sh(*ip + ('addr', 'add', '10.0.0.9/32', 'dev', 'vx0'))   # secondary
        sh(*ip + ('link', 'set', 'vx0', 'up'))
        env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
        proc = subprocess.run([python, '-c', READ_PROBE, netns], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=env, cwd='/', check=False)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
    finally:
        subprocess.run(['ip', 'netns', 'del', other], check=False)
    assert out['lazy'], 'reading links and addresses imported pyroute2'
    by_name = dict((l['name'], l) for l in out['links'])
    assert sorted(by_name) == ['br0', 'd0', 'd1', 'lo', 'u0', 'vx0', 'vx6']
    assert by_name['vx0']['vxlan'] == dict(id=42, local='192.0.2.1', link=by_name['u0']['index'], port=4789,
                                           learning=False, gbp=True)
    assert by_name['vx6']['vxlan']['local'] == '2001:db8::1' and by_name['vx6']['vxlan']['learning'] is True
    assert by_name['br0']['br_stp_state'] == 0 and by_name['br0']['br_vlan_filtering'] == 0
    assert by_name['d0']['master'] == by_name['br0']['index']
    assert by_name['u0']['link_netnsid'] is not None
    assert out['links'] == out['reference']['links'], generation
    assert out['addresses'] == out['reference']['addresses'], generation
