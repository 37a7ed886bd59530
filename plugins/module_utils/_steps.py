# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planned link changes as steps: run in order, undone in reverse when the kernel refuses one.

A core plans, next to its ``Changes`` (what it tells the user), the list of
``Step`` objects that make exactly that change: one adapter call each, the
module argument it is about, and the call that undoes it. ``Runner`` sends
them through the netlink adapters (passed in, so this file needs neither
pyroute2 nor a kernel):

- a refused step fails naming its argument: ``param`` is set and the
  message starts with ``<param>: `` (``tag``);
- a step goes through the adapter of its ``target``: None is the runner's
  own (where the module acts), any other name one of ``targets`` (e.g. the
  namespace a veth pair's inside end lives in), given as an adapter or, in
  ``opens``, as a callable that opens one (a context manager) when a step
  first needs it; ``close`` (or the end of a ``with`` block) closes those;
- links the plan manages may not exist yet: steps name them with
  placeholders (``DEVICE`` for the one link of cni_bridge and cni_vxlan,
  others a core makes with ``Placeholder``), which the runner replaces by
  their indexes, known once ``create`` has made the link or ``bind`` has
  been told (a placeholder still unbound when its step runs: the link is
  gone, and the step fails before any request);
- ``run_batch`` sends many steps in one bulk request (the adapter's
  ``batch``), for the thousands of routes, neighbours and FDB entries of
  an overlay;
- ``rollback`` undoes what the run did, newest first: a link the run
  created is deleted (the steps on it, those naming its placeholders, go
  with it), so are the steps through a target the run made (a namespace:
  ``made_target``), and every other done step is undone (a route through
  another link, for example: the link's deletion does not take it back),
  the bulk ones in one bulk request before the single ones. A link the
  kernel made but whose index the run could not learn (``create``) is
  looked up by name and kind, and deleted only when it is found as made.
  Errors while undoing are ignored (any exception, not only the adapter's):
  the user sees the error of the refused step, and the verification run
  after it reports whatever is left.

Pure Python: no Ansible, no pyroute2.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.cni.node.plugins.module_utils._errors import CniNodeError, KernelRefused, NoSuchObject, ObjectExists


class Placeholder(object):
    """A link a step acts on, by name, until the runner knows its index (``Runner.bind``, ``Runner.create``)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


DEVICE = Placeholder('DEVICE')   # the index of the managed link, resolved when a step runs


class Step(object):
    """One adapter call, the module argument it is about, and the call that undoes it.

    ``args[0]`` is the text that says what the call does (the adapter puts
    it into its errors). ``undo`` is None (nothing to undo, or undone by
    deleting a link the run created), ``(method, kwargs)`` (the same
    arguments), or ``(method, args, kwargs)``; either way the undo's text is
    ``'undoing: ' + what``. Placeholders may stand in ``args`` and in the
    values of ``kwargs``. ``target`` names the adapter (None: the runner's
    own).
    """

    def __init__(self, param, method, args, kwargs=None, undo=None, target=None):
        self.param = param
        self.method = method
        self.args = list(args)
        self.kwargs = kwargs or {}
        self.undo = undo
        self.target = target

    @property
    def what(self):
        return self.args[0]

    @property
    def placeholders(self):
        """The placeholders the call names (the links it acts on, while their indexes are not known)."""
        return set(a for a in self.args[1:] + list(self.kwargs.values()) if isinstance(a, Placeholder))

    @property
    def on_device(self):
        """True when the call acts on the managed link (names ``DEVICE``): deleting that link undoes it."""
        return DEVICE in self.placeholders

    def call(self, resolve):
        """``(method, args, kwargs)`` with the placeholders resolved."""
        return self.method, [resolve(a) for a in self.args], _resolved(self.kwargs, resolve)

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
        return method, args, _resolved(kwargs, resolve)

    def __repr__(self):
        text = 'Step(%r, %r, %r, %r, undo=%r' % (self.param, self.method, self.args, self.kwargs, self.undo)
        return text + (', target=%r)' % self.target if self.target is not None else ')')


INVERSE = {'addr_add': 'addr_del', 'addr_del': 'addr_add', 'route_add': 'route_del', 'route_del': 'route_add'}


def inverse_step(param, method, args, kwargs=None, target=None):
    """A step that the inverse request (``INVERSE``) with the same arguments undoes: an address or a route
    added or removed."""
    return Step(param, method, args, kwargs, undo=(INVERSE[method], kwargs or {}), target=target)


def _resolved(kwargs, resolve):
    return dict((key, resolve(value)) for key, value in kwargs.items())


def tag(fn, param, hint=None):
    """Return ``fn()``; a CniNodeError from it names ``param`` (when it names none) and says it first.

    A message that starts with ``<param>:`` already keeps its text.
    ``hint(exc, param)``, when given, may add advice to the message.
    """
    try:
        return fn()
    except CniNodeError as exc:
        if not exc.param:
            exc.param = param
        if not exc.msg.startswith(param + ':'):
            exc.msg = u'%s: %s' % (param, exc.msg)
        if hint is not None:
            hint(exc, param)
        raise


class Runner(object):
    """Runs steps through the adapters and remembers what it did, to undo it.

    ``nl``: the adapter of the steps without a ``target``; ``targets``: more
    adapters by target name; ``opens``: target name -> a callable that opens
    an adapter (a context manager), called when a step first needs it and
    closed by ``close``. ``device``: the index ``DEVICE`` stands for (None
    until ``create``); ``batched``: the adapter methods that ``batch`` takes
    (their undos go in bulk too); ``hint``: see ``tag``. ``exists_ok``: the
    adding methods whose refusal as existing (ObjectExists, EEXIST) means
    another agent added the same object between the core's read and the
    step (systemd-networkd configuring a link from the files of ``persist``
    as it appears): such a step is skipped, not done (a rollback leaves the
    object), and the core's read after the run tells whether it is what was
    wanted.
    """

    def __init__(self, nl, device=None, batched=(), hint=None, targets=None, opens=None, exists_ok=()):
        self.nl = nl
        self.device = device
        self.created = None
        self.made = None        # (name, kind) of a link made by ``create`` whose index is not known yet
        self.batched = frozenset(batched)
        self.exists_ok = frozenset(exists_ok)
        self.hint = hint
        self.done = []
        self.targets = dict(targets or {})
        self.opens = dict(opens or {})
        self.bound = {}         # placeholder (other than DEVICE) -> index
        self.created_target = None
        self.gone_with = set([DEVICE])   # the placeholders of the created link: their steps go with it
        self.made_targets = set()
        self._entered = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def adapter(self, target=None):
        """The adapter of ``target`` (None: ``nl``), opened now when it is one of ``opens``."""
        if target is None:
            return self.nl
        if target not in self.targets:
            manager = self.opens[target]()
            self.targets[target] = manager.__enter__()
            self._entered.append(manager)
        return self.targets[target]

    def close(self):
        """Close the adapters the runner opened, newest first."""
        while self._entered:
            self._entered.pop().__exit__(None, None, None)

    def bind(self, placeholder, index):
        """From now on ``placeholder`` stands for link ``index`` (None: there is no such link)."""
        if placeholder is DEVICE:
            self.device = index
        else:
            self.bound[placeholder] = index

    def resolve(self, value):
        if value is DEVICE:
            return self.device
        if isinstance(value, Placeholder):
            return self.bound.get(value)
        return value

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

    def made_link(self, index, placeholders, target=None):
        """Link ``index`` (reached through ``target``'s adapter) is the run's: a rollback deletes it, and the
        done steps naming any of ``placeholders`` go with it (e.g. both ends of a veth pair)."""
        self.created = index
        self.created_target = target
        self.gone_with = set(placeholders)

    def made_target(self, target):
        """The run made what ``target``'s adapter acts in (a namespace): the steps through it go with it."""
        self.made_targets.add(target)

    def run(self, steps):
        """Each step in order, one request each; a refused one raises (tagged) and is not done.

        A step naming a placeholder that stands for no link (``bind``: None)
        fails before its request: NoSuchObject naming its argument.
        """
        for step in steps:
            gone = sorted(p.name for p in step.placeholders if p is not DEVICE and self.bound.get(p) is None)
            if gone:
                raise NoSuchObject('%s: link %s is gone' % (step.what, gone[0]), param=step.param)
            method, args, kwargs = step.call(self.resolve)
            try:
                self.call(lambda m=method, a=args, k=kwargs, t=step.target: getattr(self.adapter(t), m)(*a, **k),
                          step.param)
            except ObjectExists:
                if step.method in self.exists_ok:
                    continue
                raise
            self.done.append(step)

    def run_batch(self, steps, param, entries='entries'):
        """All ``steps`` (of one target) in one bulk request, in order; the kernel takes or refuses each on
        its own.

        The ones taken are done. When some are refused, the first refusal
        is raised naming ``param``, with how many more ``entries`` were
        refused. When the request as a whole fails, every step counts as
        done (how far it got is unknown) and the error is raised naming
        ``param``, as a refused step's.
        """
        target = steps[0].target if steps else None
        try:
            errors = self.call(lambda: self.adapter(target).batch([step.call(self.resolve) for step in steps]),
                               param)
        except Exception:
            self.done.extend(steps)
            raise
        self.done.extend(step for step, error in zip(steps, errors) if error is None)
        failed = [error for step, error in zip(steps, errors) if error is not None
                  and not (isinstance(error, ObjectExists) and step.method in self.exists_ok)]
        if failed:
            self.call(lambda: _raise(failed[0], len(failed) - 1, entries), param)

    def rollback(self, removing):
        """Undo the run, newest first.

        A created link is deleted (``removing``: the text for that); the done
        steps on it go with it (those naming its placeholders, see
        ``made_link``; ``DEVICE`` for a link of ``create``), and so do the
        steps through a target the run made (``made_target``): only the
        others, those that outlive them, are undone. Without either every
        done step is undone.
        """
        steps = self.done
        if self.created is None and self.made is not None:
            self.created = self._find_made()
        if self.created is not None:
            try:
                self.adapter(self.created_target).link_del(removing, self.created)
            except Exception:  # pylint: disable=broad-exception-caught
                pass
            steps = [step for step in steps if not step.placeholders & self.gone_with]
        self.undo([step for step in steps if step.target not in self.made_targets])

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
        """Undo ``steps`` newest first: the bulk undos in one request per target, then the single ones;
        errors ignored."""
        calls = [(step.target, call) for step, call in ((step, step.undo_call(self.resolve))
                                                        for step in reversed(steps)) if call is not None]
        targets = []
        for target, call in calls:
            if call[0] in self.batched and target not in targets:
                targets.append(target)
        for target in targets:
            self._quietly(lambda t=target: self.adapter(t).batch(
                [call for where, call in calls if where == t and call[0] in self.batched]))
        for target, (method, args, kwargs) in calls:
            if method not in self.batched:
                self._quietly(lambda t=target, m=method, a=args, k=kwargs: getattr(self.adapter(t), m)(*a, **k))

    @staticmethod
    def _quietly(fn):
        try:
            fn()
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
                getattr(self.adapter(step.target), method)(*args, **kwargs)
            except Exception as error:  # pylint: disable=broad-exception-caught
                refused.append(error_text(error))
        bulk = [step for step in steps if step.method in self.batched]
        if bulk:
            try:
                refused.extend(error.msg for error in self.adapter(bulk[0].target).batch(
                    [step.call(self.resolve) for step in bulk]) if error is not None)
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
