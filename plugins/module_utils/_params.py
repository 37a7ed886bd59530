# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of module parameters that every module shares. Pure Python: no Ansible.

- ``absolute_path`` / ``check_paths``: a path parameter is absolute or
  refused by name. A module runs in a temporary working directory of
  Ansible's choosing, as root: a relative ``bin_dir`` would install
  binaries there. ansible-core's ``type: path`` expands ``~`` and
  variables but accepts a relative path, so every path parameter of every
  module goes through this one check (in the module's ``Spec``).
- ``netns_fault`` / ``netns_value``: a ``netns`` parameter is a name under
  /run/netns or an absolute path. ``netns_fault`` is the one check (the
  namespace helpers of _netns and _cnicache use it with their own error
  types and messages); ``netns_value`` raises ParameterError naming
  ``netns``.
- ``dict_elements``: a list-of-dictionaries option, declared ``type: list,
  elements: raw`` in the argument spec (and in DOCUMENTATION: ansible-test's
  validate-modules wants the same ``elements`` in both; the keys stay
  documented as ``suboptions``), checked here element by element with
  ansible's suboption form. ansible-core's own ``elements: dict`` with
  ``options`` answers a string element with "dictionary requested, could
  not parse JSON or key=value" and names neither the option nor the
  element; this names both: ``peers[0]: expected a dictionary with remote
  and subnet, got '10.0.0.1'``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

_NETNS_HINT = (' (a value with a slash is a path, and a path must be absolute, e.g. /proc/1234/ns/net; or give '
               'the name of a namespace under /run/netns)')
_TRUE = ('yes', 'on', '1', 'true', 'y', 't')
_FALSE = ('no', 'off', '0', 'false', 'n', 'f')


def absolute_path(value, param, where=None, hint=''):
    """``value`` when it is an absolute path (None passes); ParameterError naming ``param`` otherwise.

    ``where`` is the name in the message when it is more precise than the
    parameter (``bin_dirs[1]``); ``hint`` is appended to the message.
    """
    if value is None:
        return None
    where = where or param
    if not isinstance(value, str) or not os.path.isabs(value):
        raise ParameterError('%s: must be an absolute path, got %r%s' % (where, value, hint), param=param)
    if '\0' in value:
        raise ParameterError('%s: must not contain a NUL byte, got %r' % (where, value), param=param)
    return value


def check_paths(params, names):
    """Each named parameter of ``params`` (a path, a list of paths, or None) absolute, or ParameterError."""
    for name in names:
        value = params.get(name)
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                absolute_path(item, name, where='%s[%d]' % (name, i))
        else:
            absolute_path(value, name)


def netns_fault(value):
    """What makes ``value`` no ``netns`` value: None (a name, or an absolute path), 'relative' (a path that is
    not absolute), 'name' ('', '.' or '..': not a namespace name) or 'nul' (a NUL byte)."""
    if '/' in value:
        if not os.path.isabs(value):
            return 'relative'
    elif value in ('', '.', '..'):
        return 'name'
    if '\0' in value:
        return 'nul'
    return None


def netns_value(value, param='netns'):
    """A ``netns`` parameter (unset passes): a name, or an absolute path; ``value`` back, ParameterError otherwise."""
    if not value or not isinstance(value, str):
        return value
    fault = netns_fault(value)
    if fault == 'relative':
        absolute_path(value, param, hint=_NETNS_HINT)
    elif fault == 'name':
        raise ParameterError('%s: %r is not a namespace name: give a name under /run/netns or an absolute path'
                             % (param, value), param=param)
    elif fault == 'nul':
        raise ParameterError('%s: must not contain a NUL byte, got %r' % (param, value), param=param)
    return value


def _with(names):
    names = list(names)
    return names[0] if len(names) == 1 else '%s and %s' % (', '.join(names[:-1]), names[-1])


def _convert(value, kind, where, param):
    if kind == 'raw':
        return value
    if kind == 'str':
        if isinstance(value, (dict, list, tuple)):
            raise ParameterError('%s: expected a string, got %r' % (where, value), param=param)
        return value if isinstance(value, str) else str(value)
    if kind == 'int':
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip('-').isdigit():
            return int(value)
        raise ParameterError('%s: expected an integer, got %r' % (where, value), param=param)
    if kind == 'bool':
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ParameterError('%s: expected a boolean, got %r' % (where, value), param=param)
    raise ValueError('dict_elements: unsupported type %r' % (kind,))


def dict_elements(value, param, options, what=None, where=None):
    """The elements of a list-of-dictionaries option, checked; a new list of new dictionaries.

    ``options`` has the form of ansible's suboptions: ``{key: {type, required,
    default}}`` (types str, int, bool, raw; str when not given). A key that
    is missing or null gets its default (a required key is refused),
    unknown keys are refused, values are converted to their type. ``what``
    says, in the message for an element that is not a dictionary, what it
    should hold (default: every key). ``where`` is the option's name in the
    messages when it is more precise than ``param`` (``veth.routes`` of
    ``veth``).
    """
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise ParameterError('%s: expected a list of dictionaries, got %r' % (where or param, value), param=param)
    out = []
    for i, item in enumerate(value):
        where_i = '%s[%d]' % (where or param, i)
        if not isinstance(item, dict):
            raise ParameterError('%s: expected a dictionary with %s, got %r' % (where_i, what or _with(options), item),
                                 param=param)
        unknown = sorted(str(k) for k in item if k not in options)
        if unknown:
            raise ParameterError('%s: unsupported key%s %s (valid: %s)' % (
                where_i, 's' if len(unknown) > 1 else '', ', '.join(unknown), ', '.join(options)), param=param)
        element = {}
        for key, option in options.items():
            given = item.get(key)
            if given is None:
                if option.get('required'):
                    raise ParameterError('%s: %s is required' % (where_i, key), param=param)
                element[key] = option.get('default')
            else:
                element[key] = _convert(given, option.get('type', 'str'), '%s.%s' % (where_i, key), param)
        out.append(element)
    return out
