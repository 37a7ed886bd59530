# -*- coding: utf-8 -*-
"""cni_xdp on the real kernel: an ICMP-drop program on one end of a veth pair between two namespaces.

Each test builds two throwaway ``cnt-`` namespaces joined by a veth pair
(``cnvx-a`` in the first, 10.250.0.1/24; ``cnvx-b`` in the second,
10.250.0.2/24), runs the module as Ansible would (both interpreters: pyroute2
0.9.x in the venv, 0.7.x in Debian's python3) and checks the traffic: ping
across the pair, and a TCP connection (a tiny server and client, bounded by
timeouts, on the pair's addresses only). Where the kernel or the node lacks
BPF, XDP, bpftool or clang, the tests are skipped with the reason.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import INTERPRETERS, REPO, sh, unique

SEED = os.path.join(REPO, 'roles', 'xdp', 'files', 'xdp_drop_icmp.c')
ADDR_A, ADDR_B = '10.250.0.1', '10.250.0.2'

PASS_ALL = r'''
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int xdp_pass_all(struct xdp_md *ctx)
{
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
'''

# Compiles, but reads the packet without checking its bounds: the verifier refuses it.
UNCHECKED = r'''
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int xdp_unchecked(struct xdp_md *ctx)
{
    struct ethhdr *eth = (void *)(long)ctx->data;
    return eth->h_proto == 0 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
'''

BROKEN = '#include <linux/bpf.h>\nint main(void)\n{\n\treturn nope;\n}\n'

SERVER = '''
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(10)
print('ready', flush=True)
c, _ = s.accept()
c.sendall(c.recv(16) + b'-ok')
c.close()
'''

CLIENT = '''
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.sendall(b'hello')
print(c.recv(16).decode())
'''


def _compile(source_text, path):
    with open(path + '.c', 'w') as f:
        f.write(source_text)
    multiarch = subprocess.run(['clang', '-print-multiarch'], stdout=subprocess.PIPE, universal_newlines=True,
                               check=False).stdout.strip()
    sh('clang', '-O2', '-g', '-target', 'bpf', '-I/usr/include/%s' % multiarch, '-c', path + '.c', '-o', path)
    return path


def _probe(tmp_dir):
    """Why XDP cannot be tested here, or None."""
    for tool in ('bpftool', 'clang'):
        if shutil.which(tool) is None:
            return '%s is not installed (make deps installs clang llvm libbpf-dev bpftool)' % tool
    if not os.path.exists('/usr/include/bpf/bpf_helpers.h'):
        return 'libbpf-dev is not installed (no <bpf/bpf_helpers.h>)'
    try:
        obj = _compile(PASS_ALL, os.path.join(tmp_dir, 'probe.o'))
    except AssertionError as exc:
        return 'clang cannot compile a BPF program: %s' % exc
    name = unique()
    sh('ip', 'netns', 'add', name)
    try:
        proc = subprocess.run(['ip', '-n', name, 'link', 'set', 'dev', 'lo', 'xdpgeneric', 'obj', obj, 'sec', 'xdp'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
        if proc.returncode != 0:
            return 'the kernel refuses a generic XDP program: %s' % proc.stderr.strip()
    finally:
        sh('ip', 'netns', 'del', name, check=False)
    return None


@pytest.fixture(scope='module')
def xdp_support(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('XDP tests need root')
    reason = _probe(str(tmp_path_factory.mktemp('xdp-probe')))
    if reason:
        pytest.skip('no XDP here: %s' % reason)


@pytest.fixture
def pair(xdp_support, tmp_path):
    """Two namespaces joined by a veth pair, both ends up with an address; removed afterwards."""
    a, b = unique(), unique()
    sh('ip', 'netns', 'add', a)
    sh('ip', 'netns', 'add', b)
    try:
        sh('ip', '-n', a, 'link', 'add', 'cnvx-a', 'type', 'veth', 'peer', 'name', 'cnvx-b', 'netns', b)
        sh('ip', '-n', a, 'addr', 'add', ADDR_A + '/24', 'dev', 'cnvx-a')
        sh('ip', '-n', b, 'addr', 'add', ADDR_B + '/24', 'dev', 'cnvx-b')
        for ns, dev in ((a, 'cnvx-a'), (b, 'cnvx-b'), (a, 'lo'), (b, 'lo')):
            sh('ip', '-n', ns, 'link', 'set', dev, 'up')

        class Pair(object):
            pass
        p = Pair()
        p.a, p.b, p.tmp = a, b, str(tmp_path)
        p.base = dict(dev='cnvx-b', netns=b, source=SEED, mode='generic', cache_dir=str(tmp_path / 'cache'),
                      state_file=str(tmp_path / 'state' / 'xdp.json'))
        yield p
    finally:
        sh('ip', 'netns', 'del', a, check=False)
        sh('ip', 'netns', 'del', b, check=False)


def with_object(p, path):
    """The base arguments with ``object`` instead of ``source``."""
    args = dict(p.base, object=path)
    del args['source']
    return args


def ping(p):
    return subprocess.run(['ip', 'netns', 'exec', p.a, 'ping', '-c', '1', '-W', '1', ADDR_B],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=10).returncode == 0


def tcp(p, port=18080):
    """A TCP connection from the first namespace to a server in the second: the server's answer."""
    server = subprocess.Popen(['ip', 'netns', 'exec', p.b, sys.executable, '-c', SERVER, ADDR_B, str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    try:
        assert server.stdout.readline().strip() == 'ready'
        client = subprocess.run(['ip', 'netns', 'exec', p.a, sys.executable, '-c', CLIENT, ADDR_B, str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                                check=False, timeout=15)
        return client.stdout.strip()
    finally:
        server.kill()
        server.wait()


def attached(p, ns=None, dev='cnvx-b'):
    """(mode word, prog id) of ``dev`` as ip(8) shows it, or (None, None)."""
    out = sh('ip', '-n', ns or p.b, '-d', 'link', 'show', 'dev', dev)
    words = out.split()
    mode = next((w for w in words if w in ('xdp', 'xdpgeneric', 'xdpoffload', 'xdpmulti')), None)
    prog = words[words.index('prog/xdp') + 2] if 'prog/xdp' in words else None
    return mode, int(prog) if prog else None


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_icmp_drop_lifecycle(module, pair, interpreter):
    p, python = pair, interpreter
    assert ping(p) and tcp(p) == 'hello-ok'

    first = module('cni_xdp', p.base, python=python)
    assert first['changed'] and not first.get('failed'), first
    now = first['interfaces']['cnvx-b']
    assert now['mode'] == 'generic' and now['name'] == 'xdp_drop_icmp' and len(now['tag']) == 16
    assert attached(p) == ('xdpgeneric', now['id'])
    assert [d['path'] for d in first['drift']] == ['xdp/cnvx-b/program', 'xdp/cnvx-b/mode']
    assert not ping(p), 'ICMP still passes with xdp_drop_icmp attached'
    assert tcp(p) == 'hello-ok', 'TCP must still pass'

    again = module('cni_xdp', p.base, python=python)
    assert not again['changed'] and again['interfaces']['cnvx-b'] == now and again['drift'] == []

    # Someone detaches it by hand: check mode reports it and attaches nothing; the real run repairs.
    sh('ip', '-n', p.b, 'link', 'set', 'dev', 'cnvx-b', 'xdpgeneric', 'off')   # plain 'xdp off' is native
    checked = module('cni_xdp', p.base, check=True, python=python)
    assert checked['changed'] and attached(p) == (None, None)
    assert {d['path']: d['before'] for d in checked['drift']} == {'xdp/cnvx-b/program': None,
                                                                  'xdp/cnvx-b/mode': None}
    assert {d['path']: d['after'] for d in checked['drift']}['xdp/cnvx-b/mode'] == 'generic'
    assert checked['interfaces']['cnvx-b']['id'] is None
    repaired = module('cni_xdp', p.base, python=python)
    assert repaired['changed'] and repaired['drift'] == checked['drift']
    assert repaired['interfaces']['cnvx-b']['tag'] == now['tag'] and not ping(p)

    gone = module('cni_xdp', dict(p.base, state='absent'), python=python)
    assert gone['changed'] and attached(p) == (None, None) and ping(p)
    assert module('cni_xdp', dict(p.base, state='absent'), python=python)['changed'] is False


def test_a_program_attached_by_hand_needs_force(module, pair):
    p = pair
    other = _compile(PASS_ALL, os.path.join(p.tmp, 'pass.o'))
    sh('ip', '-n', p.b, 'link', 'set', 'dev', 'cnvx-b', 'xdpgeneric', 'obj', other, 'sec', 'xdp')
    before = attached(p)
    for check in (True, False):
        refused = module('cni_xdp', p.base, check=check)
        assert refused.get('failed') and refused['param'] == 'force' and 'xdp_pass_all' in refused['msg'], refused
        assert attached(p) == before
    # The same tag by hand is the program asked for: not changed (and adopted), whoever attached it.
    assert module('cni_xdp', with_object(p, other), check=True)['changed'] is False
    forced = module('cni_xdp', dict(p.base, force=True))
    assert forced['changed'] and forced['interfaces']['cnvx-b']['name'] == 'xdp_drop_icmp'
    assert {d['path']: d['before'] for d in forced['drift']}['xdp/cnvx-b/program']['name'] == 'xdp_pass_all'
    assert attached(p)[1] == forced['interfaces']['cnvx-b']['id'] and not ping(p)
    # Now it is this module's: replaced by another object without force.
    back = module('cni_xdp', with_object(p, other))
    assert back['changed'] and back['interfaces']['cnvx-b']['name'] == 'xdp_pass_all' and ping(p)


def test_bad_programs_fail_clearly_and_attach_nothing(module, pair):
    p = pair
    broken = os.path.join(p.tmp, 'broken.c')
    with open(broken, 'w') as f:
        f.write(BROKEN)
    for check in (True, False):
        out = module('cni_xdp', dict(p.base, source=broken), check=check)
        assert out.get('failed') and out['param'] == 'source', out
        assert '%s:4:' % broken in out['msg'] and 'nope' in out['msg']
    rejected = _compile(UNCHECKED, os.path.join(p.tmp, 'unchecked.o'))
    out = module('cni_xdp', with_object(p, rejected))
    assert out.get('failed') and out['param'] == 'object', out
    assert 'invalid access to packet' in out['msg'] and out['verifier_log']
    for args, param in ((dict(object=os.path.join(p.tmp, 'missing.o')), 'object'),
                        (dict(object='/bin/ls'), 'object'),
                        (dict(section='tc'), 'section'),
                        (dict(dev=['cnvx-b', 'cnvx-nope']), 'dev')):
        out = module('cni_xdp', with_object(p, args.pop('object')) if 'object' in args else dict(p.base, **args))
        assert out.get('failed') and out['param'] == param, (args, out)
    assert attached(p) == (None, None) and ping(p)


def test_several_interfaces_are_all_or_nothing(module, pair):
    p = pair
    # Two more veth ends in the second namespace, and a bridge: no native XDP in its driver.
    sh('ip', '-n', p.b, 'link', 'add', 'cnvx-c', 'type', 'veth', 'peer', 'name', 'cnvx-d')
    sh('ip', '-n', p.b, 'link', 'add', 'cnvx-e', 'type', 'bridge')
    for dev in ('cnvx-c', 'cnvx-d', 'cnvx-e'):
        sh('ip', '-n', p.b, 'link', 'set', dev, 'up')
    first = module('cni_xdp', dict(p.base, dev=['cnvx-b', 'cnvx-c']))
    assert first['changed'] and not first.get('failed'), first
    ids = dict((dev, attached(p, dev=dev)) for dev in ('cnvx-b', 'cnvx-c', 'cnvx-d', 'cnvx-e'))
    out = module('cni_xdp', dict(p.base, dev=['cnvx-b', 'cnvx-c', 'cnvx-d', 'cnvx-e'], mode='native'))
    assert out.get('failed') and out['param'] == 'mode' and 'cnvx-e' in out['msg'], out
    assert dict((dev, attached(p, dev=dev)) for dev in ids) == ids
    assert not ping(p)


PRIVATE_BPFFS_PROBE = r"""
import json, os, sys
from ansible_collections.cni.node.plugins.module_utils import _bpf
os.chdir(sys.argv[1])
before = os.readlink('/proc/self/ns/mnt')
with _bpf.private_bpffs() as directory:
    inside = (os.readlink('/proc/self/ns/mnt'), os.path.ismount(directory))
print(json.dumps(dict(before=before, inside=inside, after=os.readlink('/proc/self/ns/mnt'), cwd=os.getcwd(),
                      left=os.path.exists(directory))))
"""


def test_the_private_bpffs_leaves_nothing_behind(xdp_support, tmp_path):
    """Back in the module's mount namespace and working directory; no bpffs directory left."""
    env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
    proc = subprocess.run([sys.executable, '-c', PRIVATE_BPFFS_PROBE, str(tmp_path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out['inside'][0] != out['before'] and out['inside'][1] is True, out
    assert out['after'] == out['before'] and out['cwd'] == str(tmp_path) and out['left'] is False, out
