# -*- coding: utf-8 -*-
"""The CNI configuration core: what is accepted, what is refused (and where), what compares equal."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cnispec
from ansible_collections.cni.node.plugins.module_utils._cnispec import ConfigError, normalise_conf, normalise_list
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

# The CNI specification's own examples (comments removed): SPEC.md 1.1.0 section 1,
# 1.0.0 section 1, 0.4.0 "Example network configuration lists".
SPEC_110 = {
    "cniVersion": "1.1.0",
    "cniVersions": ["0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    "name": "dbnet",
    "plugins": [
        {"type": "bridge", "bridge": "cni0", "keyA": ["some more", "plugin specific", "configuration"],
         "ipam": {"type": "host-local", "subnet": "10.1.0.0/16", "gateway": "10.1.0.1",
                  "routes": [{"dst": "0.0.0.0/0"}]},
         "dns": {"nameservers": ["10.1.0.1"]}},
        {"type": "tuning", "capabilities": {"mac": True}, "sysctl": {"net.core.somaxconn": "500"}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}
SPEC_100 = dict(copy.deepcopy(SPEC_110), cniVersion="1.0.0")
del SPEC_100['cniVersions']
SPEC_040_LIST = {
    "cniVersion": "0.4.0", "name": "dbnet",
    "plugins": [
        {"type": "bridge", "bridge": "cni0", "args": {"labels": {"appVersion": "1.0"}},
         "ipam": {"type": "host-local", "subnet": "10.1.0.0/16", "gateway": "10.1.0.1"},
         "dns": {"nameservers": ["10.1.0.1"]}},
        {"type": "tuning", "sysctl": {"net.core.somaxconn": "500"}},
    ],
}
# 0.4.0 "Example configurations" (legacy single-plugin files).
SPEC_040_CONFS = [
    {"cniVersion": "0.4.0", "name": "dbnet", "type": "bridge", "bridge": "cni0",
     "ipam": {"type": "host-local", "subnet": "10.1.0.0/16", "gateway": "10.1.0.1"},
     "dns": {"nameservers": ["10.1.0.1"]}},
    {"cniVersion": "0.4.0", "name": "pci", "type": "ovs", "bridge": "ovs0", "vxlanID": 42,
     "ipam": {"type": "dhcp", "routes": [{"dst": "10.3.0.0/16"}, {"dst": "10.4.0.0/16"}]},
     "args": {"labels": {"appVersion": "1.0"}}},
    {"cniVersion": "0.4.0", "name": "wan", "type": "macvlan",
     "ipam": {"type": "dhcp", "routes": [{"dst": "10.0.0.0/8", "gw": "10.0.0.1"}]},
     "dns": {"nameservers": ["10.0.0.1"]}},
]


def lst(*plugins, **top):
    out = {"cniVersion": "1.0.0", "name": "net1", "plugins": list(plugins)}
    out.update(top)
    return out


def hl(**ipam):
    return {"type": "bridge", "bridge": "cnb0", "ipam": dict({"type": "host-local"}, **ipam)}


VALID_LISTS = [
    SPEC_110, SPEC_100, SPEC_040_LIST,
    # L2-only interfaces: no ipam, or an empty one (as the plugins' docs show).
    lst({"type": "bridge", "bridge": "cnb0", "ipam": {}}),
    lst({"type": "macvlan", "master": "eth0"}),
    lst({"type": "macvlan", "master": "eth0", "ipam": {}}),
    lst({"type": "ipvlan", "master": "eth0", "ipam": {}}),
    lst({"type": "vlan", "master": "eth0", "vlanId": 10}),
    lst({"type": "loopback"}),
    lst({"type": "loopback"}, cniVersion="0.1.0"),
    lst({"type": "loopback"}, cniVersion="0.2.0"),
    lst({"type": "loopback"}, cniVersion="0.3.0"),
    lst({"type": "loopback"}, cniVersion="0.3.1"),
    lst(hl(ranges=[[{"subnet": "10.22.0.0/24", "rangeStart": "10.22.0.10", "rangeEnd": "10.22.0.200",
                     "gateway": "10.22.0.1"}],
                   [{"subnet": "fd00:22::/64"}]],
           routes=[{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:22::1"}], dataDir="/run/cni-ipam")),
    lst(hl(ranges=[[{"subnet": "10.22.0.0/25"}, {"subnet": "10.22.0.128/25"}]])),   # two ranges in one set
    lst(hl(subnet="10.22.0.0/30")),   # smallest subnet host-local can allocate from
    lst({"type": "bridge", "capabilities": {"ipRanges": True}, "ipam": {"type": "host-local"}}),
    lst({"type": "ptp", "ipMasq": True, "mtu": 1450, "ipam": {"type": "static", "addresses": [
        {"address": "10.9.0.5/24", "gateway": "10.9.0.1"}, {"address": "fd00::5/64"}],
        "routes": [{"dst": "0.0.0.0/0"}], "dns": {"nameservers": ["10.9.0.1"]}}}),
    lst({"type": "macvlan", "master": "eth0", "mode": "bridge", "ipam": {"type": "dhcp"}}),
    lst({"type": "ipvlan", "master": "eth0", "mode": "l3s", "ipam": {"type": "dhcp"}}),
    lst({"type": "vlan", "master": "eth0", "vlanId": 100, "ipam": {"type": "dhcp"}}),
    lst({"type": "host-device", "device": "eth1"}),
    lst(hl(subnet="10.0.0.0/24"), {"type": "firewall", "backend": "iptables", "ingressPolicy": "same-bridge"}),
    lst(hl(subnet="10.0.0.0/24"), {"type": "tuning", "mtu": 1400, "promisc": True, "sysctl": {"net.ipv4.x": "1"}}),
    lst(hl(subnet="10.0.0.0/24"), {"type": "bandwidth", "ingressRate": 1000000, "ingressBurst": 100000}),
    lst(hl(subnet="10.0.0.0/24"), {"type": "sbr", "table": 100}),
    lst(hl(subnet="10.0.0.0/24"), {"type": "vrf", "vrfname": "blue", "table": 1001}),
    lst(hl(subnet="10.0.0.0/24"), {"type": "portmap", "snat": True, "backend": "nftables",
                                   "capabilities": {"portMappings": True}}),
    lst({"type": "bridge", "vlan": 10, "vlanTrunk": [{"minID": 100, "maxID": 200}, {"id": 300}],
         "ipam": {"type": "host-local", "subnet": "10.0.0.0/24"}}),
    lst({"type": "calico", "etcd_endpoints": "http://x", "ipam": {"type": "calico-ipam", "anything": [1]}}),
    lst({"type": "loopback"}, disableCheck=True, disableGC=True, cniVersion="1.1.0"),
    lst({"type": "loopback"}, disableCheck="true", loadOnlyInlinedPlugins="FALSE"),
]


@pytest.mark.parametrize('conf', VALID_LISTS, ids=range(len(VALID_LISTS)))
def test_valid_lists_are_accepted(conf):
    before = copy.deepcopy(conf)
    out = normalise_list(conf)
    assert conf == before, 'the input must not be modified'
    assert out['name'] == conf['name'] and len(out['plugins']) == len(conf['plugins'])
    # Normalising is idempotent, and the rendered text parses back to the same form.
    assert normalise_list(out) == out
    assert normalise_list(json.loads(_cnispec.render(out))) == out


@pytest.mark.parametrize('conf', SPEC_040_CONFS, ids=['bridge', 'ovs', 'macvlan'])
def test_spec_legacy_confs_are_accepted(conf):
    out = normalise_conf(conf)
    assert out['name'] == conf['name'] and out['cniVersion'] == '0.4.0'
    assert out['plugins'][0]['type'] == conf['type'] and 'name' not in out['plugins'][0]


def test_third_party_keys_pass_through_untouched():
    conf = lst({"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}, "x": [1, 2.5]})
    out = normalise_list(conf)
    assert out['plugins'][0] == conf['plugins'][0]
    out = normalise_list(dict(conf, kubernetes={"k": 1}))   # unknown list-level keys too
    assert out['kubernetes'] == {"k": 1}


INVALID = [
    # (config, JSON path in the message, words of the message)
    (lst({"type": "loopback"}, name="net\n"), 'name', 'not a valid network name'),
    (lst({"type": "ptp"}), 'plugins[0]', 'needs an "ipam" object'),
    (lst({"type": "ptp", "ipam": {}}), 'plugins[0].ipam', 'needs "type"'),
    (lst(hl(ranges=[[{"subnet": "10.1.0.0/24", "gateway": "fe80::1%eth0"}]])),
     'plugins[0].ipam.ranges[0][0].gateway', 'not an IP address'),
    (lst(hl(ranges=[[{"subnet": "10.1.0.0/255.255.255.0"}]])),
     'plugins[0].ipam.ranges[0][0].subnet', 'prefix length must be a number'),
    (lst({"type": "loopback"}, name="-bad"), 'name', 'not a valid network name'),
    (lst({"type": "loopback"}, name="a/b"), 'name', 'letters, digits'),
    ({"cniVersion": "1.0.0", "plugins": [{"type": "loopback"}]}, 'name', 'missing'),
    (lst({"type": "loopback"}, cniVersion="1.2.0"), 'cniVersion', '0.1.0, 0.2.0'),
    (lst({"type": "loopback"}, cniVersion="v1"), 'cniVersion', 'not a version'),
    (lst({"type": "loopback"}, cniVersion=1), 'cniVersion', 'not a version string'),
    (lst({"type": "loopback"}, cniVersions=["1.0.0", "2.0"]), 'cniVersions[1]', 'not a CNI specification version'),
    (lst({"type": "loopback"}, disableCheck="yes"), 'disableCheck', 'true or false'),
    (lst(), 'plugins', 'empty'),
    ({"cniVersion": "1.0.0", "name": "n", "loadOnlyInlinedPlugins": True}, 'plugins', 'loadOnlyInlinedPlugins'),
    (lst({"bridge": "x"}), 'plugins[0]', 'needs "type"'),
    (lst({"type": "../bin/sh"}), 'plugins[0].type', 'plain file name'),
    (lst("bridge"), 'plugins[0]', 'plugin configuration object'),
    (lst({"type": "bridge", "runtimeConfig": {}}), 'plugins[0].runtimeConfig', 'generated by the runtime'),
    (lst({"type": "bridge", "cni.dev/x": 1}), 'plugins[0].cni.dev/x', 'generated by the runtime'),
    (lst({"type": "bridge", "mtu": "1500"}), 'plugins[0].mtu', 'expected an MTU'),
    (lst({"type": "bridge", "mtu": 1500.0}), 'plugins[0].mtu', 'a number'),
    (lst({"type": "bridge", "isGateway": "yes"}), 'plugins[0].isGateway', 'true or false'),
    (lst({"type": "bridge", "vlan": 4095}), 'plugins[0].vlan', 'from 0 to 4094'),
    (lst({"type": "bridge", "bridge": "a-very-long-bridge-name"}), 'plugins[0].bridge',
     "'a-very-long-bridge-name' is 23 bytes long: a Linux interface name has at most 15"),
    # 15 characters but 17 bytes: the kernel counts bytes (IFNAMSIZ).
    (lst({"type": "bridge", "bridge": u"br\u00fccke-\u00fcber-012"}), 'plugins[0].bridge',
     "is 17 bytes long: a Linux interface name has at most 15"),
    (lst({"type": "bridge", "bridge": "br:0"}), 'plugins[0].bridge', 'not a valid interface name'),
    (lst({"type": "bridge", "bridge": "br 0"}), 'plugins[0].bridge', 'not a valid interface name'),
    (lst({"type": "bridge", "vlanTrunk": [{"minID": 5}]}), 'plugins[0].vlanTrunk[0]', 'minID and maxID'),
    (lst({"type": "bridge", "vlanTrunk": [{"minID": 9, "maxID": 5}]}), 'plugins[0].vlanTrunk[0].maxID', 'below'),
    (lst({"type": "bridge", "capabilities": {"portMappings": "true"}}), 'plugins[0].capabilities.portMappings',
     'true or false'),
    (lst({"type": "bridge", "dns": {"nameservers": ["1.1.1"]}}), 'plugins[0].dns.nameservers[0]',
     'not an IP address'),
    (lst({"type": "bridge", "ipam": {"subnet": "10.0.0.0/24"}}), 'plugins[0].ipam', 'needs "type"'),
    (lst(hl()), 'plugins[0].ipam', 'host-local needs address ranges'),
    (lst(hl(subnet="10.0.0.1/24")), 'plugins[0].ipam.subnet', 'network address of that prefix is 10.0.0.0/24'),
    (lst(hl(subnet="10.0.0.0")), 'plugins[0].ipam.subnet', 'no prefix length'),
    (lst(hl(subnet="10.0.0.0/31")), 'plugins[0].ipam.subnet', 'too small'),
    (lst(hl(subnet="10.0.0.0/24", rangeEnd="10.0.1.5")), 'plugins[0].ipam.rangeEnd', 'not inside subnet'),
    (lst(hl(ranges=[[{"subnet": "10.22.0.0/24", "rangeEnd": "10.22.0.300"}]])),
     'plugins[0].ipam.ranges[0][0].rangeEnd', 'not an IP address'),
    (lst(hl(ranges=[[{"subnet": "10.22.0.0/24", "rangeEnd": "10.22.1.10"}]])),
     'plugins[0].ipam.ranges[0][0].rangeEnd', 'from 10.22.0.0 to 10.22.0.255'),
    (lst(hl(ranges=[[{"subnet": "10.22.0.0/24", "rangeStart": "10.22.0.100", "rangeEnd": "10.22.0.10"}]])),
     'plugins[0].ipam.ranges[0][0].rangeEnd', 'before rangeStart'),
    (lst(hl(ranges=[[{"subnet": "10.22.0.0/24", "gateway": "10.23.0.1"}]])),
     'plugins[0].ipam.ranges[0][0].gateway', 'not inside subnet'),
    (lst(hl(ranges=[[{"subnet": "10.22.0.0/24", "rangeStart": "fd00::1"}]])),
     'plugins[0].ipam.ranges[0][0].rangeStart', 'not inside subnet'),
    (lst(hl(ranges=[[{"subnet": "10.22.0.0/24"}, {"subnet": "10.22.0.128/25"}]])),
     'plugins[0].ipam.ranges[0][1]', 'overlaps plugins[0].ipam.ranges[0][0]'),
    (lst(hl(ranges=[[{"subnet": "10.22.0.0/24"}, {"subnet": "fd00::/64"}]])),
     'plugins[0].ipam.ranges[0][1].subnet', 'one address family'),
    (lst(hl(ranges=[[{"subnet": "10.22.0.0/24"}], [{"subnet": "10.22.0.0/25"}]])),
     'plugins[0].ipam.ranges[1]', 'range sets must not overlap'),
    (lst(hl(ranges=[[]])), 'plugins[0].ipam.ranges[0]', 'empty range set'),
    (lst(hl(ranges=[{"subnet": "10.0.0.0/24"}])), 'plugins[0].ipam.ranges[0]', 'a list of range objects'),
    (lst(hl(ranges=[[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.1.0.0/24"}]]), cniVersion="0.2.0"),
     'plugins[0].ipam.ranges', 'one range set per address family'),
    (lst(hl(subnet="10.0.0.0/24", routes=[{"gw": "10.0.0.1"}])), 'plugins[0].ipam.routes[0]', 'needs "dst"'),
    (lst(hl(subnet="10.0.0.0/24", routes=[{"dst": "10.1.0.1/16"}])), 'plugins[0].ipam.routes[0].dst',
     'host bits'),
    (lst(hl(subnet="10.0.0.0/24", routes=[{"dst": "0.0.0.0/0", "gw": "fd00::1"}])),
     'plugins[0].ipam.routes[0].gw', 'expected an IPv4 address'),
    (lst(hl(subnet="10.0.0.0/24", dataDir="relative")), 'plugins[0].ipam.dataDir', 'absolute'),
    (lst({"type": "ptp", "ipam": {"type": "static", "addresses": [{"address": "10.0.0.5"}]}}),
     'plugins[0].ipam.addresses[0].address', 'no prefix length'),
    (lst({"type": "ptp"}), 'plugins[0]', 'needs an "ipam" object'),
    (lst({"type": "macvlan", "mode": "bridged", "ipam": {"type": "dhcp"}}), 'plugins[0].mode', "'vepa'"),
    (lst({"type": "ipvlan", "mode": "l4", "ipam": {"type": "dhcp"}}), 'plugins[0].mode', "'l3s'"),
    (lst({"type": "vlan", "vlanId": -1, "ipam": {"type": "dhcp"}}), 'plugins[0].vlanId', 'from 0 to 4094'),
    (lst({"type": "host-device", "hwaddr": "zz"}), 'plugins[0].hwaddr', 'MAC address'),
    (lst({"type": "portmap", "backend": "ipvs"}), 'plugins[0].backend', "'iptables'"),
    (lst({"type": "firewall", "ingressPolicy": "closed"}), 'plugins[0].ingressPolicy', "'isolated'"),
    (lst({"type": "tuning", "sysctl": {"net.core.somaxconn": 500}}), 'plugins[0].sysctl.net.core.somaxconn',
     'passed as strings'),
    (lst({"type": "bandwidth", "ingressRate": 1000}), 'plugins[0].ingressBurst', 'is needed too'),
    (lst({"type": "bandwidth", "egressRate": -1, "egressBurst": 1}), 'plugins[0].egressRate', 'out of range'),
    (lst({"type": "sbr", "gateways": ["x"]}), 'plugins[0].gateways[0]', 'not an IP address'),
    (lst({"type": "vrf"}), 'plugins[0]', 'vrfname'),
    (lst({"type": "bridge", "ipam": {"type": "host-local", "subnet": "10.0.0.0/24"}}, {"type": "host-local"}),
     'plugins[1].type', 'IPAM plugin'),
]


@pytest.mark.parametrize('name', ['x' * 15, u'br\u00fccke-\u00fcber-0', u'\u00e9' * 7])
def test_bridge_names_up_to_15_bytes_are_taken(name):
    out = normalise_list(lst({"type": "bridge", "bridge": name}))
    assert out['plugins'][0]['bridge'] == name


def test_bridge_name_limit_counts_bytes_not_characters():
    name = u'br\u00fccke-\u00fcber-012'
    assert len(name) == 15 and len(name.encode('utf-8')) == 17
    with pytest.raises(ConfigError) as exc:
        normalise_list(lst({"type": "bridge", "bridge": name}))
    assert exc.value.msg == (u"plugins[0].bridge: %r is 17 bytes long: a Linux interface name has at most 15" % name)
    assert exc.value.param == 'plugins'


@pytest.mark.parametrize('conf, path, words', INVALID, ids=['%d-%s' % (i, c[1]) for i, c in enumerate(INVALID)])
def test_invalid_configs_are_refused_naming_the_path(conf, path, words):
    with pytest.raises(ConfigError) as exc:
        normalise_list(conf)
    assert exc.value.path == path
    assert exc.value.msg.startswith(path + ': ')
    assert words in exc.value.msg
    assert isinstance(exc.value, ParameterError)
    assert exc.value.details['json_path'] == path


def test_error_param_maps_to_the_module_parameter():
    with pytest.raises(ConfigError) as exc:
        normalise_list(lst(hl(subnet="10.0.0.1/24")))
    assert exc.value.param == 'plugins'
    with pytest.raises(ConfigError) as exc:
        normalise_list(lst({"type": "loopback"}, cniVersion="2"))
    assert exc.value.param == 'cni_version'


def test_legacy_conf_errors_use_the_files_own_paths():
    with pytest.raises(ConfigError) as exc:
        normalise_conf({"cniVersion": "0.4.0", "name": "x", "type": "bridge", "mtu": "9000"})
    assert exc.value.path == 'mtu'
    with pytest.raises(ConfigError) as exc:
        normalise_conf({"cniVersion": "0.4.0", "name": "x", "plugins": [{"type": "bridge"}]})
    assert 'name the file .conflist' in exc.value.msg


EQUAL = [
    # Key order, address spelling, IPv6 case and zeros.
    (lst(hl(subnet="FD00:0:0:0::/64", gateway="fd00::0001")),
     lst({"ipam": {"gateway": "fd00::1", "subnet": "fd00::/64", "type": "host-local"}, "bridge": "cnb0",
          "type": "bridge"})),
    # List booleans as libcni reads them; false is the default.
    (lst({"type": "loopback"}, disableCheck="TRUE", disableGC=False, loadOnlyInlinedPlugins="false"),
     lst({"type": "loopback"}, disableCheck=True)),
    # cniVersions order and duplicates.
    (lst({"type": "loopback"}, cniVersions=["1.0.0", "0.4.0", "1.0.0"]),
     lst({"type": "loopback"}, cniVersions=["0.4.0", "1.0.0"])),
    # A plugin's own name and cniVersion are replaced by the list's at run time.
    (lst({"type": "loopback", "name": "other", "cniVersion": "0.3.1"}), lst({"type": "loopback"})),
    # Capabilities set to false are not declared.
    (lst({"type": "portmap", "capabilities": {"portMappings": True, "bandwidth": False}}),
     lst({"type": "portmap", "capabilities": {"portMappings": True}})),
    (lst({"type": "portmap", "capabilities": {"portMappings": False}}), lst({"type": "portmap"})),
    # Routes and DNS.
    (lst(hl(subnet="10.0.0.0/24", routes=[{"dst": "::0/0", "gw": "FE80::1"}]),
         dns={"x": 1}),
     lst(hl(subnet="10.0.0.0/24", routes=[{"dst": "::/0", "gw": "fe80::1"}]), dns={"x": 1})),
]


@pytest.mark.parametrize('a, b', EQUAL, ids=range(len(EQUAL)))
def test_configs_that_mean_the_same_compare_equal(a, b):
    assert normalise_list(a) == normalise_list(b)


NOT_EQUAL = [
    (lst(hl(subnet="10.0.0.0/24")), lst(hl(subnet="10.0.1.0/24"))),
    (lst({"type": "loopback"}, cniVersion="1.0.0"), lst({"type": "loopback"}, cniVersion="0.4.0")),
    (lst({"type": "bridge", "mtu": 1500}), lst({"type": "bridge"})),   # a plugin's defaults are its own business
    (lst({"type": "a"}, {"type": "b"}), lst({"type": "b"}, {"type": "a"})),   # chain order matters
]


@pytest.mark.parametrize('a, b', NOT_EQUAL, ids=range(len(NOT_EQUAL)))
def test_configs_that_differ_do_not_compare_equal(a, b):
    assert normalise_list(a) != normalise_list(b)


def test_warnings_for_allowed_but_doubtful_values():
    warnings = []
    normalise_list(lst({"type": "bridge", "args": {"x": 1}}, disableGC=True), warnings=warnings)
    assert any('plugins[0].args' in w for w in warnings)
    assert any('disableGC' in w and '1.0.0' in w for w in warnings)


def test_versions():
    assert _cnispec.highest_common([['0.3.1', '0.4.0', '1.0.0'], ['0.4.0', '1.0.0', '1.1.0']]) == '1.0.0'
    assert _cnispec.highest_common([['0.3.1'], ['1.0.0']]) is None
    assert _cnispec.highest_common([['0.1.0', '0.2.0', '0.10.0']]) == '0.2.0'   # unknown versions ignored
    assert _cnispec.parse_version('1.1') == (1, 1, 0)
    assert _cnispec.version_ge('1.0.0', '0.3.0') and not _cnispec.version_ge('0.2.0', '0.3.0')


def test_diff_paths_are_readable():
    a = normalise_list(lst(hl(ranges=[[{"subnet": "10.22.0.0/24"}]]), {"type": "portmap"}))
    b = normalise_list(lst(hl(ranges=[[{"subnet": "10.22.1.0/24"}]]), {"type": "portmap", "snat": True}))
    assert _cnispec.diff_paths(a, b) == [
        ('plugins[0].ipam.ranges[0][0].subnet', '10.22.0.0/24', '10.22.1.0/24'),
        ('plugins[1].snat', None, True),
    ]
    c = normalise_list(lst(hl(ranges=[[{"subnet": "10.22.0.0/24"}]])))
    assert _cnispec.diff_paths(a, c) == [('plugins[1]', {"type": "portmap"}, None)]
    d = normalise_list(lst({"type": "loopback"}, {"type": "portmap"}))
    assert _cnispec.diff_paths(a, d)[0] == ('plugins[0]', a['plugins'][0], d['plugins'][0])
