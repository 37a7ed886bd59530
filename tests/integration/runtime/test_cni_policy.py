# -*- coding: utf-8 -*-
"""cni_policy on the real kernel: pods attached through cni_attachment (the reference bridge plugin),
policies enforced by nftables, real ICMP, TCP and UDP traffic between the pods.

Everything runs inside the lab's host namespace (conftest.py): the bridge,
the module and every nft command, so the machine's own ruleset is never
read or touched. Network names are test-unique (``cnt...``), so is the table
(``cni_node_cnt...``); the namespace's removal takes the table with it, and
the tests delete their tables first anyway.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys
import uuid

import pytest

from conftest import sh

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'policy_probe.py')
TCP_PORTS = (80, 8080, 8090, 8091)
UDP_PORTS = (53, 54, 8080)


def _nft_json_works():
    return subprocess.call(['nft', '-j', 'list', 'tables'], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) == 0


class Pods(object):
    """The pods of one policy lab: attached with labels, each running listeners."""

    def __init__(self, lab):
        self.lab = lab
        self.network = 'cnt' + uuid.uuid4().hex[:8]
        self.table = 'cni_node_' + self.network
        lab.write_network(lab.chain(self.network, portmap=False, tuning=False, ip_masq=False))
        self.ns = {}
        self.ip = {}
        self.servers = []
        # br_netfilter: bridged traffic through the inet forward hook, in the lab's host namespace only.
        lab.in_host('sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1')

    def attach(self, name, labels, check=False):
        if name not in self.ns:
            self.ns[name] = self.lab.pod()
        res = self.lab.module('cni_attachment', self.attach_args(name, labels), check=check)
        assert 'failed' not in res, res
        if not check:
            self.ip[name] = res['result']['ips'][0]['address'].split('/')[0]
        return res

    def attach_args(self, name, labels):
        args = dict(network=self.network, container_id='ctr-' + name, netns=self.ns[name],
                    conf_dir=self.lab.conf_dir, bin_dirs=['/usr/lib/cni'], cache_dir=self.lab.cache_dir)
        if labels is not None:
            args['labels'] = labels
        return args

    def serve(self, name):
        proc = subprocess.Popen(['ip', 'netns', 'exec', self.ns[name], sys.executable, PROBE, 'serve',
                                 ','.join(str(p) for p in TCP_PORTS), ','.join(str(p) for p in UDP_PORTS)],
                                stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b'ready'
        self.servers.append(proc)

    def stop(self):
        for proc in self.servers:
            proc.kill()
            proc.wait()

    def policy(self, name, check=False, **spec):
        args = dict(name=name, network=self.network, conf_dir=self.lab.conf_dir, cache_dir=self.lab.cache_dir)
        args.update(spec)
        return self.lab.module('cni_policy', args, check=check)

    def traffic(self, cases):
        """{case: reached} for cases (src, kind, dst, port): one probe process per source, probes in parallel."""
        by_src = {}
        for case in cases:
            by_src.setdefault(case[0], []).append(case)
        out = {}
        for src, items in by_src.items():
            probes = [[kind, self.ip[dst], port] for _s, kind, dst, port in items]
            res = sh('ip', 'netns', 'exec', self.ns[src], sys.executable, PROBE, 'probe', json.dumps(probes))
            out.update(zip(items, json.loads(res)))
        return out

    def nft(self, *argv, **kwargs):
        return self.lab.in_host('nft', *argv, **kwargs)

    def listing(self):
        out = self.lab.in_host('nft', '-j', 'list', 'table', 'inet', self.table, check=False)
        return json.loads(out)['nftables'][1:] if out.strip() else None

    def ruleset(self):
        return self.lab.in_host('nft', 'list', 'ruleset')


@pytest.fixture
def pods(lab):
    if not _nft_json_works():
        pytest.skip('nft with JSON support is not available (install nftables)')
    if sh('ip', 'netns', 'exec', lab.host, 'cat', '/proc/sys/net/bridge/bridge-nf-call-iptables',
          check=False).strip() == '':
        pytest.skip('br_netfilter is not loaded on this kernel: bridged pod traffic cannot reach the forward hook')
    the = Pods(lab)
    try:
        yield the
    finally:
        the.stop()
        the.nft('delete', 'table', 'inet', the.table, check=False)


ALLOW, DENY = True, False


def check_table(pods, expected):
    got = pods.traffic(list(expected))
    wrong = dict((case, got[case]) for case in expected if got[case] != expected[case])
    assert not wrong, 'cases that disagree (case: reached): %s' % wrong


def test_truth_table_of_real_traffic(pods):
    for name, labels in (('web1', {'app': 'web', 'tier': 'front'}), ('web2', {'app': 'web'}),
                         ('db', {'app': 'db'}), ('client', {'role': 'client'}), ('other', {})):
        pods.attach(name, labels)
        pods.serve(name)
    before = pods.ruleset()
    table = {}

    # 0. No policy: open.
    check_table(pods, {('client', 'tcp', 'web1', 80): ALLOW, ('client', 'icmp', 'web1', 0): ALLOW})

    # 1. Default deny ingress for app=web.
    res = pods.policy('web-deny', pod_selector={'match_labels': {'app': 'web'}}, policy_types=['Ingress'])
    assert res['changed'] is True and res['transactions'] == 1, res
    assert sorted(res['selected']) == ['ctr-web1/eth0', 'ctr-web2/eth0']
    step = {('client', 'icmp', 'web1', 0): DENY,            # default deny ingress (ICMP)
            ('client', 'tcp', 'web1', 80): DENY,            # default deny ingress (TCP)
            ('client', 'udp', 'web2', 53): DENY,            # default deny ingress (UDP)
            ('client', 'tcp', 'db', 80): ALLOW,             # a pod selected by none stays open
            ('web1', 'tcp', 'client', 80): ALLOW}           # egress not isolated; the reply passes
    check_table(pods, step)
    table.update(step)

    # 2. Allow from a label, on a port range (end_port); policies add up.
    pods.policy('web-from-client', pod_selector={'match_labels': {'app': 'web'}},
                ingress=[{'from': [{'pod_selector': {'match_expressions': [{'key': 'role', 'operator': 'In',
                                                                            'values': ['client']}]}}],
                          'ports': [{'protocol': 'TCP', 'port': 8080, 'end_port': 8090}]}])
    step = {('client', 'tcp', 'web1', 8080): ALLOW,         # allowed label, start of the range
            ('client', 'tcp', 'web1', 8090): ALLOW,         # end of the range (end_port)
            ('client', 'tcp', 'web1', 8091): DENY,          # past end_port
            ('client', 'tcp', 'web1', 80): DENY,            # port outside the rule
            ('client', 'udp', 'web1', 8080): DENY,          # other protocol
            ('other', 'tcp', 'web1', 8080): DENY,           # peer without the label
            ('db', 'tcp', 'web2', 8080): DENY}              # peer with another label
    check_table(pods, step)
    table.update(step)

    # 3. ip_block with except, adding up with the policies before.
    subnet = pods.lab.net + '.0/24'
    pods.policy('web-ipblock', pod_selector={'match_labels': {'app': 'web'}},
                ingress=[{'from': [{'ip_block': {'cidr': subnet, 'except': [pods.ip['db'] + '/32']}}],
                          'ports': [{'port': 80}]}])
    step = {('other', 'tcp', 'web2', 80): ALLOW,            # inside the ip_block
            ('db', 'tcp', 'web2', 80): DENY,                # the except
            ('client', 'tcp', 'web2', 8080): ALLOW,         # still allowed by web-from-client: they add up
            ('other', 'icmp', 'web2', 0): DENY}             # ip_block rule is TCP 80 only
    check_table(pods, step)
    table.update(step)

    # 4. Egress deny with an allowed DNS-like UDP port; ingress of db untouched.
    pods.policy('db-egress', pod_selector={'match_labels': {'app': 'db'}}, policy_types=['Egress'],
                egress=[{'ports': [{'protocol': 'UDP', 'port': 53}]}])
    step = {('db', 'udp', 'client', 53): ALLOW,             # the allowed DNS-like port, and its reply
            ('db', 'udp', 'client', 54): DENY,              # another UDP port
            ('db', 'tcp', 'client', 80): DENY,              # TCP
            ('db', 'icmp', 'client', 0): DENY,              # ICMP
            ('client', 'tcp', 'db', 80): ALLOW}             # ingress to db: open; the reply leaves db
    check_table(pods, step)
    table.update(step)

    # 5. A pod attached after the policy: open until the next run, then governed.
    pods.attach('late', {'app': 'web'})
    pods.serve('late')
    check_table(pods, {('client', 'tcp', 'late', 8091): ALLOW})
    rerun = pods.policy('web-deny', pod_selector={'match_labels': {'app': 'web'}}, policy_types=['Ingress'])
    assert rerun['changed'] is True and 'ctr-late/eth0' in rerun['selected'], rerun
    step = {('client', 'tcp', 'late', 8091): DENY,          # attached after the policy: denied on the next run
            ('client', 'tcp', 'late', 8080): ALLOW}         # and allowed what the others allow
    check_table(pods, step)
    table.update(step)

    # 6. Labels changed: an update of the cache entry, not a re-ADD; the next run follows them.
    relabel = pods.attach('web2', {'app': 'api'})
    assert relabel['changed'] is True and relabel['actions'] == [], relabel
    assert relabel['drift'] == [{'path': 'attachment/%s-ctr-web2-eth0/labels' % pods.network,
                                 'before': {'app': 'web'}, 'after': {'app': 'api'}}]
    assert relabel['result']['ips'][0]['address'].startswith(pods.ip['web2'] + '/')
    pods.policy('web-deny', pod_selector={'match_labels': {'app': 'web'}}, policy_types=['Ingress'])
    step = {('client', 'tcp', 'web2', 8091): ALLOW}         # no longer selected
    check_table(pods, step)
    table.update(step)

    # 7. Deleting the policies reopens; the last one takes the table.
    for name in ('web-deny', 'web-from-client', 'web-ipblock'):
        assert pods.policy(name, state='absent')['changed'] is True
    step = {('client', 'tcp', 'web1', 80): ALLOW, ('client', 'icmp', 'web1', 0): ALLOW}
    check_table(pods, step)
    assert pods.listing() is not None                       # db-egress is left
    last = pods.policy('db-egress', state='absent')
    assert last['changed'] is True and {'path': 'policy/%s/table' % pods.network, 'before': 'present',
                                        'after': 'absent'} in last['drift']
    assert pods.listing() is None
    check_table(pods, {('db', 'tcp', 'client', 80): ALLOW})
    assert pods.ruleset() == before                          # nothing else left behind
    assert len(table) >= 20, len(table)


def test_idempotent_and_exact_drift(pods):
    # In this order host-local gives a and b addresses that do not collapse into one prefix.
    for name, labels in (('a', {'app': 'web'}), ('c', {'role': 'client'}), ('b', {'app': 'web'}),
                         ('d', {})):
        pods.attach(name, labels)
    spec = dict(pod_selector={'match_labels': {'app': 'web'}},
                ingress=[{'from': [{'pod_selector': {'match_labels': {'role': 'client'}}}],
                          'ports': [{'port': 8080}]}])
    predicted = pods.policy('web', check=True, **spec)
    assert predicted['changed'] is True and pods.listing() is None
    first = pods.policy('web', **spec)
    assert first['changed'] is True and first['drift'] == predicted['drift']
    again = pods.policy('web', **spec)
    assert again['changed'] is False and again['drift'] == [] and again['transactions'] == 0, again

    # A set element removed by hand.
    pods.nft('delete', 'element', 'inet', pods.table, 'web.sel4', '{ %s }' % pods.ip['a'])
    # A rule changed by hand: the port of the allow rule (same comment, other expression).
    rules = [i['rule'] for i in pods.listing() if 'rule' in i]
    allow = [r for r in rules if r.get('comment') == 'cni-node:web:ingress:0:ip:port0'][0]
    pods.nft('replace', 'rule', 'inet', pods.table, 'ingress', 'handle', str(allow['handle']),
             'ip', 'daddr', '@web.sel4', 'ip', 'saddr', '@web.i0.4', 'tcp', 'dport', '9999', 'accept',
             'comment', '"cni-node:web:ingress:0:ip:port0"')
    # A rule added by hand.
    pods.nft('insert', 'rule', 'inet', pods.table, 'ingress', 'ip', 'saddr', '192.0.2.1', 'accept')
    expected = [
        {'path': 'policy/%s/web/set/web.sel4' % pods.network,
         'before': [pods.ip['b']], 'after': sorted([pods.ip['a'], pods.ip['b']],
                                                   key=lambda a: tuple(int(x) for x in a.split('.')))},
        {'path': 'policy/%s/_unowned/rule/ingress/handle %d' % (pods.network, max(r['handle'] for r in rules) + 1),
         'before': 'ip saddr 192.0.2.1 accept', 'after': None},
        {'path': 'policy/%s/web/rule/ingress:0:ip:port0' % pods.network,
         'before': 'ip daddr @web.sel4 ip saddr @web.i0.4 tcp dport 9999 accept',
         'after': 'ip daddr @web.sel4 ip saddr @web.i0.4 tcp dport 8080 accept'},
    ]
    drifted = pods.listing()
    check = pods.policy('web', check=True, **spec)

    def key(item):
        return item['path']
    assert check['changed'] is True and sorted(check['drift'], key=key) == sorted(expected, key=key), check['drift']
    assert pods.listing() == drifted                         # check mode changed nothing
    fixed = pods.policy('web', **spec)
    assert sorted(fixed['drift'], key=key) == sorted(expected, key=key) and fixed['transactions'] == 1
    assert pods.policy('web', **spec)['changed'] is False

    # The whole table deleted by hand.
    pods.nft('delete', 'table', 'inet', pods.table)
    gone = pods.policy('web', check=True, **spec)
    assert gone['drift'] == [{'path': 'policy/%s/table' % pods.network, 'before': 'absent', 'after': 'present'}]
    assert pods.policy('web', **spec)['drift'] == gone['drift']
    assert pods.policy('web', **spec)['changed'] is False

    # A new pod: its address joins the sets on the next run (drift names the sets).
    pods.attach('e', {'app': 'web'})
    new = pods.policy('web', **spec)
    assert sorted(d['path'] for d in new['drift']) == ['policy/%s/_node/set/_ingress4' % pods.network,
                                                       'policy/%s/web/set/web.sel4' % pods.network]
    assert pods.policy('web', state='absent')['changed'] is True and pods.listing() is None


BAD = [
    ('name', dict(name='Web_1')),
    ('network', dict(network='cntnosuchnet')),
    ('pod_selector', dict(pod_selector={'match_labels': {'-bad': 'x'}})),
    ('pod_selector', dict(pod_selector={'match_labels': {'app': 'a b'}})),
    ('pod_selector', dict(pod_selector={'match_expressions': [{'key': 'app', 'operator': 'Near', 'values': ['x']}]})),
    ('pod_selector', dict(pod_selector={'match_expressions': [{'key': 'app', 'operator': 'In'}]})),
    ('pod_selector', dict(pod_selector={'match_expressions': [{'key': 'app', 'operator': 'Exists',
                                                               'values': ['x']}]})),
    ('ingress', dict(ingress=[{'from': [{'ip_block': {'cidr': '10.0.0.300/8'}}]}])),
    ('ingress', dict(ingress=[{'from': [{'ip_block': {'cidr': '10.1.2.3/8'}}]}])),
    ('ingress', dict(ingress=[{'from': [{'ip_block': {'cidr': '10.0.0.0/8', 'except': ['192.168.0.0/16']}}]}])),
    ('ingress', dict(ingress=[{'ports': [{'port': 0}]}])),
    ('ingress', dict(ingress=[{'ports': [{'port': 70000}]}])),
    ('ingress', dict(ingress=[{'ports': [{'port': 8080, 'end_port': 80}]}])),
    ('ingress', dict(ingress=[{'ports': [{'protocol': 'ICMP', 'port': 1}]}])),
    ('ingress', dict(ingress=[{'ports': [{'port': 'http'}]}])),
    ('ingress', dict(ingress=[{'from': [{'namespace_selector': {'match_labels': {'team': 'a'}}}]}])),
    ('ingress', dict(ingress=[{'from': [{'pod_selector': {}, 'ip_block': {'cidr': '10.0.0.0/8'}}]}])),
    ('egress', dict(egress=[{'to': [{'ip_block': {'cidr': 'fd00::/8', 'except': ['10.0.0.0/8']}}]}])),
    ('egress', dict(egress=[{'ports': [{'end_port': 80}]}])),
    ('policy_types', dict(policy_types=['Egress'], ingress=[{}])),
]


def test_bad_input_is_refused_naming_the_parameter_and_nothing_changes(pods):
    pods.attach('a', {'app': 'web'})
    pods.policy('keep', pod_selector={'match_labels': {'app': 'web'}})
    before, policies = pods.ruleset(), sorted(os.listdir(os.path.join(pods.lab.cache_dir, 'cni-node-policies',
                                                                      pods.network)))
    assert len(BAD) >= 15
    for param, spec in BAD:
        args = dict(dict(name='bad'), **spec)
        name = args.pop('name')
        network = args.pop('network', pods.network)
        res = pods.lab.module('cni_policy', dict(args, name=name, network=network, conf_dir=pods.lab.conf_dir,
                                                 cache_dir=pods.lab.cache_dir))
        assert res.get('failed') is True, (spec, res)
        assert res.get('param') == param and param in res['msg'], (spec, res)
        assert pods.ruleset() == before, spec
        assert sorted(os.listdir(os.path.join(pods.lab.cache_dir, 'cni-node-policies', pods.network))) == policies


def test_bridge_netfilter_off_is_refused(pods):
    pods.attach('a', {'app': 'web'})
    pods.lab.in_host('sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=0')
    res = pods.policy('web', pod_selector={'match_labels': {'app': 'web'}})
    assert res.get('failed') is True and res['param'] == 'network', res
    assert 'bridge-nf-call-iptables is 0' in res['msg']
    assert pods.listing() is None


def test_portmap_iptables_rules_are_left_alone(pods):
    """The collection's table sits beside portmap's iptables-nft rules: they stay as they are, and work."""
    lab = pods.lab
    pods.network = pods.network + 'pm'
    pods.table = 'cni_node_' + pods.network
    lab.write_network(lab.chain(pods.network, portmap=True, tuning=False, ip_masq=True))
    pods.ns['web'] = lab.pod()
    args = pods.attach_args('web', {'app': 'web'})
    args['capability_args'] = {'portMappings': [{'hostPort': 18080, 'containerPort': 80, 'protocol': 'tcp'}]}
    res = lab.module('cni_attachment', args)
    assert 'failed' not in res, res
    pods.ip['web'] = res['result']['ips'][0]['address'].split('/')[0]
    pods.serve('web')

    def iptables():
        """iptables-save without its timestamps and counters."""
        return [re.sub(r' \[\d+:\d+\]$', '', line) for line in lab.iptables().splitlines()
                if not line.startswith('#')]

    rules = iptables()
    assert any('CNI-HOSTPORT-DNAT' in line for line in rules)
    applied = pods.policy('web-deny', pod_selector={'match_labels': {'app': 'web'}})
    assert applied['changed'] is True and applied['selected'] == ['ctr-web/eth0'], applied
    assert iptables() == rules                               # portmap's (and ipMasq's) rules untouched
    # The node's own connection through the host port (DNAT in output, not forwarded): still served.
    out = lab.in_host(sys.executable, '-c', 'import socket; s = socket.create_connection(("127.0.0.1", 18080), 2); '
                      'print(s.recv(10).decode())', check=False)
    assert out.strip() == 'ok', out
    assert pods.policy('web-deny', state='absent')['changed'] is True
    assert iptables() == rules and pods.listing() is None
