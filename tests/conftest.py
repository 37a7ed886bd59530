# -*- coding: utf-8 -*-
"""Make ``ansible_collections.cni.node`` importable from the working tree.

The repository root is the collection; Python finds it under
``<dir>/ansible_collections/cni/node``. A symlink in a temporary directory
provides that layout without copying anything.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_root():
    # Inside an ansible_collections tree already (ansible-test's copy)?
    parts = REPO.split(os.sep)
    if len(parts) >= 3 and parts[-3] == 'ansible_collections':
        return os.sep.join(parts[:-3])
    root = tempfile.mkdtemp(prefix='cni-node-collections-')
    atexit.register(shutil.rmtree, root, True)  # removes the link, never its target
    os.makedirs(os.path.join(root, 'ansible_collections', 'cni'))
    os.symlink(REPO, os.path.join(root, 'ansible_collections', 'cni', 'node'))
    return root


COLLECTIONS_ROOT = _collections_root()
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
os.environ['CNI_NODE_COLLECTIONS_ROOT'] = COLLECTIONS_ROOT
