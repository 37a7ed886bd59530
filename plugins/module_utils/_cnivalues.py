# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The values of the CNI network configuration format, checked one by one. Pure Python.

The vocabulary ``_cnispec`` (the list level, IPAM objects, each reference
plugin's keys) is written in:

- ``ConfigError``, the error every check raises: its message starts with the
  JSON path of the offending value and says what would be valid;
- typed values: integers in a range, plain file names, Linux interface names
  (the kernel's byte limit), IP addresses and prefixes written as the
  plugins (Go) parse them, lists of strings;
- what several plugins share: routes, DNS, booleans, choices, MTU.

Each check takes the JSON path of the value, for its message. Those that
canonicalise return a new value (addresses and prefixes as ``ipaddress``
objects, whose text is canonical); none changes its input.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

from ansible_collections.cni.node.plugins.module_utils import _ifname
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

# List-level key -> module parameter (for ``param`` of an error).
_PARAMS = {'name': 'name', 'cniVersion': 'cni_version', 'plugins': 'plugins', 'disableCheck': 'disable_check',
           'disableGC': 'disable_gc', 'cni_version': 'cni_version'}


class ConfigError(ParameterError):
    """A network configuration breaks the CNI specification or a plugin's rules.

    ``path`` is the JSON path of the offending value; the message starts with
    it.
    """

    def __init__(self, path, problem, param=None):
        msg = '%s: %s' % (path, problem) if path else problem
        if param is None:
            head = re.split(r'[.\[]', path or '', maxsplit=1)[0]
            param = _PARAMS.get(head)
        super(ConfigError, self).__init__(msg, param=param, json_path=path)
        self.path = path
        self.problem = problem


# ---------------------------------------------------------------- typed values

def _show(value):
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def _type_name(value):
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, int):
        return 'an integer'
    if isinstance(value, float):
        return 'a number'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, list):
        return 'a list'
    if isinstance(value, dict):
        return 'an object'
    if value is None:
        return 'null'
    return type(value).__name__


def _want(value, kind, path, what):
    ok = {
        'str': isinstance(value, str),
        'bool': isinstance(value, bool),
        'int': isinstance(value, int) and not isinstance(value, bool),
        'list': isinstance(value, list),
        'dict': isinstance(value, dict),
    }[kind]
    if not ok:
        raise ConfigError(path, '%s is %s, expected %s' % (_show(value), _type_name(value), what))
    return value


def _int(value, path, lo=None, hi=None, what='an integer'):
    _want(value, 'int', path, what)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if hi is None:
            rng = '%d or more' % lo
        elif lo is None:
            rng = '%d or less' % hi
        else:
            rng = 'from %d to %d' % (lo, hi)
        raise ConfigError(path, '%d is out of range (expected an integer %s)' % (value, rng))
    return value


def _file_name(value, path, what):
    _want(value, 'str', path, what)
    if not value or value in ('.', '..') or '/' in value or '\\' in value or '\0' in value:
        raise ConfigError(path, '%r is not valid: %s (a plain file name: no "/" or "\\", not empty, not "." or '
                                '"..")' % (value, what))
    return value


def _link_name(value, path, what):
    """A Linux interface name by the kernel's rule (``_ifname``: at most 15 bytes, not characters)."""
    _want(value, 'str', path, what)
    why = _ifname.problem(value, what)
    if why is not None:
        raise ConfigError(path, why)
    return value


def _ip(value, path, version=None):
    """Canonical text of an IP address (``version`` 4 or 6 restricts the family)."""
    what = 'an IPv%d address' % version if version else 'an IPv4 or IPv6 address'
    _want(value, 'str', path, what)
    try:
        if '%' in value:   # a scoped IPv6 address: Python accepts it, the plugins (Go) do not
            raise ValueError(value)
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(path, '%r is not an IP address (expected %s, for example %s)'
                          % (value, what, '10.22.0.1' if version != 6 else 'fd00::1'))
    if version and addr.version != version:
        raise ConfigError(path, '%s is an IPv%d address, expected %s' % (value, addr.version, what))
    return addr


def _cidr(value, path, network=True, version=None):
    """An ``ip_network`` (``network``: host bits must be zero) or an ``ip_interface``."""
    what = 'a prefix in CIDR notation, for example 10.22.0.0/16'
    _want(value, 'str', path, what)
    if '/' not in value:
        raise ConfigError(path, '%r has no prefix length (expected %s)' % (value, what))
    if not value.rsplit('/', 1)[1].isdigit() or '%' in value:
        # Python also takes a netmask (10.1.0.0/255.255.0.0) or a scope; Go's ParseCIDR does not.
        raise ConfigError(path, '%r is not valid: the prefix length must be a number (expected %s)' % (value, what))
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise ConfigError(path, '%r is not valid (expected %s)' % (value, what))
    if version and iface.version != version:
        raise ConfigError(path, '%s is IPv%d, expected IPv%d like the rest of this entry'
                          % (value, iface.version, version))
    if not network:
        return iface
    if iface.ip != iface.network.network_address:
        raise ConfigError(path, '%s has host bits set: the network address of that prefix is %s'
                          % (value, iface.network))
    return iface.network


def _str_list(value, path, what='a list of strings'):
    _want(value, 'list', path, what)
    for i, item in enumerate(value):
        _want(item, 'str', '%s[%d]' % (path, i), 'a string')
    return list(value)


# ---------------------------------------------------------------- shared structures

def _routes(value, path):
    _want(value, 'list', path, 'a list of routes ({"dst": "0.0.0.0/0", "gw": "10.22.0.1"})')
    out = []
    for i, route in enumerate(value):
        rpath = '%s[%d]' % (path, i)
        _want(route, 'dict', rpath, 'a route object ({"dst": "0.0.0.0/0", "gw": "10.22.0.1"})')
        route = dict(route)
        if 'dst' not in route:
            raise ConfigError(rpath, 'a route needs "dst" (a prefix, for example 0.0.0.0/0)')
        dst = _cidr(route['dst'], rpath + '.dst')
        route['dst'] = str(dst)
        if route.get('gw') is not None:
            route['gw'] = str(_ip(route['gw'], rpath + '.gw', dst.version))
        for key in ('mtu', 'advmss', 'priority', 'table', 'scope'):   # 1.1.0 route attributes
            if key in route:
                _int(route[key], '%s.%s' % (rpath, key), 0)
        out.append(route)
    return out


def _dns(value, path):
    _want(value, 'dict', path, 'a DNS object ({"nameservers": [...], "domain": ..., "search": [...]})')
    out = dict(value)
    if 'nameservers' in out:
        _want(out['nameservers'], 'list', path + '.nameservers', 'a list of IP addresses')
        out['nameservers'] = [str(_ip(v, '%s.nameservers[%d]' % (path, i))) for i, v in enumerate(out['nameservers'])]
    if 'domain' in out:
        _want(out['domain'], 'str', path + '.domain', 'a domain name')
    for key in ('search', 'options'):
        if key in out:
            _str_list(out[key], '%s.%s' % (path, key))
    return out


def _bools(conf, path, keys):
    for key in keys:
        if key in conf:
            _want(conf[key], 'bool', '%s.%s' % (path, key), 'true or false')


def _choice(conf, path, key, choices):
    if key in conf:
        value = conf[key]
        if value not in choices:
            raise ConfigError('%s.%s' % (path, key), '%s is not valid (expected one of %s)'
                              % (_show(value), ', '.join(repr(c) for c in choices)))


def _mtu(conf, path, key='mtu'):
    if key in conf:
        _int(conf[key], '%s.%s' % (path, key), 0, 65535, 'an MTU in bytes')
