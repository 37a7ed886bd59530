# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Core of cni_ipam_pool: sticky per-member subnet allocation. Pure Python: no Ansible.

A pool is one IPv4 and/or one IPv6 CIDR, cut into subnets of ``node_prefix``
bits. Every member of the pool holds one subnet per family. ``plan`` takes
the validated arguments (``Spec``) and the pool as recorded in the state file
and computes the new record:

- a member that holds a subnet keeps it, whatever the order of ``members``
  and whoever joins or leaves (sticky);
- ``claims`` (assignments that already exist, for example read back from the
  nodes) are honoured and recorded;
- members that are no longer listed keep their subnets (and are reported)
  unless ``purge`` releases them;
- new members, in the order of ``members``, get the lowest free subnets,
  outside ``reserved``.

Everything that would hand one subnet to two members, renumber a member, or
leave members outside a shrunk pool fails before anything is written, with
a message that names the parameter and what would be valid.

Subnets are handled as integer indexes into the pool (subnet = base + index
<< host bits), and free space is walked from the sorted allocations: nothing
is materialised per possible subnet, so a /8 with /24 per member (65,536
subnets) or an IPv6 /32 with /64 per member (4 billion) costs only what the
members cost.

``run`` is the whole of a module run: under the state file's lock, read the
document, plan, and (unless check mode) write the new one.

The rooms of the IPAM core, each importing only the ones above it in this
list: ``_ipamaddr`` (addresses and subnets as integers, host-local ranges),
``_ipamspec`` (the validated arguments: pools, reserved spans, claims),
``_ipamstate`` (the state file's document), and this file (allocation).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect

from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError, StateFileError
from ansible_collections.cni.node.plugins.module_utils._fileutil import clean_temps
from ansible_collections.cni.node.plugins.module_utils._ipamaddr import FAMILIES, format_many, ranges_many
from ansible_collections.cni.node.plugins.module_utils._ipamspec import merge
from ansible_collections.cni.node.plugins.module_utils._ipamstate import Document, load_document, render_document
from ansible_collections.cni.node.plugins.module_utils._params import absolute_path
from ansible_collections.cni.node.plugins.module_utils._result import Changes
from ansible_collections.cni.node.plugins.module_utils._statefile import LockedStateFile

_SHOW = 3   # members named in a message before "and N more"


def free_indexes(size, taken, spans):
    """Free subnet indexes in ascending order, lazily.

    ``taken`` is a sorted list of allocated indexes, ``spans`` the sorted,
    merged reserved intervals; the walk goes through the gaps between them.
    """
    blocked = merge([(i, i) for i in taken] + list(spans))
    nxt = 0
    for lo, hi in blocked:
        while nxt < lo:
            yield nxt
            nxt += 1
        nxt = max(nxt, hi + 1)
    while nxt < size:
        yield nxt
        nxt += 1


def _names(items):
    items = list(items)
    text = ', '.join(items[:_SHOW])
    if len(items) > _SHOW:
        text += ' and %d more' % (len(items) - _SHOW)
    return text


class Plan(object):
    """What a run changes and what it returns."""

    def __init__(self):
        self.changes = Changes()
        self.record = None      # the pool's new record (None: removed)
        self.write = False      # the state file changes
        self.members = {}       # listed members -> {subnets, ipv4, ipv6, ranges} (see Spec.return_members)
        self.unlisted = []      # kept, but not in members
        self.released = []      # members whose subnets this run releases
        self.allocated = []     # members that get a new subnet (in some family)
        self.totals = {}
        self.cleaned = []       # temporaries of killed runs removed (check mode: to remove), filled by ``run``


def plan(spec, doc, path='state file'):
    """Compute the pool's new record from ``spec`` and the state document ``doc``.

    Raises ParameterError (conflicts, exhaustion, a pool shrinking under its
    members) before anything is written. Leaves ``doc`` unchanged; the
    caller writes ``apply(doc, plan)``.
    """
    p = Plan()
    old = doc['pools'].get(spec.name)
    if spec.state == 'absent':
        if old is not None:
            for member in sorted(old['members']):
                for family, text in sorted(old['members'][member].items()):
                    p.changes.add('member/%s/%s' % (member, family), text, None)
                p.released.append(member)
            p.changes.add('pool/%s' % spec.name, 'present', None)
            p.write = True
        return p

    old_members = old['members'] if old else {}
    parsed = doc.parsed(spec.name) if isinstance(doc, Document) else Document(doc).parsed(spec.name)
    _check_pool_change(spec, old, parsed, path)
    listed = set(spec.members)
    claimed = set()
    for family in spec.families:
        claimed.update(spec.claims[family])
    keep_unlisted = [] if spec.purge else sorted((set(old_members) | claimed) - listed)
    keep = spec.members + keep_unlisted
    released = sorted(set(old_members) - listed - set(keep_unlisted))

    fresh = {}      # member -> {family: new subnet text}
    networks = {}   # family -> {member: network integer} of the new subnets
    for family in spec.families:
        pool = spec.pools[family]
        added = _allocate(spec, family, parsed.get(family, {}), keep, path)
        networks[family] = new_numbers = {}
        if added:
            members, indexes = zip(*added)
            suffix = '/%d' % pool.node_prefix
            base, shift = pool.base, pool.shift
            numbers = [base + (i << shift) for i in indexes]
            for m, n, text in zip(members, numbers, format_many(family, numbers)):
                fresh.setdefault(m, {})[family] = text + suffix
                new_numbers[m] = n
    # A member without new subnets keeps its recorded dict (the same object).
    new_members = dict((m, old_members[m]) for m in keep if m not in fresh)
    for m, new in fresh.items():
        after = dict(old_members.get(m, ()))
        after.update(new)
        new_members[m] = dict((f, after[f]) for f in spec.families if f in after)

    record = {'cidr': [str(spec.nets[f]) for f in spec.families], 'node_prefix': dict(spec.node_prefix),
              'reserved': list(spec.reserved), 'members': new_members}
    if old is None:
        p.changes.add('pool/%s' % spec.name, None, 'present')
    else:
        for key in ('cidr', 'node_prefix', 'reserved'):
            p.changes.add('pool/%s/%s' % (spec.name, key), old[key], record[key])
    for m in released:
        for family, text in sorted(old_members[m].items()):
            p.changes.add('member/%s/%s' % (m, family), text, None)
    allocated = []
    empty = {}
    for m in keep:
        if m not in fresh:
            continue
        before = old_members.get(m, empty)
        after = new_members[m]
        for family in FAMILIES:
            if before.get(family) != after.get(family):
                p.changes.add('member/%s/%s' % (m, family), before.get(family), after.get(family))
                if family in after and m in listed:
                    allocated.append(m)
    p.record = record
    p.write = old != record
    p.released = released
    p.unlisted = keep_unlisted
    p.allocated = list(dict.fromkeys(allocated))
    if spec.return_members == 'changed':
        shown = p.allocated
    elif spec.return_members == 'none':
        shown = []
    else:
        shown = spec.members
    p.members = _member_views(spec, new_members, shown, parsed, networks, ranges=spec.return_members != 'subnets')
    p.totals = _totals(spec, new_members)
    return p


def _member_views(spec, new_members, names, parsed, networks, ranges=True):
    """What the module returns for each member of ``names``: subnets, per family, host-local ranges.

    Built column by column (one family at a time, addresses formatted in
    bulk): tens of thousands of members cost tens of milliseconds.
    """
    columns = []   # per family: (subnet texts, range dicts or None)
    for family in spec.families:
        texts = [new_members[m][family] for m in names]
        per = None
        if ranges:
            new, recorded = networks[family], parsed.get(family, {})
            numbers = [new[m] if m in new else recorded[m][0] for m in names]
            per = ranges_many(family, numbers, spec.pools[family].node_prefix, texts)
        columns.append((texts, per))
    if len(columns) == 1:
        family = spec.families[0]
        texts, per = columns[0]
        if per is None:
            return dict((m, {'subnets': [s], family: s}) for m, s in zip(names, texts))
        return dict((m, {'subnets': [s], family: s, 'ranges': [[r]]}) for m, s, r in zip(names, texts, per))
    (f1, f2), ((t1, r1), (t2, r2)) = spec.families, columns
    if r1 is None:
        return dict((m, {'subnets': [a, b], f1: a, f2: b}) for m, a, b in zip(names, t1, t2))
    return dict((m, {'subnets': [a, b], f1: a, f2: b, 'ranges': [[x], [y]]})
                for m, a, b, x, y in zip(names, t1, t2, r1, r2))


def _totals(spec, new_members):
    totals = {}
    for family in spec.families:
        pool = spec.pools[family]
        allocated = sum(1 for m in new_members.values() if family in m)
        reserved = sum(hi - lo + 1 for lo, hi in spec.spans[family])
        # No allocation lies in a reserved span (plan refuses that), so the
        # three counts add up to the pool's size.
        totals[family] = {'cidr': str(spec.nets[family]), 'node_prefix': pool.node_prefix, 'size': pool.size,
                          'allocated': allocated, 'reserved': reserved,
                          'free': pool.size - allocated - reserved}
    return totals


def _check_pool_change(spec, old, parsed, path):
    """Refuse a pool change that would renumber or orphan recorded members."""
    if old is None:
        return
    listed = set(spec.members)
    for family in FAMILIES:
        recorded = parsed.get(family)
        if not recorded:
            continue
        if spec.purge:   # members that stay: the listed ones
            recorded = dict((m, v) for m, v in recorded.items() if m in listed)
            if not recorded:
                continue
        if family not in spec.pools:
            raise ParameterError(
                'cidr: has no %s CIDR any more, but %d member(s) hold %s subnets in %s (%s): removing a family '
                'would orphan them; keep it in cidr, or release those members (purge=true without them)'
                % (family, len(recorded), family, path, _names(sorted(recorded))), param='cidr')
        pool = spec.pools[family]
        values = list(recorded.values())
        numbers = [n for n, _p in values]
        if all(p == pool.node_prefix for _n, p in values) \
                and min(numbers) >= pool.base and max(numbers) < pool.base + (pool.size << pool.shift):
            continue
        outside, resized = [], []
        for m in sorted(recorded):
            n, prefix = recorded[m]
            if prefix != pool.node_prefix:
                resized.append('%s %s' % (m, old['members'][m][family]))
            elif pool.index(n, prefix)[1]:
                outside.append('%s %s' % (m, old['members'][m][family]))
        if resized:
            raise ParameterError(
                'node_prefix: /%d for %s, but %d member(s) hold other subnet sizes in %s (%s): changing node_prefix '
                'would renumber them; keep node_prefix, or release them first (purge)'
                % (pool.node_prefix, family, len(resized), path, _names(resized)), param='node_prefix')
        if outside:
            raise ParameterError(
                'cidr: the %s pool %s no longer contains the subnets of %d member(s) (%s): shrinking or moving '
                'the pool would orphan them; keep a CIDR that contains them (it may grow), or release them first '
                '(purge)' % (family, pool.net, len(outside), _names(outside)), param='cidr')


def _allocate(spec, family, recorded, keep, path):
    """[(member, subnet index)] that ``family`` adds: claims not recorded yet, then new subnets.

    Recorded members (``recorded``: {member: (n, prefix)}, checked by
    _check_pool_change to lie in the pool) keep their subnets; conflicts
    fail here.
    """
    pool = spec.pools[family]
    spans = spec.spans[family]
    claims = spec.claims[family]
    base, shift = pool.base, pool.shift
    if spec.purge:
        keep_set = set(keep)
        recorded = dict((m, v) for m, v in recorded.items() if m in keep_set)
    current = dict(zip(recorded, [(n - base) >> shift for n, _p in recorded.values()]))
    by_index = dict(zip(current.values(), current))
    if len(by_index) != len(current):   # load_document refuses such a file; a defence for a hand-made doc
        seen = {}
        for m, index in current.items():
            other = seen.setdefault(index, m)
            if other != m:
                raise StateFileError('path: %s records %s for both %s and %s; fix the file by hand (it was left '
                                     'as it is)' % (path, pool.subnet(index), other, m), param='path')
    added = []
    if claims:
        keep_set = set(keep)
        for m in sorted(claims, key=lambda x: (x not in recorded, x)):
            if m not in keep_set:
                continue   # purged: the claim of a member that is no longer listed
            index = claims[m]
            mine = current.get(m)
            if mine is not None and mine != index:
                raise ParameterError(
                    'claims.%s: claims %s, but %s records %s for %s: a member is never renumbered; fix the claim '
                    '(or release the member with purge first)' % (m, pool.subnet(index), path, pool.subnet(mine), m),
                    param='claims')
            other = by_index.get(index)
            if other is not None and other != m:
                source = 'is recorded in %s for' % path if other in recorded else 'is claimed by'
                raise ParameterError('claims.%s: %s %s %s too: two members cannot share one subnet'
                                     % (m, pool.subnet(index), source, other), param='claims')
            if mine is None:
                by_index[index] = m
                current[m] = index
                added.append((m, index))
    taken = sorted(by_index)
    for span in spans:
        lo, hi = span
        i = bisect.bisect_left(taken, lo)
        if i < len(taken) and taken[i] <= hi:
            index = taken[i]
            m = by_index[index]
            if m in claims:
                raise ParameterError('claims.%s: %s overlaps reserved %s'
                                     % (m, pool.subnet(index), _span_text(pool, span)), param='claims')
            raise ParameterError('reserved: %s overlaps %s, which %s records for %s: reserve other addresses, '
                                 'or release the member first'
                                 % (_span_text(pool, span), pool.subnet(index), path, m), param='reserved')
    # Only listed members get new subnets; unlisted ones keep what they hold.
    need = [m for m in spec.members if m not in current]
    if need:
        reserved_count = sum(hi - lo + 1 for lo, hi in spans)
        free = pool.size - len(by_index) - reserved_count
        if len(need) > free:
            raise ParameterError(
                'members: the %s pool %s (%d subnets of /%d) is exhausted: %d new member(s) need a subnet (%s), '
                'only %d free (%d allocated, %d reserved); grow cidr, use a longer node_prefix, or release members '
                '(purge)' % (family, pool.net, pool.size, pool.node_prefix, len(need), _names(need), free,
                             len(by_index), reserved_count), param='members')
        if taken or spans:
            walk = free_indexes(pool.size, taken, spans)
            added.extend((m, next(walk)) for m in need)
        else:
            added.extend(zip(need, range(len(need))))
    return added


def _span_text(pool, span):
    lo, hi = span
    if lo == hi:
        return pool.subnet(lo)
    return '%s-%s' % (pool.subnet(lo), pool.subnet(hi))


def apply(doc, p, name):
    """The new state document after plan ``p`` (a new object; ``doc`` is kept)."""
    out = dict(doc)
    pools = dict(doc['pools'])
    if p.record is None:
        pools.pop(name, None)
    else:
        pools[name] = p.record
    out['pools'] = pools
    return out


def run(spec, path, lock_timeout=60.0, check_mode=False):
    """Read, plan and (unless check mode) write the state file at ``path`` under its lock; the plan.

    Check mode takes a shared lock and creates nothing (see
    ``LockedStateFile``); a real run holds the exclusive lock from before
    the read until after the new file is renamed into place. Under the
    lock, no live run is writing: the temporary files of the state file
    that killed runs left are removed (check mode: listed) in ``cleaned``.

    ``path`` runs on the controller, in a temporary working directory: a
    relative one is refused.
    """
    absolute_path(path, 'path')
    with LockedStateFile(path, timeout=lock_timeout, exclusive=not check_mode) as store:
        cleaned = clean_temps([path], check_mode=check_mode)
        doc = load_document(store.read(), path)
        p = plan(spec, doc, path)
        p.cleaned = cleaned
        if p.write and not check_mode:
            new = apply(doc, p, spec.name)
            store.write(render_document(new) if new['pools'] else None)
    return p
