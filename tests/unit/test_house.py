# -*- coding: utf-8 -*-
"""The map of the house (docs/development.md) is the rule the rooms keep.

The table "The house: rooms of plugins/module_utils" lists every room of
plugins/module_utils, floor by floor, with the rooms it may import. These
tests read that table and the rooms' import statements (with ``ast``, no
import is executed) and fail when the two disagree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOMS_DIR = os.path.join(REPO, 'plugins', 'module_utils')
DOC = os.path.join(REPO, 'docs', 'development.md')
PREFIX = 'ansible_collections.cni.node.plugins.module_utils'
MAX_LINES = 700
ROW = re.compile(r'^\|\s*(\d+)\s*\|\s*`(_[a-z0-9_]+)`\s*\|[^|]*\|\s*([^|]*?)\s*\|\s*$')


def house_table():
    """[(floor, room, allowed)] in the order of the table."""
    with open(DOC) as f:
        text = f.read()
    start = text.index('## The house')
    end = text.index('\n## ', start + 1)
    rows = []
    for line in text[start:end].splitlines():
        m = ROW.match(line)
        if m:
            allowed = set(re.findall(r'`(_[a-z0-9_]+)`', m.group(3)))
            rows.append((int(m.group(1)), m.group(2), allowed))
    return rows


def rooms():
    return sorted(n[:-3] for n in os.listdir(ROOMS_DIR) if n.startswith('_') and n.endswith('.py')
                  and n != '__init__.py')


def imports_of(room):
    """Rooms of module_utils and top-level third-party packages a room imports."""
    with open(os.path.join(ROOMS_DIR, room + '.py')) as f:
        tree = ast.parse(f.read())
    inner, outer = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PREFIX:
                inner.update(a.name for a in node.names)
            elif node.module.startswith(PREFIX + '.'):
                inner.add(node.module[len(PREFIX) + 1:].split('.')[0])
            else:
                outer.add(node.module.split('.')[0])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(PREFIX + '.'):
                    inner.add(a.name[len(PREFIX) + 1:].split('.')[0])
                else:
                    outer.add(a.name.split('.')[0])
    return inner, outer


TABLE = house_table()
ORDER = dict((room, i) for i, (_floor, room, _allowed) in enumerate(TABLE))


def test_the_table_lists_every_room_once():
    listed = [room for _floor, room, _allowed in TABLE]
    assert len(listed) == len(set(listed)), 'a room is listed twice'
    assert sorted(listed) == rooms(), 'docs/development.md and plugins/module_utils disagree on the rooms'


def test_floors_go_up_in_the_table():
    floors = [floor for floor, _room, _allowed in TABLE]
    assert floors == sorted(floors)


@pytest.mark.parametrize('floor,room,allowed', TABLE, ids=[r for _f, r, _a in TABLE])
def test_a_room_imports_only_what_the_map_allows(floor, room, allowed):
    inner, outer = imports_of(room)
    assert inner <= allowed, '%s imports %s, which the map does not allow' % (room, sorted(inner - allowed))
    later = [a for a in allowed if ORDER.get(a, -1) >= ORDER[room]]
    assert not later, '%s may import %s, which stand later in the table (or are not rooms)' % (room, later)
    assert 'ansible' not in outer, '%s imports Ansible' % room
    if room != '_netlink':
        assert 'pyroute2' not in outer, '%s imports pyroute2: only the netlink adapter may' % room


@pytest.mark.parametrize('room', rooms())
def test_no_room_is_over_700_lines(room):
    with open(os.path.join(ROOMS_DIR, room + '.py')) as f:
        lines = len(f.readlines())
    assert lines <= MAX_LINES, '%s has %d lines' % (room, lines)


def test_the_map_is_exact_and_not_a_wish():
    # Every import the map allows is one the room makes: a stale entry would
    # hide a future back-reference behind a permission nobody uses.
    unused = []
    for _floor, room, allowed in TABLE:
        inner, _outer = imports_of(room)
        if allowed - inner:
            unused.append((room, sorted(allowed - inner)))
    assert not unused, 'allowed but not imported: %s' % unused
