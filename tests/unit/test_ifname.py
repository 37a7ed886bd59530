# -*- coding: utf-8 -*-
"""Interface names: the one check of every argument that names a Linux link, on its UTF-8 bytes (no kernel
needed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _bridge, _namedns, _vxlan
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError
from ansible_collections.cni.node.plugins.module_utils._ifname import check_ifname, taken


@pytest.mark.parametrize('name', ['eth0', 'cni0', 'a', 'x' * 15, 'br-1.100', u'br\u00e9' * 3, 'veth@1', '...'])
def test_valid_interface_names(name):
    assert check_ifname(name, 'dev') == name


@pytest.mark.parametrize('name,needle', [
    ('', 'dev: an interface name is required'),
    (None, 'dev: an interface name is required'),
    (7, 'dev: an interface name is required'),
    ('x' * 16, "dev 'xxxxxxxxxxxxxxxx' is 16 bytes long: a Linux interface name has at most 15"),
    (u'\u00e9' * 8, 'is 16 bytes long: a Linux interface name has at most 15'),
    ('.', "dev '.' is not a valid interface name (1 to 15 bytes of UTF-8, no NUL, '/', ':', '%' or whitespace; "
          "not '.' or '..')"),
    ('..', "not '.' or '..'"),
    ('a/b', 'is not a valid interface name'),
    ('a:b', 'is not a valid interface name'),
    ('a b', 'is not a valid interface name'),
    ('a\tb', 'is not a valid interface name'),
    ('eth0\n', 'is not a valid interface name'),
])
def test_invalid_interface_names_name_the_argument(name, needle):
    with pytest.raises(ParameterError) as err:
        check_ifname(name, 'dev')
    assert err.value.param == 'dev'
    assert needle in err.value.msg
    assert err.value.msg.startswith('dev')


# What the kernel's dev_valid_name refuses, on the UTF-8 bytes: NUL, '/', ':' and the bytes its isspace()
# matches (0x09-0x0d, 0x20, 0xa0, also inside a multi-byte character); '%' is a name template to the kernel.
@pytest.mark.parametrize('name,needle', [
    ('vx%d', "dev 'vx%d' is not a valid interface name: the kernel reads '%' as a name template (vx%d becomes vx0"),
    ('%', 'name template'),
    ('a%sb', 'name template'),
    ('a\x00b', 'it contains a NUL'),
    ('a/b', "it contains '/'"),
    ('a:b', "it contains ':'"),
    ('a b', 'it contains whitespace (byte 0x20)'),
    ('a\tb', 'it contains whitespace (byte 0x09)'),
    ('a\nb', 'it contains whitespace (byte 0x0a)'),
    ('a\x0bb', 'it contains whitespace (byte 0x0b)'),
    ('a\x0cb', 'it contains whitespace (byte 0x0c)'),
    ('a\rb', 'it contains whitespace (byte 0x0d)'),
    (u'a\u00a0b', "it contains '\\xa0', whose UTF-8 bytes c2 a0 include 0xa0, a byte the kernel reads as whitespace"),
    (u'br\u00e0', "it contains '\xe0', whose UTF-8 bytes c3 a0 include 0xa0"),
    (u'a\u0800', 'whose UTF-8 bytes e0 a0 80 include 0xa0'),
    (u'a\u2020', 'whose UTF-8 bytes e2 80 a0 include 0xa0'),
    (u'a\udc80', 'not valid UTF-8 text'),
])
def test_names_the_kernel_refuses_or_misreads_are_refused_on_their_bytes(name, needle):
    with pytest.raises(ParameterError) as err:
        check_ifname(name, 'dev')
    assert err.value.param == 'dev'
    assert err.value.msg.startswith('dev %r is not a valid interface name' % name), err.value.msg
    assert needle in err.value.msg, err.value.msg
    assert err.value.msg.endswith("(1 to 15 bytes of UTF-8, no NUL, '/', ':', '%' or whitespace; not '.' or '..')")


# Python's isspace() and \s match more than the kernel's isspace(): these the kernel takes as they are.
@pytest.mark.parametrize('name', ['a\x1cb', 'a\x1db', 'a\x1eb', 'a\x1fb', u'a\x85b', u'a\u2000b', u'a\u2028b',
                                  u'a\u3000b', u'a\u1680b', u'a\u00e9b', 'a\x7fb', 'a!#$&*b'])
def test_bytes_the_kernel_accepts_are_accepted_even_where_python_sees_whitespace(name):
    assert check_ifname(name, 'dev') == name


@pytest.mark.parametrize('make,param,required', [
    (_bridge.Spec, 'name', 'name: a bridge name is required'),
    (lambda n: _vxlan.Spec(n, vni=1, dev='eth0'), 'name', 'name: a VXLAN device name is required'),
    (lambda n: _vxlan.Spec('vx0', vni=1, dev=n or 7), 'dev', 'dev: an interface name is required'),
    (lambda n: _vxlan.Spec('vx0', vni=1, dev='eth0', master=n or 7), 'master',
     'master: an interface name is required'),
    (lambda n: _namedns.VethSpec(n, 'vh0'), 'veth.name', 'veth.name: an interface name is required'),
    (lambda n: _namedns.VethSpec('eth0', n), 'veth.peer', 'veth.peer: an interface name is required'),
    (lambda n: _namedns.VethSpec('eth0', 'vh0', master=n or 7), 'veth.master',
     'veth.master: an interface name is required'),
])
def test_every_link_name_argument_uses_the_one_check(make, param, required):
    for bad, needle in ((None, required), ('a-name-far-too-long', 'at most 15'),
                        ('br/0', 'not a valid interface name')):
        with pytest.raises(ParameterError) as err:
            make(bad)
        assert err.value.param == param, err.value.msg
        assert err.value.msg.startswith(param + (':' if bad is None else ' ')), err.value.msg
        assert needle in err.value.msg


def test_taken_says_what_the_link_is_and_what_to_do():
    err = taken('cni0', 'veth', 'a bridge')
    assert err.param == 'name' and err.details == dict(kind='veth')
    assert err.msg == "name: a link called 'cni0' exists already and is a veth, not a bridge; the module does " \
                      "not replace it"
    err = taken('eth0', None, 'a VXLAN device', state='absent', netns='ns1')
    assert err.details == dict(kind=None)
    assert "exists in network namespace 'ns1' and is of no kind (a physical device?)" in err.msg
    assert 'state=absent removes only a VXLAN device and never deletes a link of another kind' in err.msg
