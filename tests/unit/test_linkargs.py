# -*- coding: utf-8 -*-
"""The one home of link arguments: MTU, MAC and address-set checks, managed addresses (no kernel needed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.cni.node.plugins.module_utils import _linkargs
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError


def refused(fn, *args, **kwargs):
    with pytest.raises(ParameterError) as err:
        fn(*args, **kwargs)
    return err.value


# MTU and numbers -----------------------------------------------------------

@pytest.mark.parametrize('mtu', [None, 68, 1450, 9000, 65535])
def test_mtus_in_range_are_taken(mtu):
    assert _linkargs.check_mtu(mtu, 'veth.mtu', 'a veth') == mtu


@pytest.mark.parametrize('mtu', [67, 65536, 0, -1, True, '1400', 1400.0])
@pytest.mark.parametrize('param,who', [('mtu', 'a bridge'), ('veth.mtu', 'a veth')])
def test_mtus_out_of_range_name_the_parameter_and_who_takes_what(mtu, param, who):
    err = refused(_linkargs.check_mtu, mtu, param, who)
    assert err.param == param
    assert err.msg == '%s: %r is out of range: %s takes 68 to 65535' % (param, mtu, who)


@pytest.mark.parametrize('value,number', [(1, 1), ('42', 42), (' 4789 ', 4789), (16777215, 16777215)])
def test_numbers_may_be_given_as_text(value, number):
    assert _linkargs.check_int(value, 'vni', 1, 16777215, 'a VXLAN network identifier') == number


@pytest.mark.parametrize('value', [0, 16777216, True, False, None, 'big', '1.5', ''])
def test_numbers_out_of_range_or_not_numbers_name_the_parameter(value):
    err = refused(_linkargs.check_int, value, 'vni', 1, 16777215, 'a VXLAN network identifier')
    assert err.param == 'vni'
    assert err.msg == 'vni: %r is out of range: a VXLAN network identifier takes 1 to 16777215' % (value,)


def test_the_error_names_the_module_argument_when_the_message_names_a_part_of_it():
    err = refused(_linkargs.check_int, 0, 'peers[2].port', 1, 65535, 'a UDP port', arg='peers')
    assert err.param == 'peers' and err.msg.startswith('peers[2].port: 0 is out of range')


# MAC addresses -------------------------------------------------------------

@pytest.mark.parametrize('mac,norm', [
    ('02:42:ac:11:00:01', '02:42:ac:11:00:01'),
    ('02:42:AC:11:00:01', '02:42:ac:11:00:01'),
    ('02-42-ac-11-00-01', '02:42:ac:11:00:01'),
    (' 0e:04:c0:a8:0a:0b\n', '0e:04:c0:a8:0a:0b'),
    (None, None),
])
def test_unicast_macs_are_taken_normalised(mac, norm):
    assert _linkargs.check_mac(mac, 'mac', 'a bridge') == norm


@pytest.mark.parametrize('mac,problem', [
    ('zz:00:00:00:00:01', "'zz:00:00:00:00:01' is not a MAC address (six hex octets, e.g. 02:42:ac:11:00:01)"),
    ('02:42:ac:11:00', "'02:42:ac:11:00' is not a MAC address"),
    ('02:42:ac:11:00:01:02', 'is not a MAC address'),
    ('0242.ac11.0001', 'is not a MAC address'),
    ('', "'' is not a MAC address"),
    (7, '7 is not a MAC address'),
    ('01:00:5e:00:00:01', "'01:00:5e:00:00:01' is a multicast address: %s needs a unicast MAC"),
    ('ff:ff:ff:ff:ff:ff', 'is a multicast address: %s needs a unicast MAC'),
    ('00:00:00:00:00:00', "'00:00:00:00:00:00' is the zero address: %s needs a unicast MAC"),
])
@pytest.mark.parametrize('param,arg,who', [('mac', 'mac', 'a bridge'), ('mac', 'mac', 'a VXLAN device'),
                                           ('peers[3].vtep_mac', 'peers', 'a VXLAN tunnel endpoint')])
def test_bad_macs_name_the_parameter_and_what_needs_a_unicast_one(mac, problem, param, arg, who):
    err = refused(_linkargs.check_mac, mac, param, who, arg=arg if arg != param else None)
    assert err.param == arg
    assert err.msg.startswith(param + ': ')
    assert (problem % who if '%s' in problem else problem) in err.msg
    assert 'bridge' not in err.msg or who == 'a bridge'


@pytest.mark.parametrize('value', ['02:42:ac:11:00:01', '0A-58-0A-16-00-05', '01:00:5e:00:00:01',
                                   '00:00:00:00:00:00', '0a:58-0a:16:00:05'])
def test_the_mac_form_alone_takes_any_six_octets(value):
    """As a network configuration's ``mac`` is checked: the form only, blanks not ignored."""
    assert _linkargs.mac_problem(value) is None
    assert _linkargs.parse_mac(value) == value.lower().replace('-', ':')


@pytest.mark.parametrize('value', [' 02:42:ac:11:00:01', '02:42:ac:11:00:01\n', '02:42:ac:11:00:0g', '0242ac110001'])
def test_the_mac_form_alone_refuses_anything_else(value):
    assert _linkargs.mac_problem(value) == '%r is not a MAC address (six hex octets, e.g. 02:42:ac:11:00:01)' % value
    assert _linkargs.parse_mac(value) is None


# Address sets --------------------------------------------------------------

def test_addresses_are_normalised_deduplicated_and_sorted():
    given = ['10.99.0.2/16', '10.244.1.2/24', 'FD00::0002/64', '10.244.1.2/24', ' 192.0.2.7/32 ']
    assert _linkargs.check_addresses(given) == ['10.244.1.2/24', '10.99.0.2/16', '192.0.2.7/32', 'fd00::2/64']
    assert _linkargs.check_addresses(given, key=_linkargs.by_address) == [
        '10.99.0.2/16', '10.244.1.2/24', '192.0.2.7/32', 'fd00::2/64']
    assert _linkargs.check_addresses(None) is None and _linkargs.check_addresses([]) == []


@pytest.mark.parametrize('addresses,problem', [
    (['10.0.0.1'], "'10.0.0.1' has no prefix length: write it in CIDR form, e.g. 10.9.9.9/24"),
    (['10.0.0.300/24'], "'10.0.0.300/24' is not a valid CIDR address ("),
    (['10.0.0.1/33'], "'10.0.0.1/33' is not a valid CIDR address ("),
    (['224.0.0.1/4'], "'224.0.0.1/4' is not a unicast host address"),
    (['0.0.0.0/0'], "'0.0.0.0/0' is not a unicast host address"),
    (['::/0'], "'::/0' is not a unicast host address"),
    ('10.0.0.1/24', 'a list of CIDR addresses, e.g. [10.9.9.9/24]'),
    (dict(a=1), 'a list of CIDR addresses'),
])
@pytest.mark.parametrize('param', ['addresses', 'veth.addresses'])
def test_bad_addresses_name_the_parameter(addresses, problem, param):
    err = refused(_linkargs.check_addresses, addresses, param, '10.9.9.9/24')
    assert err.param == param
    assert err.msg.startswith('%s: %s' % (param, problem)), err.msg


def test_managed_addresses_leave_out_link_local_ones_unless_listed():
    dump = [dict(index=2, address='fe80::1', prefixlen=64), dict(index=2, address='10.244.1.2', prefixlen=24),
            dict(index=3, address='10.99.0.2', prefixlen=16), dict(index=2, address='fe80::2', prefixlen=10),
            dict(index=2, address='10.244.1.2', prefixlen=24)]
    assert _linkargs.managed_addresses(dump, None) == ['10.244.1.2/24', '10.99.0.2/16', 'fe80::2/10']
    assert _linkargs.managed_addresses(dump, ['fe80::1/64'], index=2) == ['10.244.1.2/24', 'fe80::1/64',
                                                                          'fe80::2/10']
    assert _linkargs.managed_addresses(dump, None, key=_linkargs.by_address) == [
        '10.99.0.2/16', '10.244.1.2/24', 'fe80::2/10']


def test_text_of_any_value():
    assert _linkargs.text(5) == u'5' and _linkargs.text(u'\u00e9') == u'\u00e9' and _linkargs.text(None) == u'None'
