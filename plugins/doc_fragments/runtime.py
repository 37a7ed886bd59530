# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options of the runtime modules (cni_attachment, cni_gc): the argument spec _cniruntime.argument_spec gives."""

    DOCUMENTATION = r'''
options:
  network:
    description:
      - Name of the network, loaded from O(conf_dir) the way libcni loads it (the first C(.conflist) in lexical
        order with this name, else a C(.conf)/C(.json) file).
      - Exactly one of O(network) and O(config) is required.
    type: str
  config:
    description:
      - The network configuration inline instead of from O(conf_dir) - a configuration list (C(name),
        C(cniVersion), C(plugins)) or a single plugin configuration. Validated against the CNI specification.
    type: dict
  conf_dir:
    description: Directory of network configuration files, used with O(network).
    type: path
    default: /etc/cni/net.d
  bin_dirs:
    description:
      - Directories searched for plugin binaries, in order (C(CNI_PATH)). A binary (and every directory above
        it) must be owned by root and not writable by group or others.
    type: list
    elements: path
    default: [/opt/cni/bin]
  cache_dir:
    description: libcni's cache directory; results live in its C(results) folder.
    type: path
    default: /var/lib/cni
  timeout:
    description:
      - Seconds one plugin invocation may take. A plugin still running then is killed and its command fails.
    type: int
    default: 60
  log_file:
    description:
      - Append one JSON line per plugin invocation to this file (mode 0600) - command, environment, stdin,
        stdout, stderr, exit code and duration. Values of keys that look secret (token, password, secret,
        credential, key) are masked. See the troubleshooting guide.
    type: path
'''
