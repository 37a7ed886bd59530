#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_network
short_description: One CNI network configuration list, validated against the CNI specification
version_added: 0.1.0
description:
  - Manages one network configuration list (C(.conflist)) in O(conf_dir), the file a container runtime
    (containerd, CRI-O, podman with CNI) reads to attach containers to a network. The file is named
    C(<priority>-<name>.conflist).
  - The configuration is validated against the CNI specification (versions 0.1.0 to 1.1.0) and the rules of
    the reference plugins (bridge, host-local, static, dhcp, loopback, ptp, macvlan, ipvlan, vlan,
    host-device, portmap, firewall, tuning, bandwidth, sbr, vrf) before anything is written - types,
    addresses and prefixes, host-local ranges (inside their subnet, start before end, no overlaps), routes.
    Keys of other plugins pass through unchanged. An error names the JSON path of the value
    (C(plugins[0].ipam.ranges[0][0].rangeEnd)) and what would be valid.
  - The file is compared by meaning (parsed and normalised JSON, never the text), so formatting, key order
    or the spelling of an address never cause a change; it is written atomically (a runtime never reads half
    a file).
  - O(cni_version=auto) asks every plugin binary of the chain (including IPAM plugins) for the spec versions
    it supports (the CNI C(VERSION) command) and uses the highest one all of them support.
  - Refuses silent shadowing - another file in O(conf_dir) that defines the same network name (a runtime
    would load only one of them). O(exclusive=true) removes every other network configuration file instead,
    the cure for stale configuration lists that load first.
  - Returns which network a runtime loads first from O(conf_dir) (its default network).
  - Temporary files of the network's file that a killed run left in O(conf_dir) are removed by the next run
    (see RV(cleaned)).
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
options:
  name:
    description:
      - Network name, the C(name) of the list. A letter or digit, then letters, digits, C(_), C(.) or C(-).
    type: str
    required: true
  plugins:
    description:
      - The plugin chain, a list of plugin configuration objects as in the CNI specification, each with at
        least C(type) (the plugin binary). They are run in this order on ADD.
      - C(name) and C(cniVersion) inside a plugin object are dropped - a runtime replaces them with the list's.
      - Keys the runtime generates (C(runtimeConfig), C(prevResult), C(cni.dev/*)) are refused.
      - Required with O(state=present).
      - Each element must be a dictionary. The collection checks the elements itself (hence C(elements=raw)), so a
        string in the list is refused with a message that names the element, for example C(plugins[0]).
    type: list
    elements: raw
  cni_version:
    description:
      - The C(cniVersion) of the list - one of C(0.1.0), C(0.2.0), C(0.3.0), C(0.3.1), C(0.4.0), C(1.0.0),
        C(1.1.0) - or V(auto) for the highest version every plugin binary in the chain supports, found by
        running each with the CNI C(VERSION) command.
    type: str
    default: auto
  disable_check:
    description: Sets C(disableCheck) - runtimes do not call CHECK for this network.
    type: bool
    default: false
  disable_gc:
    description: Sets C(disableGC) - runtimes do not call GC for this network (spec 1.1.0 and later).
    type: bool
    default: false
  conf_dir:
    description: Directory of network configuration files, an absolute path. It must exist; the module does not
      create it.
    type: path
    default: /etc/cni/net.d
  bin_dirs:
    description:
      - Directories searched for plugin binaries, in order (like a runtime's C(CNI_PATH)), absolute paths. Used by
        O(cni_version=auto) and O(validate).
    type: list
    elements: path
    default: [/opt/cni/bin]
  priority:
    description:
      - Number that orders the file among the others (C(10) gives C(10-NAME.conflist)); runtimes read files
        in lexical order, and the first one is the default network.
      - A file C(NN-NAME.conflist) of this network at another priority is removed (the network moved).
    type: int
    default: 10
  validate:
    description:
      - Check every plugin binary of the chain (and its IPAM plugin) before writing - it exists in
        O(bin_dirs), is a regular executable file owned by root and not writable by group or others, and
        supports the configuration's C(cniVersion).
    type: bool
    default: true
  exclusive:
    description:
      - Remove every other network configuration file (C(*.conflist), C(*.conf), C(*.json)) from O(conf_dir),
        so no stale network loads first. Removed files are listed in RV(removed) and shown in the diff.
      - The new file is written before any other is removed, so a runtime always finds a network.
    type: bool
    default: false
  backup:
    description:
      - Before a file is replaced or removed, keep a copy next to it (named like Ansible's backups, ending in
        C(~), so runtimes do not read it).
    type: bool
    default: false
  owner:
    description: Owner of the file (name or uid). By default a new file belongs to the user running the module and
      a rewritten one keeps its owner.
    type: str
  group:
    description: Group of the file (name or gid); the same default as O(owner).
    type: str
  mode:
    description: Mode of the file, in octal (C("0644")). Symbolic modes are not supported.
    type: raw
    default: '0644'
  state:
    description:
      - V(present) writes the file. V(absent) removes it (and this network's file at any other priority).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Runs on the managed node; writing O(conf_dir) usually needs root.
  - C(VERSION) is the only command the module runs a plugin with; it changes nothing, so check mode runs it too.
seealso:
  - name: CNI specification
    description: Network configuration format and version rules.
    link: https://github.com/containernetworking/cni/blob/main/SPEC.md
  - name: Reference plugins
    description: The plugins whose keys the module validates.
    link: https://www.cni.dev/plugins/current/
'''

EXAMPLES = r'''
- name: A bridge network with host-local addresses and port mappings
  cni.node.cni_network:
    name: podnet
    cni_version: auto
    plugins:
      - type: bridge
        bridge: cni0
        isGateway: true
        ipMasq: true
        ipam:
          type: host-local
          ranges:
            - - subnet: 10.22.1.0/24
                gateway: 10.22.1.1
          routes:
            - dst: 0.0.0.0/0
      - type: portmap
        capabilities:
          portMappings: true

- name: Make it the only network on the node (stale lists are removed, with a backup)
  cni.node.cni_network:
    name: podnet
    priority: 5
    exclusive: true
    backup: true
    plugins:
      - type: bridge
        bridge: cni0
        ipam:
          type: host-local
          subnet: 10.22.1.0/24

- name: Report drift only (scheduled job)
  cni.node.cni_network:
    name: podnet
    cni_version: 1.0.0
    plugins:
      - type: loopback
  check_mode: true

- name: Remove the network
  cni.node.cni_network:
    name: podnet
    state: absent
'''

RETURN = r'''
changed:
  description: Whether anything differed (in check mode, would differ).
  returned: always
  type: bool
  sample: true
drift:
  description:
    - One item per value that differed, the same shape in every cni.node module; null means absent.
    - Paths are C(config/JSONPATH) (a value of the configuration, for example C(config/plugins[0].ipam.subnet)),
      C(config) (the whole configuration, when the file is new or invalid), C(file/PATH) (a file that appears
      or is removed), C(mode/PATH), C(owner/PATH) and C(group/PATH).
  returned: always
  type: list
  elements: dict
  sample:
    - path: config/plugins[0].ipam.ranges[0][0].subnet
      before: 10.22.0.0/24
      after: 10.22.1.0/24
    - path: file/etc/cni/net.d/05-old.conflist
      before: present
      after: absent
diff:
  description: Before and after - the values per area, then the text of each file that changes.
  returned: when diff mode is on
  type: list
  elements: dict
path:
  description: Path of the network's file.
  returned: always
  type: str
  sample: /etc/cni/net.d/10-podnet.conflist
config:
  description: The normalised configuration list, as written (null with O(state=absent)).
  returned: always
  type: dict
  sample: {cniVersion: 1.0.0, name: podnet, plugins: [{type: bridge, bridge: cni0}]}
cni_version:
  description: The C(cniVersion) used (the one O(cni_version=auto) found).
  returned: when O(state=present)
  type: str
  sample: 1.0.0
plugin_versions:
  description: Spec versions each plugin binary of the chain reported (when they were asked).
  returned: when O(state=present)
  type: dict
  sample: {bridge: [0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0]}
plugin_paths:
  description: The binary found in O(bin_dirs) for each plugin type of the chain.
  returned: when O(state=present)
  type: dict
  sample: {bridge: /opt/cni/bin/bridge}
default_network:
  description:
    - The file a runtime loads first from O(conf_dir) after the run (containerd and CRI-O read every
      C(.conf), C(.conflist) and C(.json) file in lexical order and take the first), and its network name.
      Null when the directory holds no network configuration.
  returned: always
  type: dict
  sample: {path: /etc/cni/net.d/10-podnet.conflist, name: podnet}
removed:
  description: Files removed (in check mode, that would be removed) - by O(exclusive), O(state=absent), or
    this network's file at another priority.
  returned: always
  type: list
  elements: str
  sample: [/etc/cni/net.d/05-old.conflist]
cleaned:
  description:
    - Temporary files of the network's file (C(.<file>.XXXXXXXX.tmp)) that a killed earlier run left in O(conf_dir),
      removed by this run (in check mode, that a run would remove). Housekeeping, not drift - they do not make the
      task changed. A temporary that a live run holds is never removed.
  returned: always
  type: list
  elements: str
  sample: [/etc/cni/net.d/.10-podnet.conflist.k2j4x9qa.tmp]
backup_file:
  description: The backup of the network's previous file.
  returned: when O(backup=true) and the file was replaced or removed
  type: str
backup_files:
  description: Every backup made, the network's file and the removed ones.
  returned: when O(backup=true)
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _cninetwork, _edge


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            plugins=dict(type='list', elements='raw'),
            cni_version=dict(type='str', default='auto'),
            disable_check=dict(type='bool', default=False),
            disable_gc=dict(type='bool', default=False),
            conf_dir=dict(type='path', default='/etc/cni/net.d'),
            bin_dirs=dict(type='list', elements='path', default=['/opt/cni/bin']),
            priority=dict(type='int', default=10),
            validate=dict(type='bool', default=True),
            exclusive=dict(type='bool', default=False),
            backup=dict(type='bool', default=False),
            owner=dict(type='str'),
            group=dict(type='str'),
            mode=dict(type='raw', default='0644'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        supports_check_mode=True,
    )
    args = module.params
    with _edge.edge(module, 'cni_network'):
        spec = _cninetwork.Spec(
            args['name'], plugins=args['plugins'], cni_version=args['cni_version'],
            disable_check=args['disable_check'], disable_gc=args['disable_gc'], conf_dir=args['conf_dir'],
            bin_dirs=args['bin_dirs'], priority=args['priority'], validate=args['validate'],
            exclusive=args['exclusive'], mode=args['mode'], state=args['state'], owner=args['owner'],
            group=args['group'])
        plan = _cninetwork.run(spec, _cninetwork.Prober(), check_mode=module.check_mode,
                               backup=module.backup_local if args['backup'] else None)

    for warning in spec.warnings:
        module.warn(warning)
    extra = dict(path=spec.path, config=plan.config, default_network=plan.default_network, removed=plan.removed,
                 cleaned=plan.cleaned)
    if spec.state == 'present':
        extra.update(cni_version=plan.cni_version, plugin_versions=plan.plugin_versions,
                     plugin_paths=plan.binaries)
    if args['backup']:
        extra['backup_files'] = plan.backup_files
        if plan.backup_file:
            extra['backup_file'] = plan.backup_file
    module.exit_json(**plan.changes.result(diff_mode=module._diff, **extra))


if __name__ == '__main__':
    main()
