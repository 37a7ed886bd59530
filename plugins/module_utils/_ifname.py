# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Link names: the one check of every argument that names a Linux interface.

``check_ifname`` refuses what the kernel refuses (``dev_valid_name``): an
empty name, one of 16 bytes or more (IFNAMSIZ counts the trailing NUL),
``.`` and ``..``, and names with ``/``, ``:`` or whitespace. The message
names the argument (``name``, ``dev``, ``veth.peer``, ...) and says what a
valid name is, before anything is read or changed.

``taken`` is the error for a name that belongs to a link of another kind
than the module manages: the module never replaces or deletes such a link.

Pure Python: no Ansible, no pyroute2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

IFNAMSIZ = 16                # bytes, with the trailing NUL
MAX_BYTES = IFNAMSIZ - 1
_INVALID = re.compile(r'[/:\s]')


def check_ifname(name, param='name', what='an interface name'):
    """``name`` when the kernel would take it as an interface name; else ParameterError naming ``param``.

    ``what`` words the message for a missing name (e.g. ``a bridge name``).
    """
    if not isinstance(name, str) or not name:
        raise ParameterError('%s: %s is required' % (param, what), param=param)
    size = len(name.encode('utf-8'))
    if size > MAX_BYTES:
        raise ParameterError('%s %r is %d bytes long: a Linux interface name has at most %d'
                             % (param, name, size, MAX_BYTES), param=param)
    if name in ('.', '..') or _INVALID.search(name):
        raise ParameterError("%s %r is not a valid interface name (no '/', ':' or whitespace; not '.' or '..')"
                             % (param, name), param=param)
    return name


def kind_text(kind):
    """``a veth``, or what a link without a kind probably is."""
    return 'a %s' % kind if kind else 'of no kind (a physical device?)'


def taken(name, kind, own, state='present', netns=None, param='name'):
    """The ParameterError for link ``name`` of ``kind`` where the module manages ``own`` (e.g. ``a bridge``).

    With state=absent the message says that the link is left alone and what
    to do, instead of talking about replacing it.
    """
    where = ' in network namespace %r' % netns if netns else ''
    if state == 'absent':
        msg = ('%s: a link called %r exists%s and is %s, not %s; state=absent removes only %s and never '
               'deletes a link of another kind: correct %s, or remove that link by other means'
               % (param, name, where, kind_text(kind), own, own, param))
    else:
        msg = ('%s: a link called %r exists already and is %s, not %s; the module does not replace it'
               % (param, name, kind_text(kind), own))
    return ParameterError(msg, param=param, kind=kind)
