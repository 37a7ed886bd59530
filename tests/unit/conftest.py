# -*- coding: utf-8 -*-
"""The unit tests' module runner: a module's main() in-process, its result as a dictionary.

``run_main(module, args, check=False, diff=True)`` hands ``args`` to the
module the way Ansible does (plus check and diff mode), runs its ``main()``,
catches the ``SystemExit`` that ``exit_json``/``fail_json`` end with and
returns the JSON they printed, with the exit code as ``rc``.

The arguments reach ``AnsibleModule`` through ansible-core's own test hook,
``ansible.module_utils.testing.patch_module_args``, from 2.19 on. Before
that (2.16 - 2.18) ``basic._load_params`` reads ``basic._ANSIBLE_ARGS``, the
JSON bytes of ``{"ANSIBLE_MODULE_ARGS": ...}``, when it is set: the same
effect, the classic way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
from unittest import mock

import pytest

from ansible.module_utils import basic

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:   # ansible-core < 2.19
    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Expose ``args`` to the AnsibleModule made inside the block (ansible-core 2.16 - 2.18)."""
        payload = json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}).encode('utf-8')
        with mock.patch.object(basic, '_ANSIBLE_ARGS', payload):
            yield


@pytest.fixture
def run_main(capsys):
    """Run ``module.main()`` with ``args``; its result dictionary, with the exit code as ``rc``."""
    def run(module, args, check=False, diff=True):
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        out = json.loads(capsys.readouterr().out)
        out['rc'] = exc.value.code
        return out
    return run
