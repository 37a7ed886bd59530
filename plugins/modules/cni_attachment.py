#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_attachment
short_description: Attach a network namespace to a CNI network, as a container runtime does (ADD, CHECK, DEL)
version_added: 0.1.0
description:
  - The CNI runtime in Python, with the semantics of libcni (the library inside containerd, CRI-O and cnitool).
    Runs the plugin chain of a network against a network namespace - O(state=present) is ADD, O(state=absent)
    is DEL, O(state=checked) is CHECK.
  - ADD runs each plugin of the chain in order. A plugin gets the C(CNI_COMMAND), C(CNI_CONTAINERID),
    C(CNI_NETNS), C(CNI_IFNAME), C(CNI_ARGS) and C(CNI_PATH) variables and on stdin its configuration plus the
    list's C(name) and C(cniVersion), the previous plugin's result as C(prevResult), and C(runtimeConfig)
    with the O(capability_args) entries for the capabilities it declares. DEL runs the chain in reverse with
    the cached result as C(prevResult) (spec 0.4.0 and later).
  - The result is cached where libcni caches it, C(<cache_dir>/results/<network>-<container_id>-<ifname>), in
    libcni's format (C(cniCacheV1)), so containerd, cnitool and this module read each other's attachments.
  - O(state=present) runs ADD when no attachment is cached. When one is cached it runs CHECK (spec 0.4.0 and
    later, unless the network sets C(disableCheck)) - passing means not changed; failing, or the cached
    attachment made with another O(netns), O(args), O(capability_args) or configuration, is drift, repaired
    with DEL (of what was cached) and ADD.
  - O(state=absent) runs DEL when an attachment is cached and is not changed otherwise. O(state=checked) runs
    CHECK only and fails when it does not pass or nothing is attached.
  - A plugin's error becomes a failure with its CNI error code (RV(cni_code)), message and details. A failed
    ADD is undone with DEL, as runtimes do.
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
  - cni.node.runtime
options:
  container_id:
    description:
      - The container ID (C(CNI_CONTAINERID)) - a letter or digit, then letters, digits, C(_), C(.) or C(-).
    type: str
    required: true
  netns:
    description:
      - The container's network namespace (C(CNI_NETNS)) - a name under C(/run/netns) or an absolute path such
        as C(/proc/1234/ns/net).
      - Required with O(state=present) and O(state=checked); it must exist. With O(state=absent) the cached one
        is used when omitted (DEL works when the namespace is already gone).
    type: str
  ifname:
    description: Interface name inside the namespace (C(CNI_IFNAME)).
    type: str
    default: eth0
  args:
    description:
      - C(CNI_ARGS) - a dict of keys and values, for example C(K8S_POD_NAME), or C(IP) for host-local.
    type: dict
  capability_args:
    description:
      - Capability arguments (libcni's C(CapabilityArgs)), for example C(portMappings), C(bandwidth),
        C(ips), C(mac). A plugin gets, in C(runtimeConfig), only the entries whose capability its configuration
        declares (for portmap, C(capabilities) holding C(portMappings) set to true).
    type: dict
  labels:
    description:
      - Labels of the attachment (Kubernetes' label syntax - an optional DNS subdomain prefix and C(/), then a
        name of up to 63 letters, digits, C(-), C(_), C(.); values the same or empty), recorded with it in the
        cache entry as the extra key C(cni.node/labels) (libcni, containerd and cnitool ignore it).
        M(cni.node.cni_policy) selects attachments by them; M(cni.node.cni_info) returns them.
      - Changing the labels of an intact attachment rewrites its cache entry only (drift
        C(attachment/.../labels)); it never runs DEL and ADD. Omitted - the cached labels are kept. V({}) - none.
    type: dict
  state:
    description:
      - V(present) - attached (ADD, or CHECK of a cached attachment). V(absent) - detached (DEL).
        V(checked) - CHECK only, never changes anything.
    type: str
    choices: [present, absent, checked]
    default: present
notes:
  - Runs on the managed node as root (plugins create links and addresses, and write the cache).
  - Check mode runs CHECK (it changes nothing), never ADD or DEL, and predicts exactly which of them a real run
    would run.
seealso:
  - module: cni.node.cni_network
  - module: cni.node.cni_gc
  - name: CNI specification
    description: The commands, their environment and the result format.
    link: https://github.com/containernetworking/cni/blob/main/SPEC.md
'''

EXAMPLES = r'''
- name: Attach a namespace to the podnet network, with a port mapping
  cni.node.cni_attachment:
    network: podnet
    container_id: web-1
    netns: web-1
    bin_dirs: [/opt/cni/bin]
    capability_args:
      portMappings:
        - hostPort: 8080
          containerPort: 80
          protocol: tcp
  register: web

- name: Its address
  ansible.builtin.debug:
    msg: "{{ web.result.ips[0].address }}"

- name: Is the attachment still intact? (fails when CHECK does not pass)
  cni.node.cni_attachment:
    network: podnet
    container_id: web-1
    netns: web-1
    state: checked

- name: Detach (DEL); nothing happens when it is not attached
  cni.node.cni_attachment:
    network: podnet
    container_id: web-1
    state: absent

- name: An inline network, with an invocation log for debugging
  cni.node.cni_attachment:
    config:
      cniVersion: 1.0.0
      name: scratch
      plugins:
        - type: bridge
          bridge: cni-scratch
          ipam:
            type: host-local
            subnet: 10.99.0.0/24
    container_id: job-42
    netns: /proc/4242/ns/net
    log_file: /var/log/cni-node-invocations.jsonl
'''

RETURN = r'''
changed:
  description: Whether ADD or DEL ran (in check mode, would run).
  returned: always
  type: bool
drift:
  description:
    - One item per difference, the same shape in every cni.node module. Paths are
      C(attachment/<network>-<container_id>-<ifname>/WHAT) with WHAT one of C(state) (absent/present),
      C(check) (CHECK failed, with the plugin's message), C(netns), C(args), C(capability_args), C(labels), C(config)
      (the network configuration changed since the attachment was made) and C(cache) (unreadable cache entry).
  returned: always
  type: list
  elements: dict
  sample:
    - path: attachment/podnet-web-1-eth0/check
      before: 'failed: plugin type="bridge" failed (check): ...'
      after: passed
diff:
  description: Before and after, per attachment.
  returned: when diff mode is on
  type: list
  elements: dict
result:
  description:
    - The CNI result of the attachment (C(cniVersion), C(interfaces), C(ips), C(routes), C(dns)) - the one
      ADD returned, or the cached one. Null when nothing is attached (O(state=absent), or check mode before ADD).
  returned: always
  type: dict
  sample:
    cniVersion: 1.0.0
    interfaces: [{name: cni0, mac: 0a:58:0a:16:01:01}, {name: eth0, mac: 6e:1f:23:45:67:89, sandbox: /run/netns/web-1}]
    ips: [{address: 10.22.1.10/24, gateway: 10.22.1.1, interface: 1}]
    routes: [{dst: 0.0.0.0/0}]
check:
  description:
    - Outcome of CHECK - V(passed), V(failed) (then repaired), V(skipped) (C(disableCheck) or a spec version
      before 0.4.0), or null when CHECK did not run.
  returned: always
  type: str
actions:
  description: The chain commands run, in order (V(ADD), V(DEL)); empty in check mode.
  returned: always
  type: list
  elements: str
  sample: [DEL, ADD]
cache_path:
  description: The attachment's cache file (libcni's layout).
  returned: always
  type: str
  sample: /var/lib/cni/results/podnet-web-1-eth0
network:
  description: The network used - name, effective C(cniVersion), file and plugin types.
  returned: when the network loads
  type: dict
  sample: {name: podnet, cni_version: 1.0.0, path: /etc/cni/net.d/10-podnet.conflist, plugins: [bridge, portmap]}
invocations:
  description: Each plugin run - plugin type, command, exit code, duration in milliseconds.
  returned: always
  type: list
  elements: dict
cni_code:
  description: The CNI error code the failing plugin reported (null when it gave none, e.g. no binary).
  returned: on failure by a plugin
  type: int
  sample: 7
cni_msg:
  description: The failing plugin's error message.
  returned: on failure by a plugin
  type: str
cni_details:
  description: The failing plugin's error details.
  returned: on failure by a plugin, when it gave details
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cni.node.plugins.module_utils import _cnicache, _cniruntime, _edge, _labels
from ansible_collections.cni.node.plugins.module_utils._params import netns_value


def main():
    module = AnsibleModule(
        argument_spec=_cniruntime.argument_spec(
            container_id=dict(type='str', required=True),
            netns=dict(type='str'),
            ifname=dict(type='str', default='eth0'),
            args=dict(type='dict'),
            capability_args=dict(type='dict'),
            labels=dict(type='dict'),
            state=dict(type='str', default='present', choices=['present', 'absent', 'checked']),
        ),
        mutually_exclusive=[('network', 'config')],
        required_one_of=[('network', 'config')],
        required_if=[('state', 'present', ['netns']), ('state', 'checked', ['netns'])],
        supports_check_mode=True,
    )
    p = module.params
    runner = None
    with _edge.edge(module, 'cni_attachment', details=lambda: dict(invocations=runner.invocations if runner else [])):
        runner, load = _cniruntime.from_params(p)
        rt = _cnicache.RuntimeConf(p['container_id'], _cnicache.netns_path(netns_value(p['netns'])), p['ifname'],
                                   args=p['args'], capability_args=p['capability_args'],
                                   labels=_labels.check_labels(p['labels']))
        outcome = _cniruntime.reconcile(runner, load, rt, p['state'], p['cache_dir'], check_mode=module.check_mode,
                                        network_name=p['network'])

    for warning in (outcome.network.warnings if outcome.network is not None else []) + runner.warnings:
        module.warn(warning)
    extra = dict(result=outcome.result, check=outcome.check, actions=outcome.actions, cache_path=outcome.cache_path,
                 invocations=runner.invocations)
    if outcome.network is not None:
        extra['network'] = outcome.network.summary()
    module.exit_json(**outcome.changes.result(diff_mode=module._diff, **extra))


if __name__ == '__main__':
    main()
