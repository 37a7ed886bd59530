# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state file of cni_ipam_pool: its document, read and written. Pure Python: no Ansible.

The file is JSON, ``{"schema": "cni.node/ipam-pool", "version": 1, "pools":
{name: {cidr, node_prefix, reserved, members: {member: {family: subnet}}}}}``,
written one line per member (readable, diffable, fast to write).
``load_document`` refuses, and leaves as it is, any file that is not what
this collection writes: resetting it would renumber every member. Locking
and the atomic replacement are ``_statefile``'s job.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.cni.node.plugins.module_utils._errors import StateFileError
from ansible_collections.cni.node.plugins.module_utils._ipamaddr import FAMILIES, parse_many, parse_subnet

SCHEMA = 'cni.node/ipam-pool'
VERSION = 1


class Document(dict):
    """The state file's content (a dict, as written) plus the parsed subnets of its pools.

    ``parsed(name)`` is {family: {member: (network integer, prefix)}},
    parsed once per run.
    """

    def __init__(self, *args, **kwargs):
        super(Document, self).__init__(*args, **kwargs)
        self._parsed = {}

    def parsed(self, name):
        if name not in self._parsed:
            pool = self['pools'].get(name)
            self._parsed[name] = _parse_members(pool['members'] if pool else {})
        return self._parsed[name]


def _parse_members(members, bad=None):
    """{family: {member: (n, prefix)}} of a pool record's members; ``bad(what)`` raises for a flaw.

    Validates every recorded subnet (shape, family, canonical text, no host
    bits, no subnet recorded twice) in bulk; only a file with a flaw goes
    through the slow, per-entry path that names it.
    """
    names = dict((f, []) for f in FAMILIES)
    texts = dict((f, []) for f in FAMILIES)
    for member, subnets in members.items():
        if subnets.__class__ is not dict or not subnets:
            return _parse_members_slowly(members, bad)
        for family, text in subnets.items():
            if family not in names:
                return _parse_members_slowly(members, bad)
            names[family].append(member)
            texts[family].append(text)
    out = {}
    for family in FAMILIES:
        if not names[family]:
            continue
        values = parse_many(family, texts[family])
        if values is None:
            return _parse_members_slowly(members, bad)
        out[family] = parsed = dict(zip(names[family], values))
        if len(set(values)) != len(parsed):
            return _parse_members_slowly(members, bad)
    return out


def _parse_members_slowly(members, bad):
    if bad is None:
        def bad(what):
            raise StateFileError('state file: %s' % what, param='path')
    out = dict((f, {}) for f in FAMILIES)
    seen = dict((f, {}) for f in FAMILIES)
    for member, subnets in members.items():
        if not isinstance(subnets, dict) or not subnets or set(subnets) - set(FAMILIES):
            bad('member %r: expected {"ipv4": subnet, "ipv6": subnet}' % member)
        for family, text in subnets.items():
            try:
                fam, n, prefix = parse_subnet(text)
            except ValueError:
                fam = None
            if fam != family:
                bad('member %r: %r is not an %s subnet' % (member, text, family))
            other = seen[family].setdefault((n, prefix), member)
            if other != member:
                bad('%s is recorded for both %s and %s' % (text, other, member))
            out[family][member] = (n, prefix)
    return dict((f, v) for f, v in out.items() if v)


def new_document():
    return Document(schema=SCHEMA, version=VERSION, pools={})


ADVICE = ('; the file was left as it is: restore it from a backup, or move it away and rebuild the '
          'assignments from claims (docs/ipam.md, "Lost state file")')


def load_document(text, path):
    """The parsed state file (a new, empty one when ``text`` is None).

    A file that is not what this collection writes fails with StateFileError
    and is left as it is: it is never reset, since that would renumber every
    member.
    """
    if text is None:
        return new_document()
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:   # RecursionError: nested too deeply
        raise StateFileError('path: %s is not valid JSON (%s)%s' % (path, exc, ADVICE), param='path')
    if not isinstance(doc, dict) or doc.get('schema') != SCHEMA:
        raise StateFileError('path: %s is not a cni.node IPAM state file (no "schema": "%s")%s'
                             % (path, SCHEMA, ADVICE), param='path')
    if doc.get('version') != VERSION:
        raise StateFileError('path: %s has schema version %r; this cni.node reads version %d: use the '
                             'cni.node release that wrote it (the file was left as it is)'
                             % (path, doc.get('version'), VERSION), param='path')
    pools = doc.get('pools')
    if not isinstance(pools, dict):
        raise StateFileError('path: %s has no "pools" object%s' % (path, ADVICE), param='path')
    doc = Document(doc)
    for name, pool in pools.items():
        _check_pool_record(doc, name, pool, path)
    return doc


def _check_pool_record(doc, name, pool, path):
    def bad(what):
        raise StateFileError('path: %s, pool %r: %s%s' % (path, name, what, ADVICE), param='path')
    if not isinstance(pool, dict):
        bad('not an object')
    for key, kind in (('cidr', list), ('node_prefix', dict), ('reserved', list), ('members', dict)):
        if not isinstance(pool.get(key), kind):
            bad('"%s" is missing or not a %s' % (key, kind.__name__))
    doc._parsed[name] = _parse_members(pool['members'], bad)   # pylint: disable=protected-access


_ENCODE = json.encoder.encode_basestring_ascii   # what json.dumps uses (ensure_ascii)


def render_document(doc):
    """The state file's text: JSON, one line per member (readable, diffable, fast to write)."""
    dumps = json.dumps
    head = dict((k, v) for k, v in doc.items() if k != 'pools')
    lines = ['{']
    for key in sorted(head):
        lines.append(' %s: %s,' % (dumps(key), dumps(head[key], sort_keys=True)))
    lines.append(' "pools": {')
    names = sorted(doc['pools'])
    for i, name in enumerate(names):
        pool = doc['pools'][name]
        lines.append('  %s: {' % dumps(name))
        for key in sorted(k for k in pool if k != 'members'):
            lines.append('   %s: %s,' % (dumps(key), dumps(pool[key], sort_keys=True)))
        members = pool['members']
        order = sorted(members)
        items = ['    %s: %s' % pair for pair in zip(map(_ENCODE, order), map(_member_json, map(members.get, order)))]
        lines.append('   "members": {' + ('\n' + ',\n'.join(items) + '\n   }' if items else '}'))
        lines.append('  }' + (',' if i < len(names) - 1 else ''))
    lines.append(' }')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def _member_json(subnets):
    """json.dumps(subnets, sort_keys=True) of one member's {family: subnet text}, without its overhead."""
    if isinstance(subnets, dict) and all(f in FAMILIES and isinstance(v, str) for f, v in subnets.items()):
        return '{%s}' % ', '.join('"%s": %s' % (f, _ENCODE(subnets[f])) for f in FAMILIES if f in subnets)
    return json.dumps(subnets, sort_keys=True)
