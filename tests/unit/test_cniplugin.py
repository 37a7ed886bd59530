# -*- coding: utf-8 -*-
"""The core of cni_plugin (_cniplugin): checksums, archive member rules, sources, downloads and the whole run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import hashlib
import io
import os
import stat
import tarfile
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.cni.node.plugins.module_utils import _cniplugin
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError

HEX = 'ab' * 32


@pytest.mark.parametrize('value, want', [
    ('sha256:' + HEX, ('sha256', HEX)),
    ('SHA256:' + HEX.upper(), ('sha256', HEX)),
    ('https://example.invalid/a.tgz.sha256', ('url', 'https://example.invalid/a.tgz.sha256')),
])
def test_parse_checksum(value, want):
    assert _cniplugin.parse_checksum(value) == want


@pytest.mark.parametrize('value', ['', 'sha256:abc', 'md5:' + HEX, HEX, 'ftp://x/y', None])
def test_parse_checksum_refuses(value):
    with pytest.raises(ParameterError) as exc:
        _cniplugin.parse_checksum(value)
    assert exc.value.param == 'checksum'


@pytest.mark.parametrize('text', [
    '%s  cni-plugins-linux-amd64-v1.5.1.tgz\n' % HEX,
    '%s *cni-plugins-linux-amd64-v1.5.1.tgz\n' % HEX,
    '%s  ./dist/cni-plugins-linux-amd64-v1.5.1.tgz\n' % HEX,
    '%s  other.tgz\n%s  cni-plugins-linux-amd64-v1.5.1.tgz\n' % ('cd' * 32, HEX),
    '%s\n' % HEX,
])
def test_digest_from_checksum_file(text):
    assert _cniplugin.digest_from_checksum_file(text, 'cni-plugins-linux-amd64-v1.5.1.tgz') == HEX


@pytest.mark.parametrize('text', ['', '%s  other.tgz\n' % HEX, 'not a checksum\n', '%s\n%s\n' % (HEX, HEX)])
def test_digest_from_checksum_file_refuses(text):
    with pytest.raises(ParameterError):
        _cniplugin.digest_from_checksum_file(text, 'cni-plugins-linux-amd64-v1.5.1.tgz')


def member(name, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


@pytest.mark.parametrize('name, kind, want', [
    ('./bridge', tarfile.REGTYPE, 'bridge'),
    ('bridge', tarfile.REGTYPE, 'bridge'),
    ('./', tarfile.DIRTYPE, None),
    ('.', tarfile.DIRTYPE, None),
])
def test_member_name_accepts(name, kind, want):
    assert _cniplugin._member_name(member(name, kind)) == want


@pytest.mark.parametrize('name, kind, words', [
    ('../x', tarfile.REGTYPE, '".." component'),
    ('./a/../../x', tarfile.REGTYPE, '".." component'),
    ('/usr/bin/x', tarfile.REGTYPE, 'absolute path'),
    ('./x', tarfile.SYMTYPE, 'is a link'),
    ('./x', tarfile.LNKTYPE, 'is a link'),
    ('./x', tarfile.CHRTYPE, 'not a regular file'),
    ('./x', tarfile.BLKTYPE, 'not a regular file'),
    ('./x', tarfile.FIFOTYPE, 'not a regular file'),
    ('./sub/x', tarfile.REGTYPE, 'not a plain file name'),
    ('./sub/', tarfile.DIRTYPE, 'subdirectory'),
    ('./-rf', tarfile.REGTYPE, 'not a plain file name'),
])
def test_member_name_refuses(name, kind, words):
    with pytest.raises(_cniplugin.UnsafeArchive) as exc:
        _cniplugin._member_name(member(name, kind))
    assert words in str(exc.value) and 'refusing the whole archive' in str(exc.value)


# ---------------------------------------------------------------- sources, downloads, the whole run
#
# Downloads go to a real HTTP server on 127.0.0.1 (and nowhere else), through
# a plain urllib opener with proxies switched off: what the module's
# open_url does, without Ansible.

ANSWER = '{"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]}'


def plugin_text(name):
    """A tiny executable that answers VERSION as a CNI plugin does (the name makes each one distinct)."""
    return "#!/bin/sh\n# %s\necho '%s'\n" % (name, ANSWER)


def add_member(tar, name, data, mode):
    info = tarfile.TarInfo(name)
    info.mode, info.size = mode, len(data)
    tar.addfile(info, io.BytesIO(data))


def release_archive(path, names=('bridge', 'loopback')):
    with tarfile.open(path, 'w:gz') as tar:
        top = tarfile.TarInfo('./')
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(top)
        for name in names:
            add_member(tar, './' + name, plugin_text(name).encode(), 0o755)
        add_member(tar, './LICENSE', b'Apache License 2.0\n', 0o644)


def file_sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class Served(object):
    """A directory served over HTTP on loopback; ``requests`` lists the paths asked for."""

    def __init__(self, root):
        self.root = root
        self.requests = []
        served = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                served.requests.append(self.path)
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(root)))
        self.url = 'http://127.0.0.1:%d/' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.02), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(tmp_path):
    root = tmp_path / 'release'
    root.mkdir()
    release_archive(str(root / 'plugins.tgz'))
    digest = file_sha256(str(root / 'plugins.tgz'))
    (root / 'plugins.tgz.sha256').write_text('%s  plugins.tgz\n' % digest)
    (root / 'other.sha256').write_text('%s  other.tgz\n' % digest)
    s = Served(root)
    s.digest = digest
    try:
        yield s
    finally:
        s.close()


# Loopback only: no proxy handler, so no http_proxy setting can send a test request elsewhere.
OPENER = functools.partial(urllib.request.build_opener(urllib.request.ProxyHandler({})).open, timeout=10)


def test_source_from_a_url_knows_its_digest_before_any_download(served, tmp_path):
    pinned = _cniplugin.Source(served.url + 'plugins.tgz', 'sha256:' + served.digest, OPENER)
    assert (pinned.kind, pinned.name, pinned.digest) == ('url', 'plugins.tgz', served.digest)
    assert served.requests == [], 'a pinned digest needs no request'
    from_file = _cniplugin.Source(served.url + 'plugins.tgz?raw=1', served.url + 'plugins.tgz.sha256', OPENER)
    assert (from_file.name, from_file.digest) == ('plugins.tgz', served.digest)
    assert served.requests == ['/plugins.tgz.sha256']
    workdir = tmp_path / 'work'
    workdir.mkdir()
    offered = pinned.candidates(str(workdir))
    assert sorted(offered) == ['bridge', 'loopback'], 'LICENSE is not a plugin'
    assert open(offered['bridge']).read() == plugin_text('bridge')
    assert served.requests[-1] == '/plugins.tgz'


def test_source_on_the_node(served, tmp_path):
    archive = str(served.root / 'plugins.tgz')
    assert (_cniplugin.Source(archive, None, OPENER).kind, _cniplugin.Source(archive, None, OPENER).digest) \
        == ('archive', served.digest)
    assert _cniplugin.Source(archive, 'sha256:' + served.digest, OPENER).digest == served.digest
    folder = tmp_path / 'folder'
    folder.mkdir()
    (folder / 'bridge').write_text(plugin_text('bridge'))
    (folder / 'bridge').chmod(0o755)
    (folder / 'README').write_text('not a plugin\n')
    source = _cniplugin.Source(str(folder), None, OPENER)
    assert (source.kind, source.digest) == ('folder', None)
    assert source.candidates(str(tmp_path)) == {'bridge': str(folder / 'bridge')}
    assert served.requests == []


@pytest.mark.parametrize('src, checksum, exc_type, param, words', [
    (None, None, ParameterError, 'src', 'src: required with state=present'),
    ('{url}plugins.tgz', None, ParameterError, 'checksum', 'checksum: required when src is a URL'),
    ('{url}plugins.tgz', 'md5:abc', ParameterError, 'checksum', 'is not valid'),
    ('{url}plugins.tgz', '{url}missing.sha256', ParameterError, 'checksum', 'checksum: cannot download'),
    ('{url}plugins.tgz', '{url}other.sha256', ParameterError, 'checksum', 'lists no sha256 for plugins.tgz'),
    ('{root}/plugins.tgz', 'sha256:' + 'ab' * 32, _cniplugin.ChecksumMismatch, 'checksum', 'refusing it'),
    ('{root}/nothing-here', None, ParameterError, 'src', 'is not an http(s) URL and not an archive or folder'),
])
def test_source_refusals_name_the_parameter(served, src, checksum, exc_type, param, words):
    def fill(text):
        return text.format(url=served.url, root=served.root) if text else text
    with pytest.raises(exc_type) as exc:
        _cniplugin.Source(fill(src), fill(checksum), OPENER)
    assert exc.value.param == param and words in exc.value.msg


def test_downloads_that_fail_or_do_not_match_are_refused(served, tmp_path):
    missing = _cniplugin.Source(served.url + 'missing.tgz', 'sha256:' + served.digest, OPENER)
    with pytest.raises(ParameterError) as exc:
        missing.candidates(str(tmp_path))
    assert exc.value.param == 'src' and 'src: cannot download %smissing.tgz' % served.url in exc.value.msg
    wrong = _cniplugin.Source(served.url + 'plugins.tgz', 'sha256:' + 'cd' * 32, OPENER)
    with pytest.raises(_cniplugin.ChecksumMismatch) as exc:
        wrong.candidates(str(tmp_path))
    assert exc.value.param == 'checksum' and served.digest in exc.value.msg
    assert not os.path.exists(str(tmp_path / 'plugins')), 'nothing extracted from a refused download'


def test_a_checksum_file_is_read_up_to_its_limit():
    calls = []

    def opener(url):
        calls.append(url)
        return io.BytesIO(b'x' * (_cniplugin.MAX_CHECKSUM_FILE + 10))
    assert len(_cniplugin.fetch_text(opener, 'https://example.invalid/a.sha256')) == _cniplugin.MAX_CHECKSUM_FILE
    assert calls == ['https://example.invalid/a.sha256']


def bin_state(bin_dir):
    return dict((n, (file_sha256(os.path.join(bin_dir, n)), stat.S_IMODE(os.stat(os.path.join(bin_dir, n)).st_mode)))
                for n in sorted(os.listdir(bin_dir)) if n != _cniplugin.MANIFEST)


def test_run_installs_and_the_manifest_spares_the_next_download(served, tmp_path):
    bin_dir, work = str(tmp_path / 'bin'), tmp_path / 'work'
    work.mkdir()
    spec = _cniplugin.Spec(served.url + 'plugins.tgz', checksum=served.url + 'plugins.tgz.sha256', bin_dir=bin_dir)
    predicted = _cniplugin.run(spec, OPENER, tmpdir=str(work), check_mode=True)
    assert not os.path.exists(bin_dir), 'check mode created bin_dir'
    assert [d['path'] for d in predicted.changes.drift] == ['dir/' + bin_dir.strip('/'), 'binary/bridge',
                                                            'binary/loopback']
    done = _cniplugin.run(spec, OPENER, tmpdir=str(work))
    assert done.changes.drift == predicted.changes.drift and list(work.iterdir()) == [], 'workdir left behind'
    state = bin_state(bin_dir)
    assert sorted(state) == ['bridge', 'loopback'] and all(mode == 0o755 for _d, mode in state.values())
    assert done.binaries['bridge'] == dict(sha256=state['bridge'][0], path=os.path.join(bin_dir, 'bridge'),
                                           versions=['0.4.0', '1.0.0'])
    manifest = _cniplugin.read_manifest(bin_dir)
    assert manifest['archive_sha256'] == served.digest and sorted(manifest['binaries']) == ['bridge', 'loopback']

    del served.requests[:]
    again = _cniplugin.run(spec, OPENER, tmpdir=str(work))
    assert not again.changes.changed and again.binaries == done.binaries and again.removals == []
    assert served.requests == ['/plugins.tgz.sha256'], 'the manifest proves bin_dir matches: no archive download'

    with open(os.path.join(bin_dir, 'loopback'), 'a') as f:
        f.write('# tampered\n')
    fix = _cniplugin.run(spec, OPENER, tmpdir=str(work))
    assert [d['path'] for d in fix.changes.drift] == ['binary/loopback'] and bin_state(bin_dir) == state
    assert served.requests[-1] == '/plugins.tgz', 'a difference takes the full path'


def test_run_with_names_exclusive_and_absent(served, tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'stale').write_text('#!/bin/sh\n')
    archive = str(served.root / 'plugins.tgz')
    only = _cniplugin.run(_cniplugin.Spec(archive, names=['bridge'], bin_dir=str(bin_dir), exclusive=True,
                                          verify=False), OPENER, tmpdir=str(tmp_path))
    assert only.removals == ['stale'] and sorted(bin_state(str(bin_dir))) == ['bridge']
    assert 'versions' not in only.binaries['bridge']
    with pytest.raises(ParameterError) as exc:
        _cniplugin.run(_cniplugin.Spec(archive, names=['nope'], bin_dir=str(bin_dir)), OPENER, tmpdir=str(tmp_path))
    assert exc.value.param == 'names' and 'nope not in the source' in exc.value.msg
    gone = _cniplugin.run(_cniplugin.Spec(names=['bridge', 'never'], bin_dir=str(bin_dir), state='absent'), OPENER)
    assert gone.removals == ['bridge'] and bin_state(str(bin_dir)) == {}
    assert served.requests == []


@pytest.mark.parametrize('kw, param', [(dict(state='gone'), 'state'), (dict(state='absent'), 'names')])
def test_spec_refuses(kw, param):
    with pytest.raises(ParameterError) as exc:
        _cniplugin.Spec(**kw)
    assert exc.value.param == param


def damaged(archive, dest, how):
    """A copy of a real archive, cut short or with a byte flipped."""
    with open(archive, 'rb') as f:
        data = bytearray(f.read())
    if how == 'half':
        data = data[:len(data) // 2]
    elif how == 'trailer':
        data = data[:-6]               # the gzip trailer (CRC and size) cut off
    elif how == 'flipped':
        data[len(data) // 2] ^= 0xff
    with open(dest, 'wb') as f:
        f.write(bytes(data))
    return dest


@pytest.mark.parametrize('how', ['half', 'trailer', 'flipped'])
@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
def test_a_damaged_archive_is_refused_naming_src(served, tmp_path, how, check):
    bad = damaged(str(served.root / 'plugins.tgz'), str(tmp_path / 'bad.tgz'), how)
    bin_dir, work = str(tmp_path / 'bin'), tmp_path / 'work'
    work.mkdir()
    with pytest.raises(ParameterError) as exc:
        _cniplugin.run(_cniplugin.Spec(bad, bin_dir=bin_dir, verify=False), OPENER, tmpdir=str(work),
                       check_mode=check)
    assert exc.value.param == 'src' and exc.value.msg.startswith('src: %s is not a readable tar archive' % bad)
    assert not os.path.exists(bin_dir) and list(work.iterdir()) == []


class _Response(object):
    """A response whose body breaks off after ``good`` bytes when ``broken`` (a download that fails midway)."""

    def __init__(self, body, broken=False):
        self.body = io.BytesIO(body)
        self.broken = broken
        self.closed = False

    def read(self, size=-1):
        chunk = self.body.read(size)
        if self.broken and not chunk:
            raise ConnectionResetError(104, 'Connection reset by peer')
        return chunk

    def close(self):
        self.closed = True


def test_download_names_src_when_the_transfer_breaks_off_and_closes_the_response(tmp_path):
    resp = _Response(b'x' * (3 << 20), broken=True)
    with pytest.raises(ParameterError) as exc:
        _cniplugin.download(lambda url: resp, 'https://example.invalid/p.tgz', str(tmp_path / 'p.tgz'))
    assert exc.value.param == 'src'
    assert 'cannot download https://example.invalid/p.tgz' in str(exc.value)
    assert 'Connection reset' in str(exc.value)
    assert resp.closed


@pytest.mark.skipif(not os.path.exists('/dev/full'), reason='/dev/full is missing: no device that answers ENOSPC')
def test_download_reports_a_full_disk_as_an_os_error_on_the_destination_not_as_the_url():
    resp = _Response(b'x' * (2 << 20))
    with pytest.raises(OSError) as exc:
        _cniplugin.download(lambda url: resp, 'https://example.invalid/p.tgz', '/dev/full')
    assert not isinstance(exc.value, ParameterError)
    assert exc.value.errno == 28
    assert exc.value.filename == '/dev/full'
    assert resp.closed
