# -*- coding: utf-8 -*-
"""cni_plugin with the real reference plugins (Debian's containernetworking-plugins).

The test packs /usr/lib/cni into a release-style archive with a sha256 file
and serves both over HTTP on loopback, so the module goes through its URL
path; bin_dir is a temporary directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading

import pytest

try:
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
except ImportError:  # pragma: no cover - Python 2 is not supported by the tests
    SimpleHTTPRequestHandler = ThreadingHTTPServer = None

SYSTEM_PLUGINS = '/usr/lib/cni'
ARCHIVE = 'cni-plugins-linux-amd64-v1.1.1.tgz'
MANIFEST = '.cni-node-plugins.json'


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def plugin_names():
    return sorted(n for n in os.listdir(SYSTEM_PLUGINS) if os.access(os.path.join(SYSTEM_PLUGINS, n), os.X_OK))


def add_bytes(tar, name, data, mode=0o755, kind=tarfile.REGTYPE, linkname=''):
    info = tarfile.TarInfo(name)
    info.mode, info.type, info.linkname = mode, kind, linkname
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def release_archive(path, extra=None, names=None):
    """Like an upstream release: a flat tgz with ./<plugin> files, LICENSE and README.md."""
    with tarfile.open(path, 'w:gz', compresslevel=1) as tar:
        info = tarfile.TarInfo('./')
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for name in plugin_names() if names is None else names:
            tar.add(os.path.join(SYSTEM_PLUGINS, name), arcname='./' + name)
        add_bytes(tar, './LICENSE', b'Apache License 2.0\n', mode=0o644)
        add_bytes(tar, './README.md', b'# plugins\n', mode=0o644)
        for args in extra or []:
            add_bytes(tar, *args)


class Quiet(SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        Quiet.requests.append(self.path)


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """A served directory: the release archive, its .sha256 and crafted bad archives."""
    root = tmp_path_factory.mktemp('release')
    release_archive(str(root / ARCHIVE))
    (root / (ARCHIVE + '.sha256')).write_text('%s  %s\n' % (sha256(str(root / ARCHIVE)), ARCHIVE))
    crafted = {
        'symlink': [('./evil', b'', 0o777, tarfile.SYMTYPE, '/etc/passwd')],
        'hardlink': [('./evil', b'', 0o755, tarfile.LNKTYPE, './bridge')],
        'dotdot': [('../evil', b'#!/bin/sh\n')],
        'absolute': [('/tmp/cni-node-evil', b'#!/bin/sh\n')],
        'device': [('./evil', b'', 0o600, tarfile.CHRTYPE)],
        'nested': [('./sub/evil', b'#!/bin/sh\n')],
    }
    for name, extra in crafted.items():   # one real plugin beside the bad member
        release_archive(str(root / ('%s.tgz' % name)), extra, names=['loopback'])
    release_archive(str(root / 'notaplugin.tgz'), [('./hello', b'#!/bin/sh\necho hello\n')], names=['loopback'])
    server = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield dict(root=root, url='http://127.0.0.1:%d/' % server.server_address[1], crafted=sorted(crafted))
    finally:
        server.shutdown()
        server.server_close()


def bin_state(bin_dir):
    if not os.path.isdir(bin_dir):
        return None
    return {n: (sha256(os.path.join(bin_dir, n)), stat.S_IMODE(os.lstat(os.path.join(bin_dir, n)).st_mode))
            for n in sorted(os.listdir(bin_dir)) if n != MANIFEST and not os.path.isdir(os.path.join(bin_dir, n))}


def failing(res):
    assert res.get('failed') is True, res
    return res['msg']


def test_install_from_url_idempotent_and_repairs_drift(module, release, tmp_path):
    bin_dir = str(tmp_path / 'bin')
    args = dict(src=release['url'] + ARCHIVE, checksum=release['url'] + ARCHIVE + '.sha256', bin_dir=bin_dir)
    names = plugin_names()
    check = module('cni_plugin', args, check=True)
    assert bin_state(bin_dir) is None, 'check mode created bin_dir'
    first = module('cni_plugin', args)
    assert first['changed'] is True and first['drift'] == check['drift']
    assert [d['path'] for d in first['drift']] == ['dir/' + bin_dir.strip('/')] + ['binary/' + n for n in names]
    state = bin_state(bin_dir)
    assert sorted(state) == names, 'LICENSE/README.md must not be installed'
    for n in names:
        assert state[n] == (sha256(os.path.join(SYSTEM_PLUGINS, n)), 0o755)
        assert first['binaries'][n]['sha256'] == state[n][0]
    assert '1.0.0' in first['binaries']['bridge']['versions']
    assert [p for p in os.listdir(bin_dir) if p.startswith('.') and p != MANIFEST] == [], 'staging files left'

    del Quiet.requests[:]
    again = module('cni_plugin', args)
    assert again['changed'] is False and again['binaries'] == first['binaries']
    # The manifest proves bin_dir matches the archive: only the checksum file was fetched.
    assert Quiet.requests == ['/' + ARCHIVE + '.sha256']
    # The same binaries from the distribution folder: nothing to do either.
    assert module('cni_plugin', dict(src=SYSTEM_PLUGINS, bin_dir=bin_dir))['changed'] is False

    # A binary modified behind the module's back.
    with open(os.path.join(bin_dir, 'bridge'), 'ab') as f:
        f.write(b'tampered')
    tampered = bin_state(bin_dir)
    check = module('cni_plugin', args, check=True)
    assert check['drift'] == [dict(path='binary/bridge', before=tampered['bridge'][0], after=state['bridge'][0])]
    assert bin_state(bin_dir) == tampered, 'check mode changed bin_dir'
    fix = module('cni_plugin', args)
    assert fix['drift'] == check['drift'] and bin_state(bin_dir) == state
    os.chmod(os.path.join(bin_dir, 'ptp'), 0o777)
    mode = module('cni_plugin', args)
    assert mode['drift'] == [dict(path='binary/ptp/mode', before='0777', after='0755')]
    assert bin_state(bin_dir) == state
    assert module('cni_plugin', args)['changed'] is False
    manifest = json.loads(open(os.path.join(bin_dir, '.cni-node-plugins.json')).read())
    assert manifest['archive_sha256'] == sha256(str(release['root'] / ARCHIVE))
    assert manifest['binaries']['bridge']['sha256'] == state['bridge'][0]


def test_subset_exclusive_and_absent(module, release, tmp_path):
    bin_dir = str(tmp_path / 'bin')
    module('cni_plugin', dict(src=SYSTEM_PLUGINS, bin_dir=bin_dir))
    keep = ['bridge', 'host-local', 'loopback', 'portmap']
    res = module('cni_plugin', dict(src=release['url'] + ARCHIVE, checksum='sha256:' + sha256(
        str(release['root'] / ARCHIVE)), names=keep, exclusive=True, bin_dir=bin_dir))
    assert sorted(res['removed']) == sorted(set(plugin_names()) - set(keep))
    assert sorted(bin_state(bin_dir)) == keep and sorted(res['binaries']) == keep
    gone = module('cni_plugin', dict(names=['portmap'], state='absent', bin_dir=bin_dir))
    assert gone['drift'] == [dict(path='binary/portmap', before=sha256(os.path.join(SYSTEM_PLUGINS, 'portmap')),
                                  after=None)]
    assert sorted(bin_state(bin_dir)) == ['bridge', 'host-local', 'loopback']
    assert module('cni_plugin', dict(names=['portmap'], state='absent', bin_dir=bin_dir))['changed'] is False
    msg = failing(module('cni_plugin', dict(src=SYSTEM_PLUGINS, names=['nope'], bin_dir=bin_dir)))
    assert msg.startswith('names: nope not in the source')


def test_wrong_checksum_installs_nothing(module, release, tmp_path):
    bin_dir = str(tmp_path / 'bin')
    msg = failing(module('cni_plugin', dict(src=release['url'] + ARCHIVE, checksum='sha256:' + '0' * 64,
                                            bin_dir=bin_dir)))
    assert msg.startswith('checksum: ') and 'expected ' + '0' * 64 in msg
    assert bin_state(bin_dir) is None
    msg = failing(module('cni_plugin', dict(src=release['url'] + ARCHIVE, bin_dir=bin_dir)))
    assert msg.startswith('checksum: required when src is a URL')
    assert bin_state(bin_dir) is None


@pytest.mark.parametrize('kind', ['symlink', 'hardlink', 'dotdot', 'absolute', 'device', 'nested'])
def test_crafted_archives_are_refused_whole(module, release, tmp_path, kind):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'existing').write_bytes(b'old')
    before = bin_state(str(bin_dir))
    archive = str(release['root'] / ('%s.tgz' % kind))
    res = module('cni_plugin', dict(src=release['url'] + '%s.tgz' % kind, checksum='sha256:' + sha256(archive),
                                    bin_dir=str(bin_dir)))
    assert 'refusing the whole archive' in failing(res) and res['param'] == 'src'
    assert bin_state(str(bin_dir)) == before
    assert not os.path.exists('/tmp/cni-node-evil')


def test_verify_refuses_a_binary_that_is_not_a_plugin(module, release, tmp_path):
    bin_dir = str(tmp_path / 'bin')
    res = module('cni_plugin', dict(src=str(release['root'] / 'notaplugin.tgz'), bin_dir=bin_dir))
    assert 'is not a CNI plugin answering VERSION' in failing(res) and res['param'] == 'verify'
    assert bin_state(bin_dir) is None


def test_manifest_covers_the_whole_archive_and_verification(module, release, tmp_path):
    bin_dir = str(tmp_path / 'bin')
    args = dict(src=release['url'] + ARCHIVE, checksum='sha256:' + sha256(str(release['root'] / ARCHIVE)),
                bin_dir=bin_dir)
    module('cni_plugin', dict(args, names=['bridge'], verify=False))
    assert sorted(bin_state(bin_dir)) == ['bridge']
    # Without names: every binary of the archive, although the manifest exists.
    full = module('cni_plugin', args)
    assert full['changed'] is True and sorted(bin_state(bin_dir)) == plugin_names()
    # bridge was installed unverified; this run verified it.
    assert '1.0.0' in full['binaries']['bridge']['versions']
    assert module('cni_plugin', args)['changed'] is False


def test_a_failing_rename_keeps_the_binaries_already_there(module, tmp_path):
    bin_dir = tmp_path / 'bin'
    module('cni_plugin', dict(src=SYSTEM_PLUGINS, names=['bridge', 'loopback'], bin_dir=str(bin_dir)))
    before = bin_state(str(bin_dir))
    os.mkdir(str(bin_dir / 'portmap'))   # renaming a binary over a directory fails
    res = module('cni_plugin', dict(src=SYSTEM_PLUGINS, names=['bridge', 'loopback', 'portmap', 'ptp'],
                                    bin_dir=str(bin_dir)))
    assert res.get('failed') is True and 'portmap' in res['msg']
    after = bin_state(str(bin_dir))
    assert after['bridge'] == before['bridge'] and after['loopback'] == before['loopback']
    assert [p for p in os.listdir(str(bin_dir)) if p.startswith('.')] == [], 'staging files left'


def run_in(cwd, args, check=False):
    """cni_plugin as Ansible runs it, from the working directory ``cwd`` (where a relative path would land)."""
    argfile = os.path.join(str(cwd), '..', 'args-%s.json' % os.path.basename(str(cwd)))
    with open(argfile, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check, _ansible_diff=True)}, f)
    env = dict(os.environ, PYTHONPATH=os.environ['CNI_NODE_COLLECTIONS_ROOT'])
    proc = subprocess.run([sys.executable, '-m', 'ansible_collections.cni.node.plugins.modules.cni_plugin', argfile],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          cwd=str(cwd), check=False)
    os.unlink(argfile)
    return json.loads(proc.stdout)


@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
@pytest.mark.parametrize('param', ['bin_dir', 'src'])
def test_a_relative_path_installs_nothing_anywhere(release, tmp_path, param, check):
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    if param == 'src':   # what a relative src would find in the module's working directory
        os.symlink(SYSTEM_PLUGINS, str(cwd / 'plugins'))
        args = dict(src='plugins', bin_dir=str(tmp_path / 'bin'))
    else:
        args = dict(src=str(release['root'] / ARCHIVE), bin_dir='relbin')
    before = sorted(os.listdir(str(cwd)))
    res = run_in(cwd, args, check=check)
    assert res.get('failed') is True and res['param'] == param, res
    assert res['msg'].startswith('%s: must be an absolute path, got %r' % (param, args[param]))
    assert sorted(os.listdir(str(cwd))) == before, 'a refused run created files in its working directory'
    assert not os.path.exists(str(tmp_path / 'bin'))


@pytest.mark.parametrize('how', ['half', 'tail'])
def test_a_truncated_release_archive_is_refused_naming_src(module, release, tmp_path, how):
    with open(str(release['root'] / ARCHIVE), 'rb') as f:
        data = f.read()
    cut = data[:len(data) // 2] if how == 'half' else data[:-100]
    truncated = tmp_path / ('truncated-%s.tgz' % how)
    truncated.write_bytes(cut)
    bin_dir = str(tmp_path / 'bin')
    res = module('cni_plugin', dict(src=str(truncated), bin_dir=bin_dir))
    assert res['param'] == 'src', res
    assert failing(res).startswith('src: %s is not a readable tar archive' % truncated)
    assert 'Traceback' not in json.dumps(res) and bin_state(bin_dir) is None
    # Served, with the digest of the truncated file: the download matches, the archive is still refused.
    served = release['root'] / truncated.name
    served.write_bytes(cut)
    res = module('cni_plugin', dict(src=release['url'] + truncated.name, checksum='sha256:' + sha256(str(served)),
                                    bin_dir=bin_dir))
    assert res['param'] == 'src' and failing(res).startswith('src: ') and 'is not a readable tar archive' in res['msg']
    assert bin_state(bin_dir) is None


def test_bin_dir_that_is_a_regular_file_is_named(module, tmp_path):
    plain = tmp_path / 'plain'
    plain.write_text('a file\n')
    for bin_dir in (plain, plain / 'sub'):
        for args in (dict(src=SYSTEM_PLUGINS, bin_dir=str(bin_dir)),
                     dict(names=['bridge'], state='absent', bin_dir=str(bin_dir))):
            res = module('cni_plugin', args)
            assert res['param'] == 'bin_dir' and failing(res).startswith('bin_dir: %s' % plain), res
            assert 'not a directory' in res['msg'] and 'Errno' not in res['msg']
    assert plain.read_text() == 'a file\n'
