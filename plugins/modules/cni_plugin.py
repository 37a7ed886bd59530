#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_plugin
short_description: Install CNI plugin binaries from a release archive or a folder, checked and atomic
version_added: 0.1.0
description:
  - Installs CNI plugin binaries (bridge, host-local, portmap, ...) into O(bin_dir), from an http(s) release
    archive, a C(.tgz) on the node, or a folder on the node.
  - Downloads are checked against a sha256 before anything is extracted; O(checksum) is required for URLs.
  - Archives are checked member by member before the first byte is written. A link, a device or FIFO, an
    absolute path, a C(..) component or a subdirectory refuses the whole archive. Only regular files with an
    executable bit are plugins; other files of a release (C(LICENSE), C(README.md)) are left out.
  - Idempotent by per-binary sha256. Each changed binary is written to a temporary file in O(bin_dir) and
    renamed over the old one, so a container runtime executing a plugin meanwhile sees the old binary or the
    new one, never half a file. Temporary files a killed run left behind are removed by the next run (see RV(cleaned)).
  - An archive that is cut short or corrupt is refused as a whole, naming O(src), before anything is installed.
  - With O(verify), every binary must answer the CNI C(VERSION) command before anything is installed; the
    supported CNI versions of each binary are returned.
  - Downloads and extraction happen in a temporary directory that is always removed.
  - After an install from an archive, a manifest (C(.cni-node-plugins.json) in O(bin_dir)) records the archive's
    sha256 and each binary's sha256. A later run with the same archive (same sha256, pinned or from the checksum
    file) whose binaries all still match needs no download; any difference takes the full path.
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
options:
  src:
    description:
      - Where the plugins come from. An C(http://) or C(https://) URL of a release archive (C(.tgz)), the path of
        such an archive on the node, or the path of a folder on the node that holds the binaries.
      - Required with O(state=present). A path must be absolute.
    type: str
  checksum:
    description:
      - sha256 of the archive, as C(sha256:<64 hex digits>), or the http(s) URL of a checksum file as upstream
        publishes next to each release (C(<hex>  <archive name>) lines, or one bare hex digest).
      - Required when O(src) is a URL. Optional for an archive on the node; not used for a folder.
    type: str
  names:
    description:
      - Install only these binaries of the source. Each must be in the source.
      - With O(state=absent), the binaries to remove (required then).
    type: list
    elements: str
  bin_dir:
    description:
      - Directory of the CNI plugin binaries (an absolute path). Created (mode 0755) when missing.
    type: path
    default: /opt/cni/bin
  exclusive:
    description:
      - Remove every other file from O(bin_dir), so that it holds exactly the installed binaries.
    type: bool
    default: false
  verify:
    description:
      - Run C(VERSION) on every binary (from the temporary copy, before anything is installed) and fail when one
        does not answer as a CNI plugin. Returns each binary's supported CNI versions.
    type: bool
    default: true
  state:
    description:
      - V(present) installs; V(absent) removes the binaries listed in O(names).
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description: Seconds to wait for each download.
    type: int
    default: 60
  validate_certs:
    description: Check TLS certificates of https downloads.
    type: bool
    default: true
notes:
  - Binaries are written with mode 0755 and owned by the user the module runs as (root, with C(become)).
seealso:
  - name: CNI plugin releases
    description: Release archives and their sha256 files.
    link: https://github.com/containernetworking/plugins/releases
'''

EXAMPLES = r'''
- name: Reference plugins from an upstream release, checked against its published checksum file
  cni.node.cni_plugin:
    src: https://github.com/containernetworking/plugins/releases/download/v1.5.1/cni-plugins-linux-amd64-v1.5.1.tgz
    checksum: https://github.com/containernetworking/plugins/releases/download/v1.5.1/cni-plugins-linux-amd64-v1.5.1.tgz.sha256

- name: Only what a bridge network needs, from a mirror, with a pinned digest; remove everything else
  cni.node.cni_plugin:
    src: https://mirror.example.com/cni/cni-plugins-linux-amd64-v1.5.1.tgz
    checksum: sha256:0000000000000000000000000000000000000000000000000000000000000000
    names: [bridge, host-local, portmap, loopback]
    exclusive: true

- name: From the distribution's package (a folder on the node)
  cni.node.cni_plugin:
    src: /usr/lib/cni

- name: Remove a plugin
  cni.node.cni_plugin:
    names: [dhcp]
    state: absent
'''

RETURN = r'''
changed:
  description: Whether any binary was (in check mode, would be) installed, replaced or removed.
  returned: always
  type: bool
drift:
  description:
    - One item per differing binary, the same shape in every cni.node module. C(binary/NAME) carries the sha256
      before and after (null = absent); C(binary/NAME/mode) a wrong file mode; C(dir/PATH) a missing O(bin_dir).
  returned: always
  type: list
  elements: dict
  sample:
    - path: binary/bridge
      before: null
      after: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
diff:
  description: Before and after sha256 per binary.
  returned: when diff mode is on
  type: list
  elements: dict
binaries:
  description: The binaries the source provides and O(bin_dir) holds after the run, by name.
  returned: when O(state=present)
  type: dict
  sample:
    bridge:
      path: /opt/cni/bin/bridge
      sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
      versions: [0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0]
removed:
  description: Binaries removed (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
cleaned:
  description:
    - Temporary files that a killed earlier run left in O(bin_dir) for these binaries (or the manifest), removed by
      this run (in check mode, that a run would remove). Housekeeping, not drift - they do not make the task
      changed. A temporary that a live run holds is never removed.
  returned: always
  type: list
  elements: str
  sample: [/opt/cni/bin/.bridge.k2j4x9qa.tmp]
bin_dir:
  description: The plugin directory.
  returned: always
  type: str
  sample: /opt/cni/bin
'''

import functools

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _cniplugin, _edge


def open_url(*args, **kwargs):
    """ansible's open_url, imported when a download happens: the import costs more than a no-change run."""
    from ansible.module_utils.urls import open_url as _open_url  # pylint: disable=import-outside-toplevel
    return _open_url(*args, **kwargs)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type='str'),
            checksum=dict(type='str'),
            names=dict(type='list', elements='str'),
            bin_dir=dict(type='path', default='/opt/cni/bin'),
            exclusive=dict(type='bool', default=False),
            verify=dict(type='bool', default=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            timeout=dict(type='int', default=60),
            validate_certs=dict(type='bool', default=True),
        ),
        required_if=[('state', 'absent', ('names',))],
        supports_check_mode=True,
    )
    args = module.params
    # Downloads (archive and checksum file) go through ansible's open_url: proxies, TLS settings, timeout.
    opener = functools.partial(open_url, timeout=args['timeout'], validate_certs=args['validate_certs'])
    with _edge.edge(module, 'cni_plugin', paths=('src',)):
        spec = _cniplugin.Spec(args['src'], checksum=args['checksum'], names=args['names'], bin_dir=args['bin_dir'],
                               exclusive=args['exclusive'], verify=args['verify'], state=args['state'])
        plan = _cniplugin.run(spec, opener, tmpdir=module.tmpdir, check_mode=module.check_mode)
    extra = dict(bin_dir=spec.bin_dir, removed=list(plan.removals), cleaned=plan.cleaned)
    if spec.state == 'present':
        extra['binaries'] = plan.binaries
    module.exit_json(**plan.changes.result(diff_mode=module._diff, **extra))


if __name__ == '__main__':
    main()
