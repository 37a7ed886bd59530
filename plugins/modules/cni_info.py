#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cni_info
short_description: Facts about a node's CNI layer - networks, plugin binaries, links, namespaces, leases, sysctls
version_added: 0.1.0
description:
  - Reads, never changes, the CNI state of a node and returns it as RV(cni).
  - C(networks) - every configuration file of O(conf_dir) as a runtime sees it (parsed, loads, valid against the
    specification, effective C(cniVersion), plugin types), the network a runtime loads first, and names defined by
    more than one file.
  - C(plugins) - the binaries in O(bin_dirs) (the first of each name, as C(CNI_PATH) finds it; later ones are
    listed as shadowed) with their sha256, safety problems and the spec versions they report to C(VERSION) (run
    only for binaries owned by root and not writable by others).
  - C(links) - bridges, VXLAN devices and veths of the node, each veth with the named namespace and name of its
    peer.
  - C(namespaces) - the named network namespaces (C(/run/netns)).
  - C(leases) - per network with host-local IPAM, the leases (used, free, stale - held by no live attachment, as
    M(cni.node.cni_gc) judges it) and each lease's holder.
  - C(sysctls) - the kernel parameters CNI networking depends on (forwarding, rp_filter, bridge netfilter,
    conntrack).
  - C(attachments) - per network, libcni's cached attachments (container_id, ifname, netns, live, ips) with the
    labels M(cni.node.cni_attachment) recorded.
  - C(dhcp) - the CNI dhcp daemon of each socket the networks' dhcp IPAM use (and of the default
    C(/run/cni/dhcp.sock)) - whether it answers, its pid, binary, options and version - and per dhcp network the
    leases its cached attachments hold (address, holder, namespace, stale when the namespace is gone).
  - O(query) selects a part with a JMESPath expression; the answer is RV(value).
author:
  - cni.node developers (!UNKNOWN)
extends_documentation_fragment:
  - cni.node.attributes
attributes:
  check_mode:
    description: The module changes nothing; check mode returns the same facts.
options:
  gather:
    description: Which sections to read (all by default). C(plugins) hashes every binary and runs C(VERSION).
    type: list
    elements: str
    choices: [networks, plugins, links, namespaces, leases, sysctls, attachments, dhcp]
  conf_dir:
    description: Directory of network configuration files.
    type: path
    default: /etc/cni/net.d
  bin_dirs:
    description: Directories of plugin binaries, in C(CNI_PATH) order.
    type: list
    elements: path
    default: [/opt/cni/bin]
  cache_dir:
    description: libcni's cache directory, to judge which leases are stale.
    type: path
    default: /var/lib/cni
  plugin_versions:
    description: Ask each safe plugin binary for its spec versions (the C(VERSION) command).
    type: bool
    default: true
  dhcp_sockets:
    description:
      - More dhcp daemon sockets for the C(dhcp) section to report, besides those of the networks of O(conf_dir)
        and the default C(/run/cni/dhcp.sock) (for example to check a daemon before any network uses it).
      - Connecting to a socket under systemd socket activation starts its daemon.
    type: list
    elements: path
    default: []
  query:
    description:
      - A JMESPath expression applied to RV(cni), for example C(networks.default_network.name) or
        C(leases.podnet.used). Needs the Python library jmespath on the node.
    type: str
notes:
  - Run as root to read every lease and cache file and to see the namespaces' links.
seealso:
  - module: cni.node.cni_gc
  - module: cni.node.cni_network
'''

EXAMPLES = r'''
- name: Everything
  cni.node.cni_info:
  register: cni

- name: The default network and the lease counts of podnet
  cni.node.cni_info:
    gather: [networks, leases]
    query: "{default: networks.default_network.name, used: leases.podnet.used, free: leases.podnet.free}"
  register: summary

- name: Fail when a plugin binary on the node differs from the release
  ansible.builtin.assert:
    that: cni.cni.plugins.bridge.sha256 == expected_bridge_sha256
'''

RETURN = r'''
cni:
  description: The facts, one key per gathered section.
  returned: always
  type: dict
  contains:
    networks:
      description: C(conf_dir), C(files) (path, name, kind, loads, valid, error, cni_version, plugins),
        C(default_network) (path, name, problem), C(duplicates) (name -> paths).
      type: dict
      returned: when gathered
    plugins:
      description: Binary name -> C(path), C(sha256), C(versions), C(problems), C(shadowed), C(error).
      type: dict
      returned: when gathered
    links:
      description: Bridges, VXLAN devices and veths - C(name), C(kind), C(mtu), C(mac), C(up), C(master), C(peer)
        (veths - C(netns), C(name)), C(vxlan).
      type: list
      elements: dict
      returned: when gathered
    namespaces:
      description: Named network namespaces.
      type: list
      elements: str
      returned: when gathered
    leases:
      description: Network -> C(dirs), C(used), C(free), C(stale), C(size), C(leases) (address, container_id,
        ifname, stale).
      type: dict
      returned: when gathered
    sysctls:
      description: Key -> value (null when the key does not exist).
      type: dict
      returned: when gathered
    attachments:
      description: Network -> list of C(container_id), C(ifname), C(netns), C(live), C(ips), C(labels).
      type: dict
      returned: when gathered
    dhcp:
      description:
        - C(daemons) - one item per dhcp daemon socket (the networks' C(daemonSocketPath) values and the default
          C(/run/cni/dhcp.sock)) - C(socket), C(networks) using it, C(answers), C(problem), and of the
          C(dhcp daemon) process serving it (found in /proc), C(pid), C(binary), C(options), C(version) (the
          binary's own) and C(spec_versions).
        - C(networks) - per network with dhcp IPAM, C(sockets) and C(leases) - each address its cached
          attachments hold, with C(container_id), C(ifname), C(netns) and C(stale) (the namespace is gone).
      type: dict
      returned: when gathered
  sample:
    networks:
      default_network: {name: podnet, path: /etc/cni/net.d/10-podnet.conflist, problem: null}
    leases:
      podnet: {used: 3, free: 238, stale: 1, size: 241}
value:
  description: What O(query) selected.
  returned: when O(query) is given
  type: raw
  sample: {default: podnet, used: 3, free: 238}
errors:
  description: Sections that could not be read, with the reason (for example links without pyroute2).
  returned: always
  type: dict
changed:
  description: Always false.
  returned: always
  type: bool
'''

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.cni.node.plugins.module_utils import _cniinfo, _edge, _fileutil, _netlink
from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError
from ansible_collections.cni.node.plugins.module_utils._params import check_paths

try:
    import jmespath
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError:
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = traceback.format_exc()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            gather=dict(type='list', elements='str', choices=list(_cniinfo.SECTIONS)),
            conf_dir=dict(type='path', default='/etc/cni/net.d'),
            bin_dirs=dict(type='list', elements='path', default=['/opt/cni/bin']),
            cache_dir=dict(type='path', default='/var/lib/cni'),
            plugin_versions=dict(type='bool', default=True),
            dhcp_sockets=dict(type='list', elements='path', default=[]),
            query=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    with _edge.edge(module, 'cni_info'):
        check_paths(p, ('conf_dir', 'bin_dirs', 'cache_dir', 'dhcp_sockets'))
    if p['query'] is not None and not HAS_JMESPATH:
        module.fail_json(msg=missing_required_lib('jmespath'), exception=JMESPATH_IMPORT_ERROR, param='query')
    gather = p['gather'] or list(_cniinfo.SECTIONS)
    facts, errors = {}, {}
    with _edge.edge(module, 'cni_info'):
        names = _cniinfo.namespaces()
    readers = dict(
        networks=lambda: _cniinfo.networks(p['conf_dir'], _fileutil.read_text),
        plugins=lambda: _cniinfo.plugins(p['bin_dirs'], ask_versions=p['plugin_versions']),
        links=lambda: _cniinfo.links(_netlink.Netlink, names),
        namespaces=lambda: names,
        leases=lambda: _cniinfo.leases(p['conf_dir'], p['cache_dir'], _fileutil.read_text),
        sysctls=_cniinfo.sysctls,
        attachments=lambda: _cniinfo.attachments(p['cache_dir']),
        dhcp=lambda: _cniinfo.dhcp(p['conf_dir'], p['cache_dir'], _fileutil.read_text, sockets=p['dhcp_sockets']),
    )
    for section in gather:
        try:
            facts[section] = readers[section]()
        except CniNodeError as exc:
            errors[section] = exc.msg
        except (IOError, OSError) as exc:   # the section's error, named by the parameter it came from
            errors[section] = _edge.os_error_kwargs(exc, 'cni_info', _edge.path_params(module.argument_spec, p))['msg']
    result = dict(changed=False, cni=facts, errors=errors)
    if p['query'] is not None:
        try:
            result['value'] = jmespath.search(p['query'], facts)
        except jmespath.exceptions.JMESPathError as exc:
            module.fail_json(msg='query %r is not a valid JMESPath expression: %s' % (p['query'], exc),
                             param='query')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
