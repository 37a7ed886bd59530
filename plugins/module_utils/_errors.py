# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors raised by the cni.node cores and adapters.

Library code raises these; only a module's edge turns them into
``fail_json``. Each error can name the module parameter it is about, so the
message a user sees says which input to fix and what would be valid.

An ``OSError`` that is not expected (disk full, permission denied, a path
that is a file) is not caught where it happens: ``doing`` marks it, on its
way up, with what the code was doing, and ``_edge.edge`` turns it into a
message naming that operation and the parameter whose path failed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools


class CniNodeError(Exception):
    """Base class of every error the collection raises on purpose."""

    def __init__(self, msg, param=None, **details):
        super(CniNodeError, self).__init__(msg)
        self.msg = msg
        self.param = param
        self.details = details

    def __str__(self):
        return self.msg

    def to_fail_kwargs(self):
        """Keyword arguments for AnsibleModule.fail_json."""
        kwargs = dict(msg=self.msg)
        if self.param:
            kwargs['param'] = self.param
        kwargs.update(self.details)
        return kwargs


class ParameterError(CniNodeError):
    """A module argument is malformed or contradicts another one."""


class MissingDependency(CniNodeError):
    """A Python library or tool the module needs is absent on the node."""


class NamespaceNotFound(CniNodeError):
    """A named network namespace (or namespace path) does not exist."""


class NoSuchObject(CniNodeError):
    """A kernel object (device, route, key) does not exist (ENOENT/ENODEV)."""


class ObjectExists(CniNodeError):
    """The kernel refused to create an object that already exists (EEXIST)."""


class NotSupported(CniNodeError):
    """The kernel does not support the operation (EOPNOTSUPP, unknown kind)."""


class PermissionDenied(CniNodeError):
    """The operation needs privileges the module does not have (EPERM/EACCES)."""


class KernelRefused(CniNodeError):
    """The kernel refused or altered a value (EINVAL, ERANGE, clamping)."""


class StateFileError(CniNodeError):
    """A state or configuration file is unreadable, corrupt or of unknown version."""


class doing(object):  # pylint: disable=invalid-name
    """Context manager and decorator: an OSError passing through is marked with what the code was doing.

    ``with doing('write'):`` or ``@doing('read')``; the innermost mark wins
    (``exc.doing``), and the error is re-raised unchanged otherwise. The
    module edge (``_edge.edge``) reads the mark: ``bin_dir: cannot write
    /opt/cni/bin/.bridge.x1y2z3a4.tmp: No space left on device``. Phrase the
    operation as a verb that reads well before a path.
    """

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if isinstance(exc, EnvironmentError) and getattr(exc, 'doing', None) is None:
            exc.doing = self.what
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def marked(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return marked
