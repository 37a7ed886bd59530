# -*- coding: utf-8 -*-
"""The execution environment's definitions and build context, without building the image.

Run by ``bash hack/ee.sh check`` (the suite ``ee`` of hack/test.sh), which
first builds the tools venv (``EE_VENV``: ansible-builder, ansible-runner)
and writes the lab definition and ``ansible-builder create`` context into
``EE_OUT`` (build/ee). The image build and the ansible-runner runs against
lab nodes are ``make ee-test`` (molecule/ee).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os
import re
import subprocess
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EE_VENV = os.environ.get('EE_VENV', '')
EE_OUT = os.environ.get('EE_OUT', os.path.join(ROOT, 'build', 'ee'))
BUILDER = os.path.join(EE_VENV, 'bin', 'ansible-builder')

pytestmark = pytest.mark.skipif(
    not os.access(BUILDER, os.X_OK),
    reason='no ansible-builder in EE_VENV: run these through bash hack/ee.sh check')


def _read(rel):
    with open(os.path.join(ROOT, rel), encoding='utf-8') as fh:
        return fh.read()


def _yaml(path):
    with open(path, encoding='utf-8') as fh:
        return yaml.safe_load(fh)


def _req_lines(rel):
    return [ln.strip() for ln in _read(rel).splitlines() if ln.strip() and not ln.lstrip().startswith('#')]


def _pins(rel):
    """name (lower case, - for _) -> version of every ``name==version`` line."""
    pins = {}
    for ln in _req_lines(rel):
        name, sep, version = ln.partition('==')
        assert sep, '%s: %r is not pinned' % (rel, ln)
        pins[name.strip().lower().replace('_', '-')] = version.strip()
    return pins


def _tarball():
    found = [f for f in os.listdir(EE_OUT) if re.match(r'cni-node-.*\.tar\.gz$', f)]
    assert len(found) == 1, found
    return os.path.join(EE_OUT, found[0])


def _introspect(collections_dir):
    out = subprocess.run([BUILDER, 'introspect', collections_dir], check=True,
                         capture_output=True, text=True).stdout
    return yaml.safe_load(out[out.index('---'):])


def _install(tmp_path, drop=()):
    """The built tarball unpacked as an installed collection under tmp_path; files of ``drop`` removed."""
    dest = tmp_path / 'ansible_collections' / 'cni' / 'node'
    dest.mkdir(parents=True)
    with tarfile.open(_tarball()) as tar:
        members = tar.getmembers()
        # Our own tarball, still: plain files and directories below dest only.
        assert all((m.isfile() or m.isdir()) and not m.name.startswith('/') and '..' not in m.name.split('/')
                   for m in members)
        tar.extractall(str(dest), members=members)
    for rel in drop:
        os.unlink(str(dest / rel))
    return str(tmp_path)


def test_tarball_carries_the_ee_metadata():
    with tarfile.open(_tarball()) as tar:
        names = set(tar.getnames())
    assert {'meta/execution-environment.yml', 'meta/ee-requirements.txt', 'meta/ee-bindep.txt'} <= names


def test_meta_definition_points_at_the_meta_files():
    meta = _yaml(os.path.join(ROOT, 'meta', 'execution-environment.yml'))
    assert meta == {'version': 1, 'dependencies': {'python': 'meta/ee-requirements.txt',
                                                   'system': 'meta/ee-bindep.txt'}}


def test_introspect_lists_exactly_the_declared_dependencies(tmp_path):
    data = _introspect(_install(tmp_path))
    strip = re.compile(r'\s+# from collection cni\.node$')
    python = [strip.sub('', d) for d in data['python']]
    system = [strip.sub('', d) for d in data['system']]
    assert python == _req_lines('meta/ee-requirements.txt')
    assert system == _req_lines('meta/ee-bindep.txt')
    assert all(d.endswith('# from collection cni.node') for d in data['python'] + data['system'])


def test_without_the_meta_file_introspect_takes_the_node_side_requirements(tmp_path):
    # What meta/execution-environment.yml prevents: ansible-builder falls back
    # to requirements.txt at the collection's root, which pins node-side
    # packages (pyroute2) into the EE.
    data = _introspect(_install(tmp_path, drop=['meta/execution-environment.yml']))
    assert any(d.startswith('pyroute2') for d in data['python']), data


def test_user_definition_pins_the_tested_versions():
    user = _yaml(os.path.join(ROOT, 'docs', 'execution-environment.yml'))
    constraints = _pins('constraints.txt')
    wheels = _pins('hack/ee/wheelhouse.txt')
    tools = _pins('hack/ee/tools.txt')
    core = user['dependencies']['ansible_core']['package_pip']
    runner = user['dependencies']['ansible_runner']['package_pip']
    assert core == 'ansible-core==' + constraints['ansible-core'] == 'ansible-core==' + wheels['ansible-core']
    assert runner == 'ansible-runner==' + wheels['ansible-runner'] == 'ansible-runner==' + tools['ansible-runner']
    assert user['version'] == 3
    assert user['options']['package_manager_path'] == '/usr/bin/apt-get'


def test_user_definition_makes_a_context(tmp_path):
    # ansible-builder validates the file against its v3 schema here.
    subprocess.run([BUILDER, 'create', '-f', os.path.join(ROOT, 'docs', 'execution-environment.yml'),
                    '-c', str(tmp_path / 'ctx')], check=True, capture_output=True)
    text = (tmp_path / 'ctx' / 'Containerfile').read_text()
    assert 'ARG PKGMGR="/usr/bin/apt-get"' in text
    # skip_pip_install: Debian's python3 refuses ensurepip; pip comes from apt.
    assert 'RUN /output/scripts/pip_install' not in text
    assert 'python3-pip' in text


def _lab_module():
    spec = importlib.util.spec_from_file_location('lab_definition', os.path.join(ROOT, 'hack', 'ee', 'lab_definition.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_lab_definition_is_the_user_definition_plus_the_offline_parts():
    user = _yaml(os.path.join(ROOT, 'docs', 'execution-environment.yml'))
    lab = _yaml(os.path.join(EE_OUT, 'execution-environment.yml'))
    # Take the lab's additions away again: the user's file is left.
    assert lab['images']['base_image']['name'] == 'cni-node-lab:latest'
    assert lab['dependencies']['galaxy'] == {'collections': [
        {'name': 'collections/' + os.path.basename(_tarball()), 'type': 'file'}]}
    assert [f['dest'] for f in lab.pop('additional_build_files')] == ['wheels', 'pip', 'collections']
    assert lab.pop('build_arg_defaults') == {'ANSIBLE_GALAXY_CLI_COLLECTION_OPTS': '--offline'}
    steps = lab['additional_build_steps']
    assert steps['prepend_base'][:2] == ['COPY _build/wheels /tmp/ee-wheels', 'COPY _build/pip/pip.conf /etc/pip.conf']
    assert steps['append_final'][-1] == 'RUN rm -rf /tmp/ee-wheels /etc/pip.conf'
    steps['prepend_base'] = steps['prepend_base'][2:]
    steps['append_final'] = steps['append_final'][:-1]
    lab['images'] = user['images']
    lab['dependencies']['galaxy'] = user['dependencies']['galaxy']
    assert lab == user
    # And the generator is what wrote it.
    mod = _lab_module()
    assert mod.WHEELS_IN_IMAGE == '/tmp/ee-wheels'


def test_context_installs_only_from_the_wheelhouse():
    ctx = os.path.join(EE_OUT, 'context')
    text = _read(os.path.join(ctx, 'Dockerfile'))
    wheels = _pins('hack/ee/wheelhouse.txt')
    assert 'ARG EE_BASE_IMAGE="cni-node-lab:latest"' in text
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"' % (
        wheels['ansible-core'], wheels['ansible-runner']) in text
    assert 'ARG ANSIBLE_GALAXY_CLI_COLLECTION_OPTS="--offline"' in text
    # The wheelhouse and pip's configuration come first in the base stage and go at the end.
    base = text.index('FROM $EE_BASE_IMAGE AS base')
    assert base < text.index('COPY _build/wheels /tmp/ee-wheels') < text.index('RUN $PYCMD -m pip install')
    assert text.index('RUN rm -rf /tmp/ee-wheels /etc/pip.conf') > text.index('FROM base AS final')
    conf = _read(os.path.join(ctx, '_build', 'pip', 'pip.conf'))
    assert 'no-index = true' in conf and 'find-links = /tmp/ee-wheels' in conf
    # One wheel per pinned package, of that version, nothing else.
    have = {}
    for f in os.listdir(os.path.join(ctx, '_build', 'wheels')):
        if f.endswith('.whl'):
            name, version = f.split('-')[:2]
            have[name.lower().replace('_', '-')] = version
    assert have == wheels
    req = _yaml(os.path.join(ctx, '_build', 'requirements.yml'))
    assert req == {'collections': [{'name': 'collections/' + os.path.basename(_tarball()), 'type': 'file'}]}
    assert os.path.exists(os.path.join(ctx, '_build', 'collections', os.path.basename(_tarball())))


def test_no_registry_host_in_the_definitions():
    for rel in ('docs/execution-environment.yml', 'meta/execution-environment.yml', 'hack/ee/lab_definition.py'):
        text = _read(rel)
        assert not re.search(r'https?://', text), rel
        assert 'pypi.org' not in text and 'docker.io' not in text and 'quay.io' not in text, rel
