# -*- coding: utf-8 -*-
"""The BPF toolchain adapter without a kernel: the ELF reader, tool checks, compile errors, verifier logs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

import pytest

from ansible_collections.cni.node.plugins.module_utils import _bpf
from ansible_collections.cni.node.plugins.module_utils._errors import MissingDependency, ParameterError


def elf(machine=_bpf.EM_BPF, program_section='xdp', function='xdp_drop_icmp'):
    """A minimal 64-bit little-endian ELF: sections null, .shstrtab, .strtab, <program_section>, .symtab."""
    shstr = b'\0.shstrtab\0.strtab\0' + program_section.encode() + b'\0.symtab\0'
    strtab = b'\0' + function.encode() + b'\0'
    code = b'\xb7\x00\x00\x00\x02\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00'   # r0 = XDP_PASS; exit
    sym_null = b'\0' * 24
    sym_fn = struct.pack('<IBBHQQ', 1, 0x12, 0, 3, 0, len(code))     # GLOBAL FUNC in section 3
    symtab = sym_null + sym_fn
    body = shstr + strtab + code + symtab
    offsets = [64, 64 + len(shstr), 64 + len(shstr) + len(strtab), 64 + len(shstr) + len(strtab) + len(code)]
    shoff = 64 + len(body)
    name_off = dict((name, shstr.index(b'\0' + name.encode() + b'\0') + 1)
                    for name in ('.shstrtab', '.strtab', program_section, '.symtab'))
    sections = [
        struct.pack('<IIQQQQIIQQ', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        struct.pack('<IIQQQQIIQQ', name_off['.shstrtab'], 3, 0, 0, offsets[0], len(shstr), 0, 0, 1, 0),
        struct.pack('<IIQQQQIIQQ', name_off['.strtab'], 3, 0, 0, offsets[1], len(strtab), 0, 0, 1, 0),
        struct.pack('<IIQQQQIIQQ', name_off[program_section], 1, 6, 0, offsets[2], len(code), 0, 0, 8, 0),
        struct.pack('<IIQQQQIIQQ', name_off['.symtab'], 2, 0, 0, offsets[3], len(symtab), 2, 1, 8, 24),
    ]
    fields = (1, machine, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(sections), 1)
    header = b'\x7fELF\x02\x01\x01' + b'\0' * 9 + struct.pack('<HHIQQQIHHHHHH', *fields)
    return header + body + b''.join(sections)


def test_the_program_of_a_section_is_its_function(tmp_path):
    path = tmp_path / 'p.o'
    path.write_bytes(elf())
    assert _bpf.read_object(str(path), 'xdp') == 'xdp_drop_icmp'
    path.write_bytes(elf(program_section='xdp/custom', function='other'))
    assert _bpf.read_object(str(path), 'xdp/custom', param='source') == 'other'


@pytest.mark.parametrize('data, section, param, text', [
    (b'#include <linux/bpf.h>\n', 'xdp', 'object', 'not an ELF file'),
    (elf(machine=62), 'xdp', 'object', 'machine 62'),
    (elf(), 'tc', 'section', "no section 'tc'"),
    (elf()[:80], 'xdp', 'object', 'truncated'),
])
def test_what_is_not_a_bpf_program_fails_naming_the_parameter(tmp_path, data, section, param, text):
    path = tmp_path / 'p.o'
    path.write_bytes(data)
    with pytest.raises(ParameterError) as exc:
        _bpf.read_object(str(path), section)
    assert exc.value.param == param and text in exc.value.msg


def test_a_missing_file_names_the_parameter(tmp_path):
    with pytest.raises(ParameterError) as exc:
        _bpf.read_object(str(tmp_path / 'nope.o'), 'xdp', param='source')
    assert exc.value.param == 'source'


def test_tools_are_found_and_version_checked():
    def ok(argv, timeout=None):
        return 0, 'bpftool v7.1.0\nusing libbpf v1.1\n', ''

    def old(argv, timeout=None):
        return 0, 'bpftool v5.4.0\n', ''
    assert _bpf.find_tool('bpftool', _bpf.MIN_BPFTOOL, 'object', which=lambda n: '/usr/sbin/bpftool',
                          run=ok) == '/usr/sbin/bpftool'
    with pytest.raises(MissingDependency) as exc:
        _bpf.find_tool('bpftool', _bpf.MIN_BPFTOOL, 'object', which=lambda n: '/usr/sbin/bpftool', run=old)
    assert '5.4' in exc.value.msg and '5.6' in exc.value.msg
    with pytest.raises(MissingDependency) as exc:
        _bpf.find_tool('clang', _bpf.MIN_CLANG, 'source', which=lambda n: None)
    assert exc.value.param == 'source' and 'Debian package: clang' in exc.value.msg


def test_a_compile_error_names_the_file_and_line(tmp_path):
    source = tmp_path / 'bad.c'
    source.write_text(u'int main(void)\n{\n\treturn nope;\n}\n')
    stderr = ('%s:3:9: error: use of undeclared identifier \'nope\'\n\treturn nope;\n\t       ^\n1 error generated.\n'
              % source)

    def fake(argv, timeout=None):
        if '-print-multiarch' in argv:
            return 0, 'x86_64-linux-gnu\n', ''
        return 1, '', stderr
    with pytest.raises(ParameterError) as exc:
        _bpf.compile_source('/usr/bin/clang', str(source), str(tmp_path / 'cache'), run=fake)
    assert exc.value.param == 'source' and '%s:3:9: error:' % source in exc.value.msg
    assert list((tmp_path / 'cache').iterdir()) == []


def test_a_cached_object_is_reused_by_the_sources_sha256(tmp_path):
    source = tmp_path / 'ok.c'
    source.write_text(u'int x;\n')
    calls = []

    def fake(argv, timeout=None):
        calls.append(argv)
        if '-o' in argv:
            with open(argv[argv.index('-o') + 1], 'wb') as f:
                f.write(elf())
        return 0, '', ''
    path, digest, made = _bpf.compile_source('/usr/bin/clang', str(source), str(tmp_path), run=fake)
    assert made and path.endswith(digest + '.o') and ['-O2', '-g', '-target', 'bpf'] == calls[-1][1:5]
    assert _bpf.compile_source('/usr/bin/clang', str(source), str(tmp_path), run=fake) == (path, digest, False)


def test_a_cached_object_a_crash_left_empty_is_compiled_again(tmp_path):
    source = tmp_path / 'ok.c'
    source.write_text(u'int x;\n')

    def fake(argv, timeout=None):
        if '-o' in argv:
            with open(argv[argv.index('-o') + 1], 'wb') as f:
                f.write(elf())
        return 0, '', ''
    digest = _bpf.source_digest(str(source))
    (tmp_path / (digest + '.o')).write_bytes(b'')
    path, _digest, made = _bpf.compile_source('/usr/bin/clang', str(source), str(tmp_path), run=fake)
    assert made and open(path, 'rb').read() == elf()


def test_the_verifier_log_tail_comes_from_libbpfs_markers():
    stderr = ('libbpf: prog \'p\': BPF program load failed: Permission denied\n'
              'libbpf: prog \'p\': -- BEGIN PROG LOAD LOG --\n0: R1=ctx()\n'
              + ''.join('%d: insn\n' % i for i in range(30))
              + 'invalid access to packet\n-- END PROG LOAD LOG --\nlibbpf: failed to load object\n')
    tail = _bpf.verifier_tail(stderr)
    assert len(tail) == _bpf.VERIFIER_LINES and tail[-1] == 'invalid access to packet'
    assert _bpf.verifier_tail('Error: bad\n') == ['Error: bad']
