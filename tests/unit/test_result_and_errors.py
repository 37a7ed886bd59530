# -*- coding: utf-8 -*-
"""The shared result shape and the errno -> typed error mapping."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno

import pytest

from ansible_collections.cni.node.plugins.module_utils import _errors
from ansible_collections.cni.node.plugins.module_utils._netlink import typed_error
from ansible_collections.cni.node.plugins.module_utils._result import Changes


def test_no_difference_is_not_recorded():
    c = Changes()
    assert c.add('link/br0/mtu', 1500, 1500) is False
    assert not c.changed and c.result() == dict(changed=False, drift=[], diff=[])


def test_drift_and_diff_per_area():
    c = Changes()
    c.add('link/br0/mtu', 1500, 1450)
    c.add('link/br0/up', False, True)
    c.add('sysctl/net.ipv4.ip_forward', '0', '1')
    c.add_text('/etc/x.conf', None, 'a\n')
    res = c.result(diff_mode=True, name='br0')
    assert res['changed'] and res['name'] == 'br0'
    assert res['drift'] == [
        dict(path='link/br0/mtu', before=1500, after=1450),
        dict(path='link/br0/up', before=False, after=True),
        dict(path='sysctl/net.ipv4.ip_forward', before='0', after='1'),
    ]
    assert res['diff'][0] == dict(before={'br0/mtu': 1500, 'br0/up': False}, after={'br0/mtu': 1450, 'br0/up': True},
                                  before_header='link', after_header='link')
    assert res['diff'][1]['before'] == {'net.ipv4.ip_forward': '0'}
    assert res['diff'][2] == dict(before='', after='a\n', before_header='/etc/x.conf (absent)',
                                  after_header='/etc/x.conf (after)')
    assert 'diff' not in c.result(diff_mode=False)


class FakeNetlinkError(Exception):
    def __init__(self, code):
        super(FakeNetlinkError, self).__init__(code)
        self.code = code


@pytest.mark.parametrize('code, cls', [
    (errno.ENODEV, _errors.NoSuchObject), (errno.EEXIST, _errors.ObjectExists),
    (errno.EOPNOTSUPP, _errors.NotSupported), (errno.EPERM, _errors.PermissionDenied),
    (errno.EINVAL, _errors.KernelRefused), (errno.EMLINK, _errors.CniNodeError),
])
def test_typed_error(code, cls):
    err = typed_error(FakeNetlinkError(code), 'setting mtu of br0')
    assert err.__class__ is cls
    assert str(err).startswith('setting mtu of br0: ')


def test_fail_kwargs_name_the_parameter():
    err = _errors.ParameterError('params.x: bad', param='params', key='x')
    assert err.to_fail_kwargs() == dict(msg='params.x: bad', param='params', key='x')
