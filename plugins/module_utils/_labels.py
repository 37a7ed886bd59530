# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Labels of attachments, checked as Kubernetes checks labels. Pure Python: no Ansible.

A key is an optional prefix (a DNS subdomain: lowercase letters, digits,
``-`` and ``.``, at most 253 characters) and ``/``, then a name of at most
63 characters: letters, digits, ``-``, ``_`` and ``.``, starting and ending
with a letter or digit. A value is empty or follows the name's rule.
cni_attachment records labels with an attachment; cni_policy selects
attachments by them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

_NAME_RE = re.compile(r'^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z')
_PREFIX_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z')

KEY_RULE = ('an optional DNS subdomain prefix and "/", then a name of 1-63 letters, digits, "-", "_" or "." '
            'starting and ending with a letter or digit')
VALUE_RULE = 'empty, or 1-63 letters, digits, "-", "_" or "." starting and ending with a letter or digit'


def key_fault(key):
    """Why ``key`` is not a label key, or None."""
    if not isinstance(key, str) or not key:
        return 'not a non-empty string'
    prefix, sep, name = key.rpartition('/')
    if sep and (not prefix or len(prefix) > 253 or not _PREFIX_RE.match(prefix)):
        return 'the prefix %r is not a DNS subdomain' % prefix
    if not _NAME_RE.match(name):
        return 'the name %r is not 1-63 letters, digits, "-", "_" or "." starting and ending with a letter or digit' \
            % name
    return None


def check_key(key, param, where=None):
    fault = key_fault(key)
    if fault:
        raise ParameterError('%s: label key %r: %s (a key is %s)' % (where or param, key, fault, KEY_RULE),
                             param=param)
    return key


def check_value(key, value, param, where=None):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ParameterError('%s: the value of label %r must be a string, not %r' % (where or param, key, value),
                             param=param)
    value = str(value)
    if value and not _NAME_RE.match(value):
        raise ParameterError('%s: label %r has the value %r: a value is %s'
                             % (where or param, key, value, VALUE_RULE), param=param)
    return value


def check_labels(labels, param='labels', where=None):
    """A label dict checked and normalised (values as strings); errors name ``param`` (``where`` in the text)."""
    if labels is None:
        return None
    where = where or param
    if not isinstance(labels, dict):
        raise ParameterError('%s must be a dict of label keys and values, not %r' % (where, labels), param=param)
    out = {}
    for key in sorted(labels, key=str):
        check_key(key, param, where)
        out[key] = check_value(key, labels[key], param, where)
    return out
