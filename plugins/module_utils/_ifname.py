# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Link names: the one check of every argument that names a Linux interface.

``check_ifname`` refuses what the kernel refuses (``dev_valid_name``), on
the name's UTF-8 bytes: an empty name, one of 16 bytes or more (IFNAMSIZ
counts the trailing NUL), ``.`` and ``..``, and names with a NUL, ``/``,
``:`` or a byte the kernel's ``isspace()`` matches (0x09-0x0d, 0x20 and
0xa0: the 0xa0 inside UTF-8 sequences such as ``à``, C3 A0, counts too;
other Unicode spaces do not). It also refuses ``%``: the kernel reads a
name with ``%d`` as a template and creates ``vx0`` for ``vx%d``, a link
the module would then never find. The message names the argument
(``name``, ``dev``, ``veth.peer``, ...) and says what a valid name is,
before anything is read or changed.

``taken`` is the error for a name that belongs to a link of another kind
than the module manages: the module never replaces or deletes such a link.

Pure Python: no Ansible, no pyroute2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

IFNAMSIZ = 16                # bytes, with the trailing NUL
MAX_BYTES = IFNAMSIZ - 1
# Bytes the kernel's isspace() matches (lib/ctype.c: _S), on the UTF-8 bytes of the name.
KERNEL_SPACE = frozenset((0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0))
VALID = "1 to %d bytes of UTF-8, no NUL, '/', ':', '%%' or whitespace; not '.' or '..'" % MAX_BYTES


def check_ifname(name, param='name', what='an interface name'):
    """``name`` when the kernel would take it as an interface name; else ParameterError naming ``param``.

    ``what`` words the message for a missing name (e.g. ``a bridge name``).
    """
    if not isinstance(name, str) or not name:
        raise ParameterError('%s: %s is required' % (param, what), param=param)
    why = problem(name, what)
    if why is not None:
        raise ParameterError('%s %s' % (param, why), param=param)
    return name


def problem(name, what='an interface name'):
    """Why the kernel would refuse ``name`` as an interface name (text that a caller prefixes with the
    argument or JSON path it names), or None when it would take it."""
    if not isinstance(name, str) or not name:
        return '%s is required' % what
    try:
        size = len(name.encode('utf-8'))
    except UnicodeError:
        return '%r is not a valid interface name: it is not valid UTF-8 text (%s)' % (name, VALID)
    if size > MAX_BYTES:
        return '%r is %d bytes long: a Linux interface name has at most %d' % (name, size, MAX_BYTES)
    if name in ('.', '..'):
        return '%r is not a valid interface name (%s)' % (name, VALID)
    for char in name:
        why = _refused(char)
        if why is not None:
            return '%r is not a valid interface name: %s (%s)' % (name, why, VALID)
    return None


def _refused(char):
    """Why the kernel refuses (or misreads) ``char`` in a link name, or None."""
    if char == '%':
        return "the kernel reads '%' as a name template (vx%d becomes vx0, vx1, ...)"
    if char == '\0':
        return 'it contains a NUL'
    if char in '/:':
        return 'it contains %r' % char
    data = bytearray(char.encode('utf-8'))
    spaces = [byte for byte in data if byte in KERNEL_SPACE]
    if not spaces:
        return None
    if len(data) == 1:
        return 'it contains whitespace (byte 0x%02x)' % data[0]
    return ('it contains %r, whose UTF-8 bytes %s include 0x%02x, a byte the kernel reads as whitespace'
            % (char, ' '.join('%02x' % byte for byte in data), spaces[0]))


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
