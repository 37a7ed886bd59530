#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_gc
short_description: Release leaked host-local leases and stale cached attachments of a CNI network
version_added: 0.1.0
description:
  - Garbage collection for one network, the cure for C(no IP addresses available in range set) - leases that
    outlived their containers because no runtime ran DEL (a crash, a reboot, a killed kubelet).
  - A cached attachment (libcni's cache in O(cache_dir)) whose network namespace still exists is live and is
    never touched; neither is one listed in O(valid_attachments), nor one whose cache entry names no namespace
    (it cannot be judged).
  - The namespace of a cache entry is its C(netns) (written by libcni 1.2 and later), else the C(sandbox) of the
    container's interface in the cached result (spec 0.3.0 and later results; what podman 4 with the CNI
    backend and older containerd and CRI-O leave).
  - A cached attachment of this network whose namespace is gone is stale - it is released through DEL of the
    configuration it was made with (the plugins free its addresses, portmap rules and links), and its cache
    entry is removed. When that DEL fails, its leases are released as files and the failure is reported.
  - A host-local lease (one file per address under the network's C(dataDir), by default
    C(/var/lib/cni/networks/<network>)) of no live or stale attachment is an orphan - the file is removed under
    host-local's own lock, after reading it again under that lock.
  - With a network of spec 1.1.0 (and no C(disableGC)), the plugins' own GC command then runs with the live
    attachments.
  - Check mode lists exactly what a real run would release.
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
  - cni.node.runtime
options:
  valid_attachments:
    description:
      - Attachments to keep whatever their state, for example every pod the runtime knows, as in the CNI GC
        command's C(cni.dev/valid-attachments).
      - Each element must be a dictionary. The collection checks the elements itself (hence C(elements=raw)), so a
        string in the list is refused with a message that names the element, for example C(valid_attachments[0]).
    type: list
    elements: raw
    default: []
    suboptions:
      container_id:
        description: Container ID.
        type: str
        required: true
      ifname:
        description: Interface name.
        type: str
        default: eth0
notes:
  - Runs on the managed node as root.
  - A lease is judged by the cache of O(cache_dir). A runtime that caches elsewhere, or not at all, must list its
    attachments in O(valid_attachments), or its leases are released.
seealso:
  - module: cni.node.cni_attachment
'''

EXAMPLES = r'''
- name: What would be released? (scheduled drift job)
  cni.node.cni_gc:
    network: podnet
  check_mode: true
  register: leaks

- name: Release leaked leases, keeping the pods the runtime knows
  cni.node.cni_gc:
    network: podnet
    bin_dirs: [/opt/cni/bin]
    valid_attachments:
      - container_id: 4f2a9c
        ifname: eth0
'''

RETURN = r'''
changed:
  description: Whether anything was (in check mode, would be) released.
  returned: always
  type: bool
drift:
  description:
    - One item per released thing - C(attachment/<network>-<container>-<ifname>) (stale attachment, DEL) and
      C(lease/<network>/<address>) (before - the holder C(container/ifname); after - null).
  returned: always
  type: list
  elements: dict
  sample:
    - path: lease/podnet/10.22.1.14
      before: 4f2a9c/eth0
      after: null
diff:
  description: Before and after, per area (attachment, lease).
  returned: when diff mode is on
  type: list
  elements: dict
released:
  description: Each released address - C(address), C(container_id), C(ifname), C(lease_file), and C(via) (V(DEL)
    through the plugins, V(lease_file) removed, or V(dhcp_daemon) - a dhcp IPAM lease of a stale attachment,
    released at the DHCP server by the dhcp daemon during its DEL; such items have C(lease_file=null) and the
    daemon's C(socket)).
  returned: always
  type: list
  elements: dict
  sample: [{address: 10.22.1.14, container_id: 4f2a9c, ifname: eth0, lease_file: /var/lib/cni/networks/podnet/10.22.1.14,
            via: lease_file}]
deleted_attachments:
  description:
    - Stale cached attachments released with DEL (C(container_id), C(ifname), C(netns), C(netns_source),
      C(cache_file)).
    - C(netns_source) says where the namespace was read - V(netns), or V(result.interfaces[N].sandbox).
  returned: always
  type: list
  elements: dict
kept:
  description:
    - Cached attachments kept (live namespace, listed valid, or without a namespace path) - C(container_id),
      C(ifname), C(netns), C(netns_source) (as in RV(deleted_attachments)), and C(why).
  returned: always
  type: list
  elements: dict
leases:
  description: Lease counts - C(total) seen, C(released), C(kept).
  returned: always
  type: dict
  sample: {total: 12, released: 3, kept: 9}
errors:
  description: DEL or GC failures that did not stop the run (the leases were then released as files).
  returned: always
  type: list
  elements: str
invocations:
  description: Each plugin run - plugin type, command, exit code, duration in milliseconds.
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _cnigc, _cniruntime, _edge
from ansible_collections.cni.node.plugins.module_utils._params import dict_elements

ATTACHMENT_KEYS = dict(container_id=dict(type='str', required=True), ifname=dict(type='str', default='eth0'))


def main():
    module = AnsibleModule(
        argument_spec=_cniruntime.argument_spec(
            valid_attachments=dict(type='list', elements='raw', default=[]),
        ),
        mutually_exclusive=[('network', 'config')],
        required_one_of=[('network', 'config')],
        supports_check_mode=True,
    )
    p = module.params
    runner = None
    with _edge.edge(module, 'cni_gc', details=lambda: dict(invocations=runner.invocations if runner else [])):
        valid = [(a['container_id'], a['ifname'])
                 for a in dict_elements(p['valid_attachments'], 'valid_attachments', ATTACHMENT_KEYS)]
        runner, load = _cniruntime.from_params(p)
        network = load()
        gc_plan = _cnigc.plan(network, p['cache_dir'], valid)
        if not module.check_mode:
            _cnigc.apply(gc_plan, runner, valid)

    for warning in network.warnings + runner.warnings + gc_plan.errors:
        module.warn(warning)
    module.exit_json(**gc_plan.changes.result(diff_mode=module._diff, errors=gc_plan.errors,
                                              invocations=runner.invocations, **gc_plan.summary()))


if __name__ == '__main__':
    main()
