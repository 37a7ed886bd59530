# -*- coding: utf-8 -*-
"""_edge: the one mapping of errors to fail_json at every module's edge (with a stand-in module)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

import pytest

from ansible_collections.cni.node.plugins.module_utils import _edge
from ansible_collections.cni.node.plugins.module_utils._errors import ParameterError, doing


class Failed(Exception):
    pass


class FakeModule(object):
    """What _edge uses of AnsibleModule: params, argument_spec, fail_json (which does not return)."""

    def __init__(self, params, argument_spec=None):
        self.params = params
        self.argument_spec = argument_spec or {}
        self.failed = None

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise Failed(kwargs)


SPEC = dict(bin_dir=dict(type='path'), bin_dirs=dict(type='list', elements='path'), path=dict(type='path'),
            src=dict(type='str'), name=dict(type='str'))


def fake(**params):
    full = dict(bin_dir='/opt/cni/bin', bin_dirs=['/usr/lib/cni', '/opt/cni'], path='/srv/pool.json',
                src='/tmp/plugins.tgz', name='x')
    full.update(params)
    return FakeModule(full, SPEC)


def fail(module, exc, **kw):
    with pytest.raises(Failed):
        with _edge.edge(module, 'cni_test', **kw):
            raise exc
    return module.failed


def oserror(code, path, path2=None):
    return OSError(code, os.strerror(code), path, None, path2) if path2 else OSError(code, os.strerror(code), path)


def test_a_collection_error_keeps_its_parameter_and_details():
    got = fail(fake(), ParameterError('names: nope', param='names', json_path='x'))
    assert got == dict(msg='names: nope', param='names', json_path='x')


@pytest.mark.parametrize('path, param', [
    ('/opt/cni/bin', 'bin_dir'),                        # the value itself
    ('/opt/cni/bin/bridge', 'bin_dir'),                 # below it
    ('/opt/cni/bin/.bridge.abcdefgh.tmp', 'bin_dir'),
    ('/opt/cni', 'bin_dirs'),                           # a list of paths
    ('/usr/lib/cni/loopback', 'bin_dirs'),
    ('/srv/pool.json.lock', 'path'),                    # named after it, beside it
    ('/srv/.pool.json.abcdefgh.tmp', 'path'),
    ('/tmp/plugins.tgz', 'src'),                        # an extra path parameter the module names
])
def test_an_os_error_names_the_parameter_whose_path_it_was(path, param):
    got = fail(fake(), oserror(errno.ENOTDIR, path), paths=('src',))
    assert got['param'] == param
    assert got['msg'] == '%s: %s: Not a directory' % (param, path)


def test_the_longest_matching_value_wins_and_the_operation_is_named():
    module = fake(bin_dir='/opt/cni/bin', path='/opt/cni/bin/state.json')
    exc = oserror(errno.EACCES, '/opt/cni/bin/state.json.lock')
    with pytest.raises(Failed):
        with _edge.edge(module, 'cni_test'):
            with doing('open'):
                with doing('lock'):
                    raise exc
    assert module.failed == dict(msg='path: cannot lock /opt/cni/bin/state.json.lock: Permission denied',
                                 param='path')


def test_a_rename_names_its_target():
    got = fail(fake(), oserror(errno.EROFS, '/opt/cni/bin/.x.abcdefgh.tmp', '/opt/cni/bin/x'))
    assert got == dict(msg='bin_dir: /opt/cni/bin/x: Read-only file system', param='bin_dir')


def test_without_a_matching_parameter_the_module_and_the_path_are_named():
    got = fail(fake(), oserror(errno.ENOSPC, '/var/tmp/work/x'))
    assert got == dict(msg='cni_test: /var/tmp/work/x: No space left on device')
    got = fail(fake(), OSError(errno.ENOSPC, 'No space left on device'))
    assert got == dict(msg='cni_test: No space left on device')
    got = fail(fake(), OSError(errno.ENOSPC, 'No space left on device'), param='path')
    assert got == dict(msg='path: No space left on device', param='path')


def test_unset_and_url_values_match_nothing():
    module = fake(bin_dir=None, bin_dirs=None, src='https://example.invalid/a.tgz')
    assert fail(module, oserror(errno.EIO, '/opt/cni/bin/x'), paths=('src',)) == dict(
        msg='cni_test: /opt/cni/bin/x: Input/output error')


def test_details_are_added_to_every_failure():
    calls = []

    def details():
        calls.append(1)
        return dict(invocations=['ADD'])
    got = fail(fake(), ParameterError('x: bad', param='x'), details=details)
    assert got == dict(msg='x: bad', param='x', invocations=['ADD']) and calls == [1]
    got = fail(fake(), oserror(errno.EIO, '/opt/cni/bin/x'), details=details)
    assert got['invocations'] == ['ADD'] and got['param'] == 'bin_dir'


def test_other_exceptions_pass_untouched():
    module = fake()
    with pytest.raises(KeyError):
        with _edge.edge(module, 'cni_test'):
            raise KeyError('bug')
    assert module.failed is None
    with _edge.edge(module, 'cni_test') as edge:
        pass
    assert module.failed is None and edge is not None


def test_doing_as_a_decorator_marks_only_os_errors():
    @doing('read')
    def boom(exc):
        raise exc
    with pytest.raises(OSError) as exc:
        boom(oserror(errno.EIO, '/x'))
    assert exc.value.doing == 'read'
    with pytest.raises(ValueError) as exc:
        boom(ValueError('no'))
    assert not hasattr(exc.value, 'doing')
