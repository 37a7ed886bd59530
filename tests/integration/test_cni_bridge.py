# -*- coding: utf-8 -*-
"""cni_bridge on the real kernel, inside throwaway network namespaces.

Every bridge lives inside the test's own ``cnt-`` namespace, so the host's
links are never touched. The main scenario runs under both pyroute2
generations (venv: 0.9.x, Debian's /usr/bin/python3: 0.7.x).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

import pytest

from conftest import INTERPRETERS, sh, unique


def ip(netns, *argv, **kwargs):
    return sh('ip', 'netns', 'exec', netns, 'ip', *argv, **kwargs)


def state(netns, name):
    """The bridge as `ip` sees it (None when absent), read without the module."""
    out = ip(netns, '-j', '-d', 'link', 'show', 'dev', name, check=False)
    if not out.strip():
        return None
    link = json.loads(out)[0]
    data = link['linkinfo']['info_data']
    addrs = json.loads(ip(netns, '-j', 'addr', 'show', 'dev', name))[0]['addr_info']
    return dict(
        kind=link['linkinfo']['info_kind'], mtu=link['mtu'], mac=link['address'],
        up='UP' in link['flags'], stp=bool(data['stp_state']), vlan_filtering=bool(data['vlan_filtering']),
        addresses=sorted('%s/%s' % (a['local'], a['prefixlen']) for a in addrs
                         if not a['local'].startswith('fe80:')),
    )


def host_links():
    return sh('ip', '-o', 'link', 'show')


ARGS = dict(mtu=1400, addresses=['10.244.1.1/24', 'fd00:10:244:1::1/64', '10.99.0.1/16'],
            mac='02:42:0a:f4:01:01', stp=True, vlan_filtering=False)
WANT = dict(kind='bridge', mtu=1400, mac='02:42:0a:f4:01:01', up=True, stp=True, vlan_filtering=False,
            addresses=sorted(ARGS['addresses']))


def paths(result):
    return [d['path'] for d in result['drift']]


def drift_cycle(module, args, netns, name, python, expect):
    """Check mode reports exactly ``expect`` and changes nothing; the real run repairs it; then no change."""
    before = state(netns, name)
    check = module('cni_bridge', args, check=True, python=python)
    assert 'failed' not in check, check
    assert check['changed'] is True and check['drift'] == expect
    assert state(netns, name) == before, 'check mode changed the bridge'
    real = module('cni_bridge', args, python=python)
    assert real['changed'] is True and real['drift'] == expect, real
    assert state(netns, name) == WANT
    again = module('cni_bridge', args, python=python)
    assert again['changed'] is False and again['drift'] == [], again


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_bridge_lifecycle_and_drift(module, netns, interpreter):
    python = interpreter
    generation = sh(python, '-c', 'import pyroute2; print(hasattr(pyroute2, "AsyncIPRoute"))').strip()
    assert generation == ('True' if python == sys.executable else 'False'), 'wrong pyroute2 generation'
    name = unique('cnb')
    args = dict(ARGS, name=name, netns=netns)
    link = 'link/%s' % name

    check = module('cni_bridge', args, check=True, python=python)
    assert check['changed'] is True
    assert check['drift'] == [dict(path=link, before='absent', after='present'),
                              dict(path=link + '/addresses', before=[], after=WANT['addresses'])]
    assert state(netns, name) is None and check['bridge'] is None

    first = module('cni_bridge', args, python=python)
    assert first['changed'] is True and first['drift'] == check['drift'], first
    assert state(netns, name) == WANT
    assert first['bridge'] == dict(dict((k, v) for k, v in WANT.items() if k != 'kind'), name=name)
    second = module('cni_bridge', args, python=python)
    assert second['changed'] is False and second['drift'] == [] and second['diff'] == []

    # mtu changed behind the module's back
    ip(netns, 'link', 'set', name, 'mtu', '1300')
    drift_cycle(module, args, netns, name, python, [dict(path=link + '/mtu', before=1300, after=1400)])

    # an address added and one removed
    ip(netns, 'addr', 'add', '192.0.2.7/32', 'dev', name)
    ip(netns, 'addr', 'del', '10.99.0.1/16', 'dev', name)
    before = sorted(set(WANT['addresses']) - {'10.99.0.1/16'} | {'192.0.2.7/32'})
    drift_cycle(module, args, netns, name, python,
                [dict(path=link + '/addresses', before=before, after=WANT['addresses'])])

    # link down (the kernel drops the IPv6 addresses of a link that goes down)
    ip(netns, 'link', 'set', name, 'down')
    v4 = [a for a in WANT['addresses'] if ':' not in a]
    drift_cycle(module, args, netns, name, python,
                [dict(path=link + '/addresses', before=v4, after=WANT['addresses']),
                 dict(path=link + '/up', before=False, after=True)])

    # mac and stp changed
    ip(netns, 'link', 'set', name, 'address', '02:00:00:00:00:09', 'type', 'bridge', 'stp_state', '0')
    drift_cycle(module, args, netns, name, python,
                [dict(path=link + '/stp', before=False, after=True),
                 dict(path=link + '/mac', before='02:00:00:00:00:09', after=WANT['mac'])])

    # device deleted
    ip(netns, 'link', 'del', name)
    drift_cycle(module, args, netns, name, python,
                [dict(path=link, before='absent', after='present'),
                 dict(path=link + '/addresses', before=[], after=WANT['addresses'])])

    # state=absent: check, real, again
    gone = dict(name=name, netns=netns, state='absent')
    check = module('cni_bridge', gone, check=True, python=python)
    assert check['drift'] == [dict(path=link, before='present', after='absent')]
    assert state(netns, name) == WANT
    real = module('cni_bridge', gone, python=python)
    assert real['changed'] is True and real['drift'] == check['drift'] and real['bridge'] is None
    assert state(netns, name) is None
    assert module('cni_bridge', gone, python=python)['changed'] is False
    assert name not in host_links(), 'the host saw the bridge'


def veth_into(netns, bridge, mtu):
    """A veth pair made by hand (as a pod's or another tool's), one end enslaved to ``bridge``; that end."""
    end = unique('cnv')
    ip(netns, 'link', 'add', end, 'mtu', str(mtu), 'type', 'veth', 'peer', 'name', unique('cnw'), 'mtu', str(mtu))
    ip(netns, 'link', 'set', end, 'master', bridge)
    ip(netns, 'link', 'set', end, 'up')
    return end


def link_mtu(netns, name):
    return json.loads(ip(netns, '-j', 'link', 'show', 'dev', name))[0]['mtu']


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
@pytest.mark.parametrize('mtu, port_mtu', [(1450, 1500), (1500, 9000)], ids=['1450-port-1500', '1500-port-9000'])
def test_the_kernel_keeps_the_mtu_when_ports_join(module, netns, interpreter, mtu, port_mtu):
    """An MTU only in the create request, or set to the value it has, is not the user's for the kernel: a port
    that joins moves it (the bridge follows its smallest port) and the next run moves it back. The module's
    bridge keeps it; check mode still predicts exactly what the real run reports."""
    name = unique('cnb')
    link = 'link/%s' % name
    args = dict(name=name, netns=netns, mtu=mtu, addresses=['10.244.7.1/24'])
    check = module('cni_bridge', args, check=True, python=interpreter)
    assert 'failed' not in check, check
    assert check['changed'] is True and check['bridge'] is None and state(netns, name) is None
    assert check['drift'] == [dict(path=link, before='absent', after='present'),
                              dict(path=link + '/addresses', before=[], after=['10.244.7.1/24'])]
    real = module('cni_bridge', args, python=interpreter)
    assert 'failed' not in real, real
    assert (real['changed'], real['drift'], real['diff']) == (check['changed'], check['drift'], check['diff'])
    assert real['bridge']['mtu'] == mtu and state(netns, name)['mtu'] == mtu

    port = veth_into(netns, name, port_mtu)
    assert link_mtu(netns, port) == port_mtu, 'enslaving changed the port'
    assert state(netns, name)['mtu'] == mtu, 'the port that joined moved the bridge MTU'
    again = module('cni_bridge', args, python=interpreter)
    assert again['changed'] is False and again['drift'] == [], again

    # more ports, one leaving, one changing its MTU: the bridge keeps its own
    second = veth_into(netns, name, port_mtu)
    ip(netns, 'link', 'del', port)
    ip(netns, 'link', 'set', second, 'mtu', str(mtu - 100))
    veth_into(netns, name, port_mtu)
    assert state(netns, name)['mtu'] == mtu
    again = module('cni_bridge', args, python=interpreter)
    assert again['changed'] is False and again['drift'] == [], again


def test_a_bridge_made_with_the_mtu_in_its_create_request_is_repaired_once(module, netns):
    """A bridge made the old way (the module before this fix, or `ip link add ... mtu N type bridge`) at the
    wanted MTU is left alone: the kernel does not say whether it would keep that MTU. When a port moves it,
    one run sets it back with a real change; from then on the kernel keeps it: no flap."""
    name = unique('cnb')
    ip(netns, 'link', 'add', name, 'mtu', '1450', 'type', 'bridge')
    ip(netns, 'link', 'set', name, 'up')
    args = dict(name=name, netns=netns, mtu=1450)
    first = module('cni_bridge', args)
    assert first['changed'] is False and first['drift'] == [], first
    veth_into(netns, name, 1500)
    assert state(netns, name)['mtu'] == 1500, 'the kernel kept an MTU it does not count as set by the user'
    repair = module('cni_bridge', args)
    assert repair['changed'] is True
    assert repair['drift'] == [dict(path='link/%s/mtu' % name, before=1500, after=1450)], repair
    veth_into(netns, name, 1500)
    assert state(netns, name)['mtu'] == 1450
    again = module('cni_bridge', args)
    assert again['changed'] is False and again['drift'] == [], again


def test_every_attribute_alone(module, netns):
    name = unique('cnb')
    base = dict(name=name, netns=netns)
    first = module('cni_bridge', base)
    assert first['changed'] is True and paths(first) == ['link/' + name]
    default = state(netns, name)
    assert default['up'] is True and default['stp'] is False and default['addresses'] == []
    assert module('cni_bridge', base)['changed'] is False
    for key, value, after in [('mtu', 9000, 9000), ('mac', '02:AA:BB:CC:DD:EE', '02:aa:bb:cc:dd:ee'),
                              ('stp', True, True), ('stp', False, False), ('vlan_filtering', False, False),
                              ('up', False, False), ('up', True, True),
                              ('addresses', ['fd00::5/64', '10.0.0.1/8'], ['10.0.0.1/8', 'fd00::5/64']),
                              ('addresses', [], [])]:
        args = dict(base, **{key: value})
        res = module('cni_bridge', args)
        assert 'failed' not in res, res
        assert state(netns, name)[key] == after, (key, value)
        again = module('cni_bridge', args)
        assert again['changed'] is False, (key, value, again)
    # a kernel-made IPv6 link-local address is neither reported nor removed
    ip(netns, 'addr', 'add', 'fe80::1234/64', 'dev', name)
    res = module('cni_bridge', dict(base, addresses=['10.1.1.1/24']))
    assert res['drift'] == [dict(path='link/%s/addresses' % name, before=[], after=['10.1.1.1/24'])]
    assert 'fe80::1234/64' in ip(netns, 'addr', 'show', 'dev', name)


def test_vlan_filtering_true(module, netns):
    """Either the kernel supports it (set, idempotent) or the run fails naming it, with nothing changed."""
    name = unique('cnb')
    args = dict(name=name, netns=netns, vlan_filtering=True, mtu=1400)
    res = module('cni_bridge', args)
    if res.get('failed'):
        assert res['param'] == 'vlan_filtering' and 'vlan_filtering' in res['msg'], res
        assert state(netns, name) is None, 'a failed create left the bridge behind'
        module('cni_bridge', dict(name=name, netns=netns, mtu=1500))
        res = module('cni_bridge', args)
        assert res.get('failed') and res['param'] == 'vlan_filtering'
        assert state(netns, name)['mtu'] == 1500, 'a failed run left a change behind'
    else:
        assert state(netns, name)['vlan_filtering'] is True
        assert module('cni_bridge', args)['changed'] is False


@pytest.mark.parametrize('args, param, words', [
    (dict(addresses=['10.0.0.300/24']), 'addresses', 'not a valid CIDR'),
    (dict(addresses=['10.0.0.1']), 'addresses', 'prefix length'),
    (dict(addresses=['10.0.0.1/33']), 'addresses', 'not a valid CIDR'),
    (dict(name='a-very-long-bridge0'), 'name', 'at most 15'),
    (dict(name='br/0'), 'name', 'not a valid interface name'),
    (dict(mtu=67), 'mtu', 'mtu: 67 is out of range: a bridge takes 68 to 65535'),
    (dict(mtu=70000), 'mtu', 'mtu: 70000 is out of range'),
    (dict(mac='01:00:5e:00:00:01'), 'mac',
     "mac: '01:00:5e:00:00:01' is a multicast address: a bridge needs a unicast MAC"),
    (dict(mac='zz:00:00:00:00:01'), 'mac', "mac: 'zz:00:00:00:00:01' is not a MAC"),
])
def test_bad_input(module, netns, args, param, words):
    name = unique('cnb')
    ip(netns, 'link', 'add', name, 'type', 'bridge')
    ip(netns, 'addr', 'add', '10.5.5.5/24', 'dev', name)
    before = state(netns, name)
    res = module('cni_bridge', dict(dict(name=name, netns=netns, mtu=1300, addresses=['10.6.6.6/24']), **args))
    assert res.get('failed') and res['param'] == param and words in res['msg'], res
    assert state(netns, name) == before
    listing = ip(netns, '-o', 'link', 'show')
    assert 'a-very-long' not in listing and 'br/0' not in listing


@pytest.mark.parametrize('interpreter', INTERPRETERS, indirect=True)
def test_a_name_template_is_refused_before_any_change(module, netns, interpreter):
    """The kernel reads 'vx%d' as a template and would create vx0: the module refuses it, creates nothing."""
    before = ip(netns, '-o', 'link', 'show')
    for name in ('vx%d', 'br%d'):
        for check in (True, False):
            res = module('cni_bridge', dict(name=name, netns=netns, addresses=['10.6.6.6/24']), check=check,
                         python=interpreter)
            assert res.get('failed') is True and res['param'] == 'name', res
            assert res['msg'].startswith("name %r is not a valid interface name: the kernel reads '%%' as a name "
                                         "template" % name), res['msg']
    assert ip(netns, '-o', 'link', 'show') == before


def test_existing_link_of_another_kind(module, netns):
    name = unique('cnd')
    ip(netns, 'link', 'add', name, 'mtu', '1400', 'type', 'veth', 'peer', 'name', unique('cnp'))
    for args in (dict(mtu=1500), dict(state='absent')):
        for check in (True, False):
            res = module('cni_bridge', dict(args, name=name, netns=netns), check=check)
            assert res.get('failed') and res['param'] == 'name' and 'veth' in res['msg'], res
            assert res['kind'] == 'veth', res
            if args.get('state') == 'absent':
                assert 'state=absent removes only a bridge and never deletes a link of another kind' in res['msg']
    assert '"veth"' in ip(netns, '-j', '-d', 'link', 'show', 'dev', name)
    assert '1400' in ip(netns, 'link', 'show', 'dev', name)


def test_missing_namespace(module):
    missing = unique()
    for check in (True, False):
        res = module('cni_bridge', dict(name='cnb0', netns=missing), check=check)
        assert res.get('failed') and res['param'] == 'netns' and 'does not exist' in res['msg'], res
    assert not os.path.exists('/run/netns/' + missing)
