# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planned link changes as steps: run in order, undone in reverse when the kernel refuses one.

A core plans, next to its ``Changes`` (what it tells the user), the list of
``Step`` objects that make exactly that change: one adapter call each, the
module argument it is about, and the call that undoes it. ``Runner`` sends
them through the netlink adapter (passed in, so this file needs neither
pyroute2 nor a kernel):

- a refused step fails naming its argument: ``param`` is set and the
  message starts with ``<param>: `` (``tag``);
- the link the plan manages may not exist yet: steps name it with the
  ``DEVICE`` placeholder, which the runner replaces by its index, known
  once ``create`` has made it;
- ``run_batch`` sends many steps in one bulk request (the adapter's
  ``batch``), for the thousands of routes, neighbours and FDB entries of
  an overlay;
- ``rollback`` undoes what the run did, newest first: a link the run
  created is deleted (the steps on it, those naming ``DEVICE``, go with
  it), every other done step is undone (a route through another link, for
  example: the link's deletion does not take it back), the bulk ones in
  one bulk request before the single ones. A link the kernel made but
  whose index the run could not learn (``create``) is looked up by name and
  kind, and deleted only when it is found as made.
  Errors while undoing are ignored (any exception, not only the adapter's):
  the user sees the error of the refused step, and the verification run
  after it reports whatever is left.

Pure Python: no Ansible, no pyroute2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError, KernelRefused


class _Placeholder(object):
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


DEVICE = _Placeholder('DEVICE')   # the index of the managed link, resolved when a step runs


class Step(object):
    """One adapter call, the module argument it is about, and the call that undoes it.

    ``args[0]`` is the text that says what the call does (the adapter puts
    it into its errors). ``undo`` is None (nothing to undo, or undone by
    deleting a link the run created), ``(method, kwargs)`` (the same
    arguments), or ``(method, args, kwargs)``; either way the undo's text is
    ``'undoing: ' + what``.
    """

    def __init__(self, param, method, args, kwargs=None, undo=None):
        self.param = param
        self.method = method
        self.args = list(args)
        self.kwargs = kwargs or {}
        self.undo = undo

    @property
    def what(self):
        return self.args[0]

    @property
    def on_device(self):
        """True when the call acts on the managed link (names ``DEVICE``): deleting that link undoes it."""
        return any(a is DEVICE for a in self.args[1:])

    def call(self, resolve):
        """``(method, args, kwargs)`` with the placeholders resolved."""
        return self.method, [resolve(a) for a in self.args], self.kwargs

    def undo_call(self, resolve):
        """The undo as ``(method, args, kwargs)``, or None."""
        if self.undo is None:
            return None
        if len(self.undo) == 3:
            method, args, kwargs = self.undo
        else:
            (method, kwargs), args = self.undo, self.args
        args = [resolve(a) for a in args]
        args[0] = 'undoing: ' + self.what
        return method, args, kwargs

    def __repr__(self):
        return 'Step(%r, %r, %r, %r, undo=%r)' % (self.param, self.method, self.args, self.kwargs, self.undo)


def tag(fn, param, hint=None):
    """Return ``fn()``; a CniNodeError from it names ``param`` (when it names none) and says it first.

    ``hint(exc, param)``, when given, may add advice to the message.
    """
    try:
        return fn()
    except CniNodeError as exc:
        if not exc.param:
            exc.param = param
        exc.msg = u'%s: %s' % (param, exc.msg)
        if hint is not None:
            hint(exc, param)
        raise


class Runner(object):
    """Runs steps through the adapter ``nl`` and remembers what it did, to undo it.

    ``device``: the index ``DEVICE`` stands for (None until ``create``);
    ``batched``: the adapter methods that ``batch`` takes (their undos go in
    bulk too); ``hint``: see ``tag``.
    """

    def __init__(self, nl, device=None, batched=(), hint=None):
        self.nl = nl
        self.device = device
        self.created = None
        self.made = None        # (name, kind) of a link made by ``create`` whose index is not known yet
        self.batched = frozenset(batched)
        self.hint = hint
        self.done = []

    def resolve(self, value):
        return self.device if value is DEVICE else value

    def call(self, fn, param):
        """``fn()`` outside any step (e.g. deleting a link to re-create it); errors name ``param``."""
        return tag(fn, param, self.hint)

    def create(self, what, name, kind, attrs, param):
        """Create link ``name``; from now on ``DEVICE`` is its index and a rollback deletes it.

        A refusal names ``param``. Once the kernel has taken the request the
        link ``name`` is the run's (the request fails when the name is
        taken): until its index is known, a rollback looks it up by name and
        kind (``made``). A link missing after a reported success, or an
        error while reading it, fails naming ``name``.
        """
        self.call(lambda: self.nl.link_add(what, name, kind, **attrs), param)
        self.made = (name, kind)
        link = self.call(lambda: self.nl.link(name), 'name')
        if link is None:
            raise KernelRefused('name: %s: the kernel reported success but there is no link called %r'
                                % (what, name), param='name')
        self.device = self.created = link['index']
        self.made = None
        return link

    def run(self, steps):
        """Each step in order, one request each; a refused one raises (tagged) and is not done."""
        for step in steps:
            method, args, kwargs = step.call(self.resolve)
            self.call(lambda m=method, a=args, k=kwargs: getattr(self.nl, m)(*a, **k), step.param)
            self.done.append(step)

    def run_batch(self, steps, param, entries='entries'):
        """All ``steps`` in one bulk request, in order; the kernel takes or refuses each on its own.

        The ones taken are done. When some are refused, the first refusal
        is raised naming ``param``, with how many more ``entries`` were
        refused. When the request as a whole fails, every step counts as
        done (how far it got is unknown) and the error is raised naming
        ``param``, as a refused step's.
        """
        try:
            errors = self.call(lambda: self.nl.batch([step.call(self.resolve) for step in steps]), param)
        except Exception:
            self.done.extend(steps)
            raise
        self.done.extend(step for step, error in zip(steps, errors) if error is None)
        failed = [error for error in errors if error is not None]
        if failed:
            self.call(lambda: _raise(failed[0], len(failed) - 1, entries), param)

    def rollback(self, removing):
        """Undo the run, newest first.

        A created link is deleted (``removing``: the text for that); the done
        steps on it go with it, and only the others, those that outlive it
        (the steps that do not name ``DEVICE``, see ``Step.on_device``), are
        undone. Without a created link every done step is undone.
        """
        steps = self.done
        if self.created is None and self.made is not None:
            self.created = self._find_made()
        if self.created is not None:
            try:
                self.nl.link_del(removing, self.created)
            except Exception:  # pylint: disable=broad-exception-caught
                pass
            steps = [step for step in steps if not step.on_device]
        self.undo(steps)

    def _find_made(self):
        """The index of the link ``create`` made but could not read, when it is there as made; else None."""
        name, kind = self.made
        try:
            link = self.nl.link(name)
        except Exception:  # pylint: disable=broad-exception-caught
            return None
        if link is None or link.get('kind') != kind:
            return None
        return link['index']

    def undo(self, steps):
        """Undo ``steps`` newest first: the bulk undos in one request, then the single ones; errors ignored."""
        calls = [call for call in (step.undo_call(self.resolve) for step in reversed(steps)) if call is not None]
        bulk = [call for call in calls if call[0] in self.batched]
        if bulk:
            try:
                self.nl.batch(bulk)
            except Exception:  # pylint: disable=broad-exception-caught
                pass
        for method, args, kwargs in calls:
            if method in self.batched:
                continue
            try:
                getattr(self.nl, method)(*args, **kwargs)
            except Exception:  # pylint: disable=broad-exception-caught
                pass

    def replay(self, steps):
        """Every step, the single ones in order, then the bulk ones in one request, going on past refusals
        (putting something back: a part is better than nothing); the texts of the refusals (``error_text``)."""
        refused = []
        for step in steps:
            if step.method in self.batched:
                continue
            method, args, kwargs = step.call(self.resolve)
            try:
                getattr(self.nl, method)(*args, **kwargs)
            except Exception as error:  # pylint: disable=broad-exception-caught
                refused.append(error_text(error))
        bulk = [step.call(self.resolve) for step in steps if step.method in self.batched]
        if bulk:
            try:
                refused.extend(error.msg for error in self.nl.batch(bulk) if error is not None)
            except Exception as error:  # pylint: disable=broad-exception-caught
                refused.append(error_text(error))
        return refused


def error_text(error):
    """The message of an adapter error; the type and text of any other."""
    if isinstance(error, CniNodeError):
        return error.msg
    return '%s: %s' % (type(error).__name__, error)


def _raise(error, more, entries):
    if more:
        error.msg += ' (and %d more %s refused)' % (more, entries)
    raise error
