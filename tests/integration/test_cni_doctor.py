# -*- coding: utf-8 -*-
"""cni_doctor on the real kernel: a small overlay node built inside a throwaway namespace (a dummy underlay,
a VXLAN device with one peer's route, neighbour and FDB entry, a bridge, a conflist with the real plugins of
/usr/lib/cni), healthy first, then one fault at a time. Every run is compared with a snapshot of the
namespace and the files taken before: the doctor changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import INTERPRETERS, sh

CNI_BIN = '/usr/lib/cni'
UNDERLAY, VXLAN, BRIDGE = 'cnpu0', 'cnpv0', 'cnpb0'
LOCAL, REMOTE = '192.0.2.1', '192.0.2.2'
SUBNET, PEER_SUBNET = '10.99.0.0/24', '10.99.1.0/24'
PEER_VTEP = '10.99.1.0'
PEER_MAC = '0e:04:c0:00:02:02'   # cni.node's VTEP MAC of 192.0.2.2


def ip(ns, *args):
    return sh('ip', '-n', ns, *args)


@pytest.fixture
def node(netns, tmp_path):
    if not os.path.isfile(os.path.join(CNI_BIN, 'bridge')):
        pytest.skip('no CNI reference plugins in %s (make deps installs containernetworking-plugins)' % CNI_BIN)
    # No IPv6: its duplicate address detection would change the addresses while the test compares them.
    for key in ('all', 'default'):
        sh('ip', 'netns', 'exec', netns, 'sysctl', '-q', '-w', 'net.ipv6.conf.%s.disable_ipv6=1' % key)
    ip(netns, 'link', 'set', 'lo', 'up')
    ip(netns, 'link', 'add', UNDERLAY, 'type', 'veth', 'peer', 'name', 'cnpu1')
    ip(netns, 'link', 'set', 'cnpu1', 'up')
    ip(netns, 'addr', 'add', LOCAL + '/24', 'dev', UNDERLAY)
    ip(netns, 'link', 'set', UNDERLAY, 'up')
    ip(netns, 'link', 'add', VXLAN, 'type', 'vxlan', 'id', '42', 'dev', UNDERLAY, 'local', LOCAL, 'dstport', '4789',
       'nolearning')
    ip(netns, 'link', 'set', VXLAN, 'address', '0e:04:c0:00:02:01', 'mtu', '1450', 'up')
    ip(netns, 'addr', 'add', '10.99.0.0/32', 'dev', VXLAN)
    ip(netns, 'link', 'add', BRIDGE, 'type', 'bridge')
    ip(netns, 'link', 'set', BRIDGE, 'mtu', '1450', 'up')
    ip(netns, 'addr', 'add', '10.99.0.1/24', 'dev', BRIDGE)
    ip(netns, 'route', 'add', PEER_SUBNET, 'via', PEER_VTEP, 'dev', VXLAN, 'onlink', 'proto', '152')
    ip(netns, 'neigh', 'add', PEER_VTEP, 'lladdr', PEER_MAC, 'dev', VXLAN, 'nud', 'permanent')
    sh('ip', 'netns', 'exec', netns, 'bridge', 'fdb', 'append', PEER_MAC, 'dev', VXLAN, 'dst', REMOTE, 'self',
       'permanent')
    sh('ip', 'netns', 'exec', netns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
    conf = tmp_path / 'net.d'
    conf.mkdir()
    data = tmp_path / 'leases'
    conflist = dict(cniVersion='1.0.0', name='cnp-pods', plugins=[
        dict(type='bridge', bridge=BRIDGE, isGateway=True, mtu=1450,
             ipam=dict(type='host-local', dataDir=str(data), ranges=[[dict(subnet=SUBNET)]]))])
    (conf / '10-cnp-pods.conflist').write_text(json.dumps(conflist))

    class Node(object):
        pass
    n = Node()
    n.ns, n.tmp, n.conf, n.data, n.conflist = netns, tmp_path, conf, data, conflist
    n.args = dict(conf_dir=str(conf), bin_dirs=[CNI_BIN], cache_dir=str(tmp_path / 'cache'),
                  vxlan_name=VXLAN, peers=[dict(name='self', remote=LOCAL, subnet=SUBNET),
                                           dict(name='peer2', remote=REMOTE, subnet=PEER_SUBNET)])
    return n


def snapshot(n):
    """Everything the doctor could change: links, addresses, routes, neighbours, FDB, ruleset, sysctls, files."""
    out = [re.sub(r'_timer +[0-9.]+', '_timer', ip(n.ns, '-d', 'link', 'show')), ip(n.ns, 'addr'), ip(n.ns, 'route', 'show', 'table', 'all'),
           ip(n.ns, 'neigh'), sh('ip', 'netns', 'exec', n.ns, 'bridge', 'fdb', 'show'),
           sh('ip', 'netns', 'exec', n.ns, 'nft', 'list', 'ruleset'),
           sh('ip', 'netns', 'exec', n.ns, 'sysctl', '-a', '-r', r'^net\.(ipv4\.(ip_forward|conf)|netfilter)',
              check=False)]
    for root, dirs, files in os.walk(str(n.tmp)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            st = os.stat(path)
            out.append('%s %d %d %o' % (path, st.st_size, st.st_mtime_ns, st.st_mode))
    return out


def doctor(module, n, python=None, **extra):
    args = dict(n.args, **extra)
    before = snapshot(n)
    result = module('cni_doctor', args, prefix=('ip', 'netns', 'exec', n.ns), python=python)
    after = snapshot(n)
    for b, a in zip(before, after):
        assert b == a, 'the doctor changed something:\n%s\n---\n%s' % (b, a)
    assert result.get('failed') is not True, result
    assert result['changed'] is False and result['drift'] == [] and result['errors'] == {}, result
    return result


def errors_of(result):
    return [(f['check'], f['subject']) for f in result['findings'] if f['severity'] == 'error']


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_a_healthy_node_has_no_finding(module, node, interpreter):
    result = doctor(module, node, python=interpreter)
    assert result['findings'] == [], result['findings']
    assert result['healthy'] is True
    assert result['vteps'] == [dict(name=VXLAN, mac='0e:04:c0:00:02:01', local=LOCAL, subnet=SUBNET, mtu=1450,
                                    port=4789, dev=UNDERLAY)]


def _fdb_deleted(n):
    sh('ip', 'netns', 'exec', n.ns, 'bridge', 'fdb', 'del', PEER_MAC, 'dev', VXLAN, 'dst', REMOTE, 'self')


def _wrong_mac(n):
    ip(n.ns, 'neigh', 'replace', PEER_VTEP, 'lladdr', '0e:04:de:ad:be:ef', 'dev', VXLAN, 'nud', 'permanent')


def _no_route(n):
    ip(n.ns, 'route', 'del', PEER_SUBNET, 'dev', VXLAN)


def _underlay_mtu(n):
    ip(n.ns, 'link', 'set', UNDERLAY, 'mtu', '1400')


def _forwarding(n):
    sh('ip', 'netns', 'exec', n.ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=0')


def _rp_filter(n):
    sh('ip', 'netns', 'exec', n.ns, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=1')


def _shadow(n):
    stale = dict(n.conflist, plugins=[dict(n.conflist['plugins'][0], bridge='cnp-old')])
    (n.conf / '05-cnp-stale.conflist').write_text(json.dumps(stale))


def _missing_plugin(n):
    conf = dict(n.conflist, plugins=n.conflist['plugins'] + [dict(type='cnp-nonesuch')])
    (n.conf / '10-cnp-pods.conflist').write_text(json.dumps(conf))


def _bad_version(n):
    (n.conf / '10-cnp-pods.conflist').write_text(json.dumps(dict(n.conflist, cniVersion='9.9.9')))


def _port_dropped(n):
    sh('ip', 'netns', 'exec', n.ns, 'nft', 'add table inet cnp_fault; add chain inet cnp_fault input '
       '{ type filter hook input priority 0; }; add rule inet cnp_fault input udp dport 4789 drop')


def _dhcp(n):
    conf = json.loads(json.dumps(n.conflist))
    conf['plugins'][0]['ipam'] = dict(type='dhcp')
    (n.conf / '10-cnp-pods.conflist').write_text(json.dumps(conf))


def _duplicate_mac(n):
    n.args['peers'][1]['vtep_mac'] = '0e:04:c0:00:02:01'   # the peer reports this node's MAC as its own


def _policy_table(n):
    sh('ip', 'netns', 'exec', n.ns, 'nft', 'add', 'table', 'inet', 'cni_node_cnpstray')


FAULTS = [
    ('fdb-deleted', _fdb_deleted, 'peers', 'peer2'),
    ('wrong-vtep-mac', _wrong_mac, 'peers', 'peer2'),
    ('no-route', _no_route, 'peers', 'peer2'),
    ('underlay-mtu', _underlay_mtu, 'mtu', VXLAN),
    ('ip-forward', _forwarding, 'forwarding', 'net.ipv4.ip_forward'),
    ('shadowing-conflist', _shadow, 'conflists', '05-cnp-stale.conflist'),
    ('missing-plugin', _missing_plugin, 'conflists', 'cnp-nonesuch'),
    ('cni-version', _bad_version, 'plugin_versions', 'bridge'),
    ('vxlan-port-dropped', _port_dropped, 'vxlan_port', 'inet cnp_fault input'),
    ('dhcp-socket', _dhcp, 'dhcp', None),
    ('duplicate-vtep-mac', _duplicate_mac, 'vtep_macs', '0e:04:c0:00:02:01'),
]


@pytest.mark.parametrize('inject,check,subject', [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_fault_is_named_with_a_fix(module, node, inject, check, subject):
    inject(node)
    result = doctor(module, node, dhcp_socket_path=str(node.tmp / 'dhcp.sock'))
    assert result['healthy'] is False, result['findings']
    hits = [f for f in result['findings'] if f['check'] == check and f['severity'] == 'error'
            and (subject is None or f['subject'] == subject or f['subject'].endswith('/' + subject))]
    assert hits, 'expected %s on %s, got %s' % (check, subject, result['findings'])
    assert all(f['fix'] and f['evidence'] for f in result['findings'])


@pytest.mark.parametrize('inject,check,subject', [
    (_rp_filter, 'rp_filter', UNDERLAY),
    (_policy_table, 'nftables', 'inet cni_node_cnpstray'),
], ids=['rp-filter-strict', 'unexpected-policy-table'])
def test_warnings(module, node, inject, check, subject):
    inject(node)
    result = doctor(module, node)
    assert result['healthy'] is True
    assert (check, subject) in [(f['check'], f['subject']) for f in result['findings'] if f['severity'] == 'warning']


def test_a_leaked_lease_is_a_warning(module, node):
    (node.data / 'cnp-pods').mkdir(parents=True)
    (node.data / 'cnp-pods' / '10.99.0.50').write_text(u'cnp-gone-container\r\neth0')
    result = doctor(module, node)
    assert [(f['check'], f['subject']) for f in result['findings']] == [('leases', 'cnp-pods/10.99.0.50')]
    assert 'cni_gc' in result['findings'][0]['fix']


def test_checks_select_and_bad_input_names_the_option(module, node):
    _forwarding(node)
    result = doctor(module, node, checks=['mtu', 'peers'])
    assert result['checks'] == ['mtu', 'peers'] and result['findings'] == []
    bad = module('cni_doctor', dict(node.args, peers=[dict(remote='not-an-address')]))
    assert bad['failed'] and bad['param'] == 'peers' and 'peers[0].remote' in bad['msg']
    bad = module('cni_doctor', dict(node.args, conntrack_threshold=0))
    assert bad['failed'] and bad['param'] == 'conntrack_threshold'


def test_a_plugin_removed_from_bin_dirs(module, node):
    bins = node.tmp / 'bin'
    bins.mkdir()
    shutil.copy(os.path.join(CNI_BIN, 'host-local'), str(bins / 'host-local'))
    result = doctor(module, node, bin_dirs=[str(bins)])
    assert ('conflists', 'bridge') in errors_of(result)


XDP_PASS = ('__attribute__((section("xdp"), used)) int cnp_pass(void *ctx) { return 2; }\n'
            'char _license[] __attribute__((section("license"), used)) = "GPL";\n')


def test_an_unexpected_xdp_program(module, node):
    if shutil.which('clang') is None:
        pytest.skip('clang is not installed (make deps installs it): no BPF object to attach')
    src, obj = node.tmp / 'pass.c', node.tmp / 'pass.o'
    src.write_text(XDP_PASS)
    sh('clang', '-O2', '-target', 'bpf', '-c', str(src), '-o', str(obj))
    proc = subprocess.run(['ip', '-n', node.ns, 'link', 'set', 'dev', 'cnpu1', 'xdpgeneric', 'obj', str(obj), 'sec',
                           'xdp'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=False)
    if proc.returncode != 0:
        pytest.skip('the kernel refuses a generic XDP program here: %s' % proc.stderr.strip())
    result = doctor(module, node)
    assert [(f['check'], f['subject'], f['severity']) for f in result['findings']] == [('xdp', 'cnpu1', 'warning')]
    assert doctor(module, node, expected_xdp=['cnpu1'])['findings'] == []
