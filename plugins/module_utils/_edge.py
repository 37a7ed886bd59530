# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The edge of every cni.node module: the one place where errors become ``fail_json``.

Use it around everything ``main()`` does after building the AnsibleModule::

    with _edge.edge(module, 'cni_plugin', paths=('src',)):
        spec = _cniplugin.Spec(...)
        plan = _cniplugin.run(spec, ...)
    module.exit_json(...)

It replaces a module's ``try: ... except CniNodeError ... except OSError``
(a two or three line change per module). Inside the block:

- a ``CniNodeError`` (the collection's typed errors) becomes
  ``fail_json(**exc.to_fail_kwargs())``: its message, the parameter it
  names, its details;
- an ``OSError`` nobody expected (disk full, permission denied, a path that
  is a file) becomes ``fail_json(msg='PARAM: cannot OP PATH: REASON',
  param=PARAM)``. PARAM is the path parameter whose value the failing path
  is, lies below, or is named after in the same directory (``pool.json`` for
  ``pool.json.lock`` and ``.pool.json.x1y2z3a4.tmp``; the longest value
  wins). Path parameters are those of ``type: path`` or ``elements: path``
  in the module's argument spec, plus ``paths`` (``str`` options that hold a
  path, such as cni_plugin's ``src``). OP is what the code was doing, when
  it said so with ``_errors.doing``. Without a matching parameter the
  message starts with the module's name instead (``cni_plugin: cannot
  write /tmp/x: No space left on device``), or with ``param`` when the
  module gives one (cni_ipam_pool: every file it touches is ``path``'s);
- anything else passes untouched: it is a bug, and its traceback is the
  most useful report.

``details`` (a callable returning a dict) adds keyword arguments to every
failure (cni_attachment: the plugin invocations made so far).

Only ``module.params``, ``module.argument_spec`` and ``module.fail_json``
are used (no Ansible import): the module object can be a stand-in in tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError


def path_params(argument_spec, params, extra=()):
    """[(value, parameter)] of every path the parameters hold (lists flattened, unset and URLs left out)."""
    names = [name for name, spec in (argument_spec or {}).items()
             if spec.get('type') == 'path' or spec.get('elements') == 'path']
    out = []
    for name in names + [n for n in extra if n not in names]:
        value = params.get(name)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and os.path.isabs(item):
                out.append((os.path.normpath(item), name))
    return out


def _belongs(path, value):
    if path == value or path.startswith(value.rstrip('/') + '/'):
        return True
    base = os.path.basename(value)
    name = os.path.basename(path)
    return (os.path.dirname(path) == os.path.dirname(value) and base != ''
            and (name.startswith(base + '.') or name.startswith('.' + base + '.')))


def param_of(path, candidates):
    """The parameter whose value ``path`` is, lies below or is named after; None when none matches."""
    if not path:
        return None
    path = os.path.normpath(os.path.abspath(path))
    found = [(len(value), name) for value, name in candidates if _belongs(path, value)]
    return max(found)[1] if found else None


def os_error_kwargs(exc, module_name, candidates, param=None):
    """fail_json keyword arguments for an unexpected OSError (see the module docstring)."""
    paths = [p for p in (getattr(exc, 'filename2', None), exc.filename) if p]
    paths = [p.decode('utf-8', 'replace') if isinstance(p, bytes) else str(p) for p in paths]
    named = None
    for path in paths:
        named = param_of(path, candidates)
        if named:
            break
    named = named or param
    reason = exc.strerror or str(exc)
    shown = paths[0] if paths else None
    doing = getattr(exc, 'doing', None)
    if doing and shown:
        what = 'cannot %s %s: %s' % (doing, shown, reason)
    elif doing:
        what = 'cannot %s: %s' % (doing, reason)
    elif shown:
        what = '%s: %s' % (shown, reason)
    else:
        what = reason
    kwargs = dict(msg='%s: %s' % (named or module_name, what))
    if named:
        kwargs['param'] = named
    return kwargs


class edge(object):  # pylint: disable=invalid-name
    """Context manager: CniNodeError and OSError inside become ``module.fail_json`` (see the module docstring)."""

    def __init__(self, module, name, paths=(), param=None, details=None):
        self.module = module
        self.name = name
        self.paths = paths
        self.param = param
        self.details = details

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if isinstance(exc, CniNodeError):
            kwargs = exc.to_fail_kwargs()
        elif isinstance(exc, EnvironmentError):
            candidates = path_params(getattr(self.module, 'argument_spec', None), self.module.params, self.paths)
            kwargs = os_error_kwargs(exc, self.name, candidates, self.param)
        else:
            return False
        if self.details is not None:
            for key, value in self.details().items():
                kwargs.setdefault(key, value)
        self.module.fail_json(**kwargs)
        return False   # fail_json does not return; a stand-in that does sees the error itself
