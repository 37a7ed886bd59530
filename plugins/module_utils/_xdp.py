# -*- coding: utf-8 -*-
# Copyright: cni.node contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cni_xdp core: one XDP program on one or more interfaces, exactly.

``Spec`` checks every argument before anything is read. ``run`` reads which
program (id, mode) each interface holds through the netlink adapter, asks the
toolchain (``_bpf``) for those programs' tags and names and, for
``state=present``, for the wanted program's tag; ``plan`` compares them:

- the same tag in a matching mode is not a change (``auto`` matches native
  and generic, the modes the kernel picks by itself; other modes match only
  themselves): nothing is loaded or attached;
- anything else is a change, with drift items ``xdp/<ifname>/program``
  (``{id, tag, name}`` or null) and ``xdp/<ifname>/mode``;
- a program this module did not attach (see ``Record``) is replaced or
  removed only with ``force``; otherwise the run fails naming it before
  anything changes.

The wanted tag comes from the record when this module attached the same
object (by sha256) and section during this boot, else from loading the
object once (the verifier runs; nothing is attached). Check mode loads only
when an interface holds a program whose tag must be compared.

``steps`` turns the plan into ``_steps.Step`` objects on the toolchain's
``attach``/``detach`` (each with the call that undoes it: the previous
program, kept pinned for the run, goes back in its mode), run in order; a
refused step undoes the done ones, newest first, so a call on several
interfaces is all-or-nothing.

``Record`` is the state file (``state_file``) naming, per namespace and
interface, the program id this module attached, with its tag, object sha256,
section and mode, and the boot it was made in (program ids restart at boot).

No Ansible, no pyroute2: the adapters are passed in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.cni.node.plugins.module_utils._errors import KernelRefused, ParameterError
from ansible_collections.cni.node.plugins.module_utils._fileutil import clean_temps
from ansible_collections.cni.node.plugins.module_utils._ifname import check_ifname
from ansible_collections.cni.node.plugins.module_utils._params import check_paths, netns_value
from ansible_collections.cni.node.plugins.module_utils._result import Changes
from ansible_collections.cni.node.plugins.module_utils._statefile import LockedStateFile
from ansible_collections.cni.node.plugins.module_utils._steps import Runner, Step

MODES = ('auto', 'native', 'generic', 'offload')
AUTO_MATCHES = ('native', 'generic')
DEFAULT_CACHE_DIR = '/var/cache/cni-node/xdp'
DEFAULT_STATE_FILE = '/var/lib/cni-node/xdp.json'
BOOT_ID = '/proc/sys/kernel/random/boot_id'
MAX_TAGS = 64                # objects whose tag the record remembers


class Spec(object):
    """The checked arguments of cni_xdp."""

    def __init__(self, dev, netns=None, object=None, source=None, section='xdp', mode='auto', force=False,
                 state='present', cache_dir=DEFAULT_CACHE_DIR, state_file=DEFAULT_STATE_FILE):
        # pylint: disable=redefined-builtin
        devs = [dev] if isinstance(dev, str) else list(dev or [])
        if not devs:
            raise ParameterError('dev: at least one interface name is required', param='dev')
        self.devs = []
        for name in devs:
            check_ifname(name, param='dev')
            if name not in self.devs:
                self.devs.append(name)
        if state not in ('present', 'absent'):
            raise ParameterError('state: present or absent, not %r' % (state,), param='state')
        if mode not in MODES:
            raise ParameterError('mode: one of %s, not %r' % (', '.join(MODES), mode), param='mode')
        if object is not None and source is not None:
            raise ParameterError('object and source are mutually exclusive: give the compiled object or the C '
                                 'source', param='object')
        if state == 'present' and object is None and source is None:
            raise ParameterError('object: state=present needs the program: object (a BPF ELF file) or source '
                                 '(a C file)', param='object')
        check_paths(dict(object=object, source=source, cache_dir=cache_dir, state_file=state_file),
                    ('object', 'source', 'cache_dir', 'state_file'))
        if mode == 'offload' and len(self.devs) > 1:
            raise ParameterError('mode: offload binds a loaded program to one NIC: give one dev per task',
                                 param='mode')
        if not isinstance(section, str) or not section:
            raise ParameterError('section: the ELF section of the program (e.g. xdp)', param='section')
        self.netns = netns_value(netns) or None
        self.object = object
        self.source = source
        self.section = section
        self.mode = mode
        self.force = bool(force)
        self.state = state
        self.cache_dir = cache_dir
        self.state_file = state_file


def mode_matches(actual, wanted):
    return actual in AUTO_MATCHES if wanted == 'auto' else actual == wanted


def program(info):
    """The drift value of a program: ``{id, tag, name}``, or None for none."""
    if not info or not info.get('id') and not info.get('tag'):
        return None
    return dict(id=info.get('id'), tag=info.get('tag'), name=info.get('name'))


def _key(netns, dev):
    return '%s\t%s' % (netns or '', dev)


class Record(object):
    """What this module attached (see the module doc): ``{"boot_id": ..., "attached": {key: entry}}``."""

    def __init__(self, text, boot_id):
        self.boot_id = boot_id
        data = {}
        if text:
            try:
                data = json.loads(text)
            except ValueError:
                data = {}
        if not isinstance(data, dict) or data.get('boot_id') != boot_id:
            data = {}
        if not isinstance(data.get('attached'), dict):
            data = {}
        self.attached = dict(data.get('attached') or {})
        self.tags = dict(data.get('tags') or {}) if isinstance(data.get('tags'), dict) else {}

    def ours(self, netns, dev, prog_id):
        entry = self.attached.get(_key(netns, dev))
        return bool(prog_id) and isinstance(entry, dict) and entry.get('id') == prog_id

    def known_tag(self, sha256, section):
        """The tag of (object sha256, section) as attached this boot, and its name; (None, None) if unknown."""
        known = self.tags.get('%s\t%s' % (sha256, section))
        if isinstance(known, list) and len(known) == 2:
            return known[0], known[1]
        return None, None

    def learn(self, sha256, section, tag, name):
        """Remember the tag (and name) the kernel gave (object sha256, section) this boot."""
        if tag:
            key = '%s\t%s' % (sha256, section)
            self.tags.pop(key, None)
            self.tags[key] = [tag, name]
            while len(self.tags) > MAX_TAGS:        # the oldest go first (dicts keep insertion order)
                self.tags.pop(next(iter(self.tags)))

    def set(self, netns, dev, entry):
        key = _key(netns, dev)
        if entry is None:
            self.attached.pop(key, None)
        else:
            self.attached[key] = entry

    def text(self):
        if not self.attached and not self.tags:
            return None
        # Not sorted: ``tags`` keeps the order they were learnt in (the oldest are dropped first).
        return json.dumps(dict(boot_id=self.boot_id, attached=self.attached, tags=self.tags), indent=1) + '\n'


class Action(object):
    """What one interface needs: ``attach`` (none there), ``replace`` or ``detach``; ``old``: what is there."""

    def __init__(self, dev, kind, old):
        self.dev = dev
        self.kind = kind
        self.old = old


class Plan(object):
    def __init__(self):
        self.changes = Changes()
        self.actions = []


def plan(spec, actual, wanted, record):
    """``Plan`` from ``actual`` (ifname -> {mode, id, tag, name}), ``wanted`` ({tag, name}; the tag is None when
    it was not learnt) and the ``Record``. A foreign program without ``force`` fails here, naming it."""
    p = Plan()
    for dev in spec.devs:
        now = actual[dev]
        has = bool(now.get('id'))
        if spec.state == 'present':
            same = has and wanted.get('tag') and now.get('tag') == wanted['tag']
            if same and mode_matches(now['mode'], spec.mode):
                continue
            after_mode = now['mode'] if has and mode_matches(now['mode'], spec.mode) else spec.mode
            after = dict(id=None, tag=wanted.get('tag'), name=wanted.get('name'))
            kind = 'replace' if has else 'attach'
        else:
            if not has:
                continue
            after_mode, after, kind = None, None, 'detach'
        if has and not spec.force and not record.ours(spec.netns, dev, now['id']):
            raise ParameterError('force: %s holds XDP program %r (id %s, tag %s, %s mode) that cni_xdp did not '
                                 'attach; force: true %s it' % (dev, now.get('name'), now['id'], now.get('tag'),
                                                                now['mode'], 'replaces' if kind == 'replace'
                                                                else 'removes'), param='force')
        p.changes.add('xdp/%s/program' % dev, program(now), after, area='xdp')
        p.changes.add('xdp/%s/mode' % dev, now['mode'] if has else None, after_mode, area='xdp')
        p.actions.append(Action(dev, kind, now))
    return p


def steps(spec, p, new_pin, old_pins):
    """The steps of plan ``p``: ``new_pin`` is the wanted program's pin, ``old_pins`` id -> pin of the
    programs there now (each undo puts one back)."""
    out = []
    for action in p.actions:
        dev, old = action.dev, action.old
        ns = spec.netns
        param = 'mode' if spec.mode != 'auto' and action.kind != 'detach' else 'dev'
        old_modes = sorted(old.get('ids') or {}) if old.get('mode') == 'multi' else (
            [old['mode']] if old.get('id') else [])
        if action.kind == 'replace' and old_modes == [spec.mode]:
            # Same explicit mode: the kernel swaps the program in one request.
            what = 'replacing the XDP program of %s' % dev
            out.append(Step(param, 'attach', [what, ns, dev, spec.mode, new_pin], {'replace': True},
                            undo=('attach', [what, ns, dev, old['mode'], old_pins[old['id']]], {'replace': True})))
            continue
        for mode in old_modes:
            what = 'detaching the %s XDP program of %s' % (mode, dev)
            prog_id = (old.get('ids') or {}).get(mode) or old['id']
            out.append(Step('dev', 'detach', [what, ns, dev, mode],
                            undo=('attach', [what, ns, dev, mode, old_pins[prog_id]], {'replace': False})))
        if action.kind != 'detach':
            what = 'attaching the XDP program to %s (%s mode)' % (dev, spec.mode)
            out.append(Step(param, 'attach', [what, ns, dev, spec.mode, new_pin], {'replace': False},
                            undo=('detach', [what, ns, dev, spec.mode], {})))
    return out


def apply(step_list, bpf):
    """Run the steps; when one is refused, undo the done ones (newest first) and raise its error."""
    runner = Runner(bpf)
    try:
        runner.run(step_list)
    except Exception:
        runner.undo(runner.done)
        raise


class _NoStateFile(object):
    """Check mode where the state file's directory does not exist yet: nothing recorded, nothing written."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    @staticmethod
    def read():
        return None


def _state_file(spec, check_mode):
    directory = os.path.dirname(os.path.abspath(spec.state_file))
    if not os.path.isdir(directory):
        if check_mode:
            return _NoStateFile()
        try:
            os.makedirs(directory, 0o755)
        except OSError as exc:
            if not os.path.isdir(directory):
                raise ParameterError('state_file: cannot create %s: %s' % (directory, os.strerror(exc.errno)),
                                     param='state_file')
    return LockedStateFile(spec.state_file, exclusive=not check_mode, param='state_file')


def read_boot_id(path=BOOT_ID):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return ''


def _read(spec, nl, bpf):
    """ifname -> {mode, id, ids, tag, name} for every managed interface; a missing one fails naming dev."""
    links = nl.xdp()
    missing = [dev for dev in spec.devs if dev not in links]
    if missing:
        raise ParameterError('dev: no interface %s in %s' % (', '.join(missing), 'network namespace %r'
                                                             % spec.netns if spec.netns else 'the node'),
                             param='dev')
    out = {}
    for dev in spec.devs:
        link = dict(links[dev])
        info = bpf.info(link['id']) if link.get('id') else None
        link['tag'] = info.get('tag') if info else None
        link['name'] = info.get('name') if info else None
        out[dev] = link
    return out


def _load(spec, bpf, obj):
    """Load the wanted program once (the verifier runs, nothing is attached): (info, pin)."""
    return bpf.load(obj['path'], obj['program'], param=obj['param'], shown=obj.get('shown'), netns=spec.netns,
                    offload_dev=spec.devs[0] if spec.mode == 'offload' else None)


def _remember(spec, record, actual, obj):
    """Record the programs of ``actual`` as this module's (the wanted object's); whether the record changed."""
    changed = False
    tag, name = record.known_tag(obj['sha256'], spec.section)
    for dev in spec.devs:
        now = actual[dev]
        entry = dict(id=now.get('id'), tag=now.get('tag'), name=now.get('name'), mode=now.get('mode'),
                     sha256=obj['sha256'], section=spec.section)
        if record.attached.get(_key(spec.netns, dev)) != entry:
            record.set(spec.netns, dev, entry)
            changed = True
        if now.get('tag') and tag is None:
            record.learn(obj['sha256'], spec.section, now['tag'], now.get('name'))
            tag, changed = now['tag'], True
    return changed


def public(spec, actual):
    """The ``interfaces`` return value: ifname -> {id, tag, name, mode}."""
    return dict((dev, dict(id=actual[dev].get('id'), tag=actual[dev].get('tag'), name=actual[dev].get('name'),
                           mode=actual[dev].get('mode'))) for dev in spec.devs)


def run(spec, netlink, toolchain, check_mode=False, boot_id=None):
    """Read, plan and (unless check mode) apply and verify: ``(plan, interfaces)``.

    ``netlink(netns)`` opens the netlink adapter; ``toolchain`` is a
    ``_bpf.Toolchain`` (or a stand-in with ``program``, ``session``).
    """
    boot_id = read_boot_id() if boot_id is None else boot_id
    with netlink(spec.netns) as nl, toolchain.session() as bpf, _state_file(spec, check_mode) as state:
        if not check_mode:   # under the state file's lock: temporaries of killed runs (issue 13 item 4)
            clean_temps([spec.state_file])
        actual = _read(spec, nl, bpf)
        record = Record(state.read(), boot_id)
        wanted, obj, loaded = {}, None, None
        if spec.state == 'present':
            obj = toolchain.program(spec, check_mode)
            tag, name = record.known_tag(obj['sha256'], spec.section)
            if tag is None and (not check_mode or any(actual[d].get('id') for d in spec.devs)):
                loaded = _load(spec, bpf, obj)
                tag, name = loaded[0]['tag'], loaded[0]['name']
            wanted = dict(tag=tag, name=name or obj['program'][:15])
        p = plan(spec, actual, wanted, record)
        if check_mode:
            return p, public(spec, actual)
        if not p.changes.changed:
            if spec.state == 'present' and _remember(spec, record, actual, obj):
                state.write(record.text())     # the wanted program, found attached: adopted
            return p, public(spec, actual)
        if spec.state == 'present' and loaded is None:
            loaded = _load(spec, bpf, obj)
        old_pins = {}
        for action in p.actions:
            for prog_id in set([action.old.get('id')] + list((action.old.get('ids') or {}).values())):
                if prog_id:
                    old_pins[prog_id] = bpf.pin(prog_id)
        apply(steps(spec, p, loaded[1] if loaded else None, old_pins), bpf)
        after = _read(spec, nl, bpf)
        if spec.state == 'present':
            _remember(spec, record, after, obj)
        else:
            for dev in spec.devs:
                if not after[dev].get('id'):
                    record.set(spec.netns, dev, None)
        state.write(record.text())
        left = plan(spec, after, wanted, record)
        if left.changes.changed:
            raise KernelRefused('dev: the kernel did not keep what was set: %s'
                                % ', '.join('%s is %r, not %r' % (d['path'], d['before'], d['after'])
                                            for d in left.changes.drift), param='dev')
        return p, public(spec, after)
