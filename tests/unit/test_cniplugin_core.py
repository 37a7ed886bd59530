# -*- coding: utf-8 -*-
"""Pure parts of cni_plugin: checksum parameters and files, archive member rules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import tarfile

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
