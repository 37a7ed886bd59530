#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_sysctl
short_description: Set many kernel parameters in one call, at runtime and persistently
version_added: 0.1.0
description:
  - Sets kernel parameters (sysctl keys) through C(/proc/sys) directly, reads each value back, and
    persists them in one file under C(/etc/sysctl.d), written atomically.
  - One task manages any number of keys, so a node profile needs one task where C(ansible.posix.sysctl)
    needs one task per key.
  - Values are normalised before they are compared, the way the kernel prints them back; booleans
    become C(1) and C(0), lists and runs of whitespace in multi-value keys become single spaces.
  - Everything that can be known before a write is checked first, for all keys - unknown keys,
    values of the wrong shape, read-only keys, keys that are not per-namespace with O(netns), a missing
    directory. Nothing changes when one of them fails.
  - When the kernel refuses or changes (clamps) a value during the run, every value written by this
    run is put back and the task fails naming the key, so the node is left as it was.
  - The managed files are written through a temporary file beside them; temporary files that a killed run left
    there are removed by the next run with O(persist) (see RV(cleaned)).
  - Keys provided by a kernel module (C(net.bridge.*) by C(br_netfilter), C(net.netfilter.nf_conntrack_*)
    by C(nf_conntrack)) can load that module and persist it in C(/etc/modules-load.d), see O(load_modules).
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
  - cni.node.attributes.netns
options:
  params:
    description:
      - Kernel parameters, as a dictionary of key to value.
      - Keys use the dotted form (C(net.ipv4.ip_forward)). A dot inside one component, such as the name of
        a VLAN interface, is written as a slash (C(net.ipv4.conf.eth0/100.rp_filter)), as in sysctl.d(5);
        a key whose first separator is a slash is read as a path (C(net/ipv4/conf/eth0.100/rp_filter)).
      - Values are integers, strings, booleans (C(1)/C(0)) or lists (joined with spaces, for multi-value
        keys such as C(net.ipv4.ip_local_port_range)).
      - With O(state=absent) only the keys matter; values are ignored and may be null.
      - Keys are written in the order given. When writing one key resets another (C(net.ipv4.ip_forward)
        resets every C(net.ipv4.conf.*.forwarding)), the reset key is set once more; two keys that cannot
        both hold (one value under two names) fail the task, and everything is put back.
      - May be empty only together with O(exclusive=true).
    type: dict
    required: true
  state:
    description:
      - V(present) sets the values at runtime and, with O(persist), in the managed file.
      - V(absent) removes the keys from the managed file. Runtime values are left as they are (the kernel
        has no "unset"); they return to the kernel default at the next boot. Needs O(persist).
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - Also keep the values in the managed file O(sysctl_dir)/O(file), so they survive a reboot.
      - Defaults to V(true) on the node and to V(false) with O(netns); persisting together with O(netns)
        is refused, because a network namespace does not survive a reboot.
    type: bool
  sysctl_dir:
    description:
      - Directory of the managed file, an absolute path. It must exist; the module does not create directories.
    type: path
    default: /etc/sysctl.d
  file:
    description:
      - Name of the managed file in O(sysctl_dir), a plain name ending in C(.conf). The file is owned by
        this module - it is written whole; keys already in it come first, then the keys of O(params) in
        the order given (systemd-sysctl applies the lines in file order).
      - The same name is used in O(modules_load_dir) for the modules file.
    type: str
    default: 90-cni-node.conf
  exclusive:
    description:
      - The managed file holds exactly O(params) - other keys already in it are removed.
      - Without it, keys already in the file that are not in O(params) are kept.
      - With O(state=absent), removes the whole managed file. Needs O(persist).
    type: bool
    default: false
  load_modules:
    description:
      - When a key is missing because the kernel module that provides it is not loaded, load the module
        with C(modprobe), and (with O(persist)) list it in O(modules_load_dir)/O(file) so it is loaded at
        boot. Modules built into the kernel are never listed.
      - The run fails clearly when the module cannot be loaded.
    type: bool
    default: true
  modules_load_dir:
    description:
      - Directory of the modules-load.d file, an absolute path. It must exist when a module is to be listed.
    type: path
    default: /etc/modules-load.d
notes:
  - Runs on the managed node as root (writing C(/proc/sys) needs it).
  - In a container, C(/proc/sys) is often mounted read-only; such keys are reported as read-only.
    Only C(net.*) keys are per network namespace; setting any other key in a container changes it for
    the whole machine.
seealso:
  - name: sysctl.d(5)
    description: Format and ordering of the persistence files.
    link: https://man7.org/linux/man-pages/man5/sysctl.d.5.html
  - module: ansible.posix.sysctl
    description: The one-key-per-task module this one replaces in CNI node profiles.
'''

EXAMPLES = r'''
- name: Kernel parameters of a CNI node, in one task
  cni.node.cni_sysctl:
    params:
      net.ipv4.ip_forward: 1
      net.ipv6.conf.all.forwarding: 1
      net.bridge.bridge-nf-call-iptables: 1
      net.bridge.bridge-nf-call-ip6tables: 1
      net.ipv4.ip_local_port_range: [32768, 60999]
      net.core.somaxconn: 4096

- name: The managed file holds exactly these keys (stale ones are removed)
  cni.node.cni_sysctl:
    params:
      net.ipv4.ip_forward: 1
    exclusive: true

- name: Inside a network namespace (runtime only)
  cni.node.cni_sysctl:
    netns: pod-a
    params:
      net.ipv4.conf.all.rp_filter: 0
      net.ipv6.conf.all.disable_ipv6: 1

- name: Report drift without changing anything (scheduled job)
  cni.node.cni_sysctl:
    params:
      net.ipv4.ip_forward: 1
  check_mode: true
  register: sysctl_drift

- name: Stop persisting a key
  cni.node.cni_sysctl:
    params:
      net.core.somaxconn:
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
    - One item per value that differed, the same shape in every cni.node module.
    - Paths are C(sysctl/KEY) (runtime value), C(persist/KEY) (entry of the managed file),
      C(module/NAME) (a kernel module to load), C(modules_load/NAME) (entry of the modules file) and
      C(file/PATH) (same entries, other order or formatting, so the file is rewritten).
    - A value of null means absent.
  returned: always
  type: list
  elements: dict
  sample:
    - path: sysctl/net.ipv4.ip_forward
      before: '0'
      after: '1'
    - path: persist/net.ipv4.ip_forward
      before: null
      after: '1'
diff:
  description:
    - Before and after, one entry per area - the runtime values, then the text of each file that changes.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: sysctl
      after_header: sysctl
      before: {net.ipv4.ip_forward: '0'}
      after: {net.ipv4.ip_forward: '1'}
params:
  description: The requested values, normalised as the kernel prints them (keys in dotted form).
  returned: always
  type: dict
  sample: {net.ipv4.ip_forward: '1', net.ipv4.ip_local_port_range: 32768 60999}
values:
  description:
    - The runtime values of the requested keys after the run, read back from C(/proc/sys)
      (in check mode, the current values). Null for a key that does not exist yet.
  returned: when O(state=present)
  type: dict
  sample: {net.ipv4.ip_forward: '1'}
file:
  description: Path of the managed sysctl.d file, or null when O(persist=false).
  returned: always
  type: str
  sample: /etc/sysctl.d/90-cni-node.conf
loaded_modules:
  description: Kernel modules loaded by this run (in check mode, that would be loaded).
  returned: always
  type: list
  elements: str
  sample: [br_netfilter]
cleaned:
  description:
    - Temporary files that a killed earlier run left beside the managed files, removed by this run (in check mode,
      that a run would remove). Housekeeping, not drift - they do not make the task changed. A temporary that a
      live run holds is never removed.
  returned: always
  type: list
  elements: str
  sample: [/etc/sysctl.d/.90-cni-node.conf.k2j4x9qa.tmp]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _edge, _sysctl
from ansible_collections.cni.node.plugins.module_utils._kmod import KernelModules
from ansible_collections.cni.node.plugins.module_utils._procsys import ProcSys


def main():
    module = AnsibleModule(
        argument_spec=dict(
            params=dict(type='dict', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            persist=dict(type='bool'),
            sysctl_dir=dict(type='path', default='/etc/sysctl.d'),
            file=dict(type='str', default='90-cni-node.conf'),
            exclusive=dict(type='bool', default=False),
            load_modules=dict(type='bool', default=True),
            modules_load_dir=dict(type='path', default='/etc/modules-load.d'),
            netns=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    args = module.params
    with _edge.edge(module, 'cni_sysctl'):
        spec = _sysctl.Spec(
            args['params'], state=args['state'], persist=args['persist'], sysctl_dir=args['sysctl_dir'],
            file=args['file'], exclusive=args['exclusive'], load_modules=args['load_modules'],
            modules_load_dir=args['modules_load_dir'], netns=args['netns'])
        plan = _sysctl.run(spec, ProcSys(), KernelModules(runner=module.run_command), check_mode=module.check_mode)

    extra = dict(params=spec.params if spec.state == 'present' else dict.fromkeys(spec.params),
                 file=spec.path if spec.persist else None,
                 loaded_modules=list(plan.load), cleaned=plan.cleaned)
    if plan.values is not None:
        extra['values'] = plan.values
    module.exit_json(**plan.changes.result(diff_mode=module._diff, **extra))


if __name__ == '__main__':
    main()
