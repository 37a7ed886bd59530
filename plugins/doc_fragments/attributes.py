# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Attributes and options shared by every cni.node module."""

    DOCUMENTATION = r'''
attributes:
  check_mode:
    description:
      - Exact. Check mode reads the actual state, runs every check a real run makes before its first
        change, and reports exactly what a real run would change, as C(changed), C(diff) and C(drift),
        without changing anything.
      - What only the kernel can tell at write time (a value it refuses or clamps) fails the real run,
        which then puts back everything it changed.
    support: full
  diff_mode:
    description:
      - Returns C(diff) with the state before and after, per area (kernel state, each file).
    support: full
  platform:
    description: Linux nodes.
    support: full
    platforms: posix
'''

    NETNS = r'''
options:
  netns:
    description:
      - Act inside this network namespace instead of the node's own.
      - A name refers to C(/run/netns/NAME) (what C(ip netns list) shows); a value containing a slash is
        taken as a path to a namespace file, for example C(/proc/1234/ns/net).
      - The namespace must exist. The module never creates one (see M(cni.node.cni_netns)), so check mode
        stays free of side effects and a typo fails instead of acting in a new, empty namespace.
    type: str
'''
