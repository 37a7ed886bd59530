# -*- coding: utf-8 -*-
"""The exec adapter: finding plugin binaries, judging them, running them, reading their answer.

A plugin here is a tiny real executable (a Python script in a temporary
directory, run for real, no mock): what it is given (environment, stdin,
working directory) and what it answers are exactly what a plugin sees and
says.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cniexec
from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError

# Records what it was given, then answers as the command asks.
PLUGIN = r'''#!%(python)s
import json, os, sys, time
stdin = sys.stdin.read()
with open(%(record)r, 'w') as f:
    json.dump({'env': dict(os.environ), 'stdin': stdin, 'cwd': os.getcwd()}, f)
command = os.environ.get('CNI_COMMAND')
if command == 'VERSION':
    print(json.dumps({'cniVersion': '1.0.0', 'supportedVersions': ['0.4.0', '1.0.0']}))
elif command == 'HANG':
    time.sleep(30)
elif command == 'FAIL':
    print(json.dumps({'code': 7, 'msg': 'bad config'}))
    sys.stderr.write('something went wrong\n')
    sys.exit(1)
elif command == 'ADD':
    print(json.dumps({'cniVersion': '1.0.0', 'ips': [], 'got': json.loads(stdin)}))
'''

# A plugin from before spec 0.2.0: it does not know VERSION.
OLD_PLUGIN = r'''#!%(python)s
import json, os, sys
print(json.dumps({'code': 4, 'msg': 'unknown CNI_COMMAND: %%s' %% os.environ.get('CNI_COMMAND')}))
sys.exit(1)
'''


def script(path, text, **values):
    path.write_text(text % dict(python=sys.executable, **values))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def plugin(tmp_path):
    record = str(tmp_path / 'record.json')
    path = script(tmp_path / 'fake', PLUGIN, record=record)

    class Plugin(object):
        def __init__(self):
            self.path = path

        @staticmethod
        def seen():
            with open(record) as f:
                return json.load(f)
    return Plugin()


def not_about_ownership(problems):
    """Problems other than the owner (the unit suite may run as a user other than root)."""
    return [p for p in problems if 'not root' not in p]


# ---------------------------------------------------------------- finding and judging binaries

def test_find_plugin_takes_the_first_directory_holding_a_file(tmp_path):
    first, second = tmp_path / 'a', tmp_path / 'b'
    first.mkdir()
    second.mkdir()
    (first / 'bridge').mkdir()            # a directory of that name is not a binary
    (second / 'bridge').write_text('')
    (first / 'portmap').write_text('')
    (second / 'portmap').write_text('')
    dirs = [str(first), str(second)]
    assert _cniexec.find_plugin('bridge', dirs) == str(second / 'bridge')
    assert _cniexec.find_plugin('portmap', dirs) == str(first / 'portmap')
    assert _cniexec.find_plugin('nope', dirs) is None
    assert _cniexec.find_plugin('bridge', []) is None


def test_a_safe_binary_has_no_problem(plugin):
    assert not_about_ownership(_cniexec.binary_problems(plugin.path)) == []
    if os.geteuid() == 0:
        assert _cniexec.binary_problems(plugin.path) == []


def test_a_binary_others_can_replace_is_refused(tmp_path):
    path = tmp_path / 'x'
    path.write_text('')
    for mode, who in ((0o775, 'group'), (0o757, 'others'), (0o777, 'group and others')):
        path.chmod(mode)
        problems = not_about_ownership(_cniexec.binary_problems(str(path)))
        assert problems == ['%s is writable by %s (mode %04o)' % (path, who, mode)]


def test_a_binary_that_cannot_run_is_refused(tmp_path):
    path = tmp_path / 'x'
    path.write_text('')
    path.chmod(0o644)
    assert not_about_ownership(_cniexec.binary_problems(str(path))) == ['is not executable (mode 0644)']
    assert _cniexec.binary_problems(str(tmp_path)) == ['is not a regular file']
    assert _cniexec.binary_problems(str(tmp_path / 'missing')) == ['cannot be read (No such file or directory)']


def test_a_writable_directory_above_the_binary_is_refused(tmp_path):
    loose = tmp_path / 'loose'
    loose.mkdir()
    path = loose / 'x'
    path.write_text('')
    path.chmod(0o755)
    loose.chmod(0o777)
    try:
        problems = not_about_ownership(_cniexec.binary_problems(str(path)))
    finally:
        loose.chmod(0o755)
    assert problems == ['lies in %s is writable by group and others (mode 0777)' % loose]
    loose.chmod(0o1777)      # sticky, like /tmp: only the owner may rename what is in it
    try:
        assert not_about_ownership(_cniexec.binary_problems(str(path))) == []
    finally:
        loose.chmod(0o755)


def test_a_link_is_judged_by_its_target_and_named_with_it(tmp_path):
    target = tmp_path / 'real'
    target.write_text('')
    target.chmod(0o777)
    link = tmp_path / 'link'
    link.symlink_to(target)
    problems = not_about_ownership(_cniexec.binary_problems(str(link)))
    assert problems == ['%s (-> %s) is writable by group and others (mode 0777)' % (link, target)]


# ---------------------------------------------------------------- the answer

@pytest.mark.parametrize('stdout, answer', [
    ('{"cniVersion": "1.0.0"}\n', {'cniVersion': '1.0.0'}),
    ('', None),
    ('  \n', None),
    ('not json {', None),
    ('[1, 2]', [1, 2]),
])
def test_the_answer_is_stdout_parsed_as_json_or_none(stdout, answer):
    inv = _cniexec.Invocation('/p', 'ADD', {}, b'', 0, stdout, '', 0.1)
    assert inv.answer == answer and inv.stdout == stdout


# ---------------------------------------------------------------- running a plugin

def test_a_plugin_gets_a_minimal_environment_its_stdin_and_the_root_directory(plugin, monkeypatch):
    monkeypatch.setenv('CNI_NODE_TEST_LEAK', 'secret')
    inv = _cniexec.execute(plugin.path, 'ADD', b'{"type": "fake"}', env={'CNI_IFNAME': 'eth0'})
    seen = plugin.seen()
    # LC_CTYPE is set by the Python interpreter running the fake plugin (PEP 538), not by execute().
    env = dict((k, v) for k, v in seen['env'].items() if k != 'LC_CTYPE')
    assert env == {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CNI_COMMAND': 'ADD',
                   'CNI_IFNAME': 'eth0'}
    assert seen['stdin'] == '{"type": "fake"}' and seen['cwd'] == '/'
    assert inv.returncode == 0 and inv.answer['got'] == {'type': 'fake'}
    assert (inv.path, inv.command, inv.stdin) == (plugin.path, 'ADD', b'{"type": "fake"}')
    assert inv.env == env and inv.duration > 0


def test_a_failing_plugin_gives_its_exit_code_answer_and_stderr(plugin):
    inv = _cniexec.execute(plugin.path, 'FAIL', b'{}')
    assert inv.returncode == 1 and inv.answer == {'code': 7, 'msg': 'bad config'}
    assert inv.stderr == 'something went wrong\n'
    assert _cniexec.run_plugin(plugin.path, 'FAIL', {}) == (1, {'code': 7, 'msg': 'bad config'},
                                                            'something went wrong')


def test_run_plugin_sends_the_config_as_json(plugin):
    rc, answer, err = _cniexec.run_plugin(plugin.path, 'ADD', {'type': 'fake', 'mtu': 1400})
    assert (rc, err) == (0, '') and answer['got'] == {'type': 'fake', 'mtu': 1400}
    assert json.loads(plugin.seen()['stdin']) == {'type': 'fake', 'mtu': 1400}


def test_a_plugin_past_its_timeout_is_killed(plugin):
    with pytest.raises(_cniexec.PluginError) as exc:
        _cniexec.execute(plugin.path, 'HANG', b'{}', timeout=0.5)
    assert exc.value.msg == '%s did not answer HANG within 0.5 s (killed)' % plugin.path
    assert exc.value.details == {'plugin': plugin.path, 'timeout': 0.5}


def test_a_binary_that_cannot_be_run_is_a_plugin_error(tmp_path):
    path = tmp_path / 'x'
    path.write_text('#!/nonexistent/interpreter\n')
    path.chmod(0o755)
    with pytest.raises(_cniexec.PluginError) as exc:
        _cniexec.execute(str(path), 'ADD', b'{}')
    assert exc.value.msg == 'cannot run %s: No such file or directory' % path
    path.chmod(0o644)
    with pytest.raises(_cniexec.PluginError) as exc:
        _cniexec.execute(str(path), 'ADD', b'{}')
    assert exc.value.msg == 'cannot run %s: Permission denied' % path


# ---------------------------------------------------------------- VERSION

def test_versions_are_what_the_plugin_reports(plugin):
    assert _cniexec.versions(plugin.path) == ['0.4.0', '1.0.0']
    assert json.loads(plugin.seen()['stdin']) == {'cniVersion': '1.1.0'}
    _cniexec.versions(plugin.path, probe_version='0.4.0')
    assert json.loads(plugin.seen()['stdin']) == {'cniVersion': '0.4.0'}


def test_a_plugin_without_version_supports_0_1_0_only(tmp_path):
    assert _cniexec.versions(script(tmp_path / 'old', OLD_PLUGIN)) == ['0.1.0']


def test_a_program_that_is_no_plugin_is_named_with_its_exit_code(tmp_path):
    path = script(tmp_path / 'garbage', '#!%(python)s\nprint("not json {")\n')
    with pytest.raises(_cniexec.PluginError) as exc:
        _cniexec.versions(path)
    assert exc.value.msg == '%s is not a CNI plugin answering VERSION (exit code 0): no JSON answer' % path
    failing = script(tmp_path / 'failing', '#!%(python)s\nimport sys\nsys.stderr.write("boom\\n")\nsys.exit(3)\n')
    with pytest.raises(_cniexec.PluginError) as exc:
        _cniexec.versions(failing)
    assert exc.value.msg == '%s is not a CNI plugin answering VERSION (exit code 3): boom' % failing


# ---------------------------------------------------------------- errors

def test_a_cni_failure_is_a_plugin_error_carrying_the_cni_error():
    exc = _cniexec.CniFailure('plugin failed', code=7, cni_msg='bad', cni_details='why', plugin='bridge',
                              command='ADD', param='network')
    assert isinstance(exc, _cniexec.PluginError) and isinstance(exc, CniNodeError)
    assert (exc.code, exc.cni_msg, exc.cni_details, exc.plugin, exc.command) == (7, 'bad', 'why', 'bridge', 'ADD')
    assert exc.to_fail_kwargs() == dict(msg='plugin failed', param='network', cni_code=7, cni_msg='bad',
                                        cni_details='why', plugin='bridge', command='ADD')
