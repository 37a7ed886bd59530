# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nftables adapter: the one place cni.node talks to nftables, through ``nft``'s JSON interface.

Why the ``nft`` binary and not the python3-nftables binding: the binding is
a separate Debian package (often missing, and absent from virtualenvs),
while ``nft`` ships with nftables itself; the JSON interface is the same
libnftables underneath. Two calls, each one process:

- ``list_table(family, name)``: ``nft -j list table FAMILY NAME``; the
  ``nftables`` list of its objects, or None when there is no such table.
- ``apply(commands)``: ``nft -j -f -`` with ``{"nftables": commands}`` on
  stdin. nft sends the whole batch to the kernel as one netlink transaction:
  every command takes effect, or none does.

Only tables whose names the caller gives are listed or changed; nothing here
lists or flushes the whole ruleset. The calls run in the caller's network
namespace (the module runs where the pods' bridge is).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess

from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError, MissingDependency

SEARCH = ('/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin')
TIMEOUT = 60


class NftError(CniNodeError):
    """nft refused a command (its message is in ``msg``)."""


def find_nft(search=SEARCH):
    for d in search:
        path = os.path.join(d, 'nft')
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise MissingDependency('nft (nftables) is not installed on the node: cni_policy enforces with nftables '
                            '(apt-get install nftables)')


class Nft(object):
    """Runs nft. ``runner`` (argv, stdin bytes) -> (exit code, stdout, stderr) can be replaced in tests."""

    def __init__(self, binary=None, runner=None):
        self.binary = binary or find_nft()
        self.runner = runner or _run
        self.calls = 0

    def _call(self, argv, stdin=b''):
        self.calls += 1
        return self.runner([self.binary] + argv, stdin)

    def list_table(self, family, name):
        rc, out, err = self._call(['-j', 'list', 'table', family, name])
        if rc != 0:
            if 'No such file or directory' in err:
                return None
            raise NftError('nft list table %s %s failed: %s' % (family, name, err.strip()))
        try:
            doc = json.loads(out)
        except ValueError as exc:
            raise NftError('nft printed what is not JSON: %s' % exc)
        return [item for item in doc.get('nftables', []) if 'metainfo' not in item]

    def apply(self, commands):
        """Run ``commands`` as one transaction; NftError with nft's message when the kernel refuses them."""
        if not commands:
            return
        rc, _out, err = self._call(['-j', '-f', '-'], json.dumps({'nftables': commands}).encode('utf-8'))
        if rc != 0:
            raise NftError('nft refused the transaction (nothing was changed): %s' % err.strip()[:2000])


def _run(argv, stdin):
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(stdin, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise NftError('%s did not answer within %d s' % (' '.join(argv), TIMEOUT))
    return proc.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')
