"""Faults as data: a fault schedule is a tuple of small, frozen, timed actions.

    schedule = (Partition(1.0, (("n1", "n2"), ("n3",))), Crash(1.5, "n1"), Heal(3.0))
    sim.apply_schedule(schedule)
    print(format_schedule(schedule))

Every action has ``at`` (virtual seconds), ``apply(sim)`` and a readable ``str``. Actions are
total: crashing a crashed node, resuming a running one or restarting a running one (a reboot)
are all allowed, so any generated sequence is a valid schedule.

Targets. Any node field may name a target instead of a node: ``"@leader"`` is resolved when
the action fires, by the function the lab's harness registered with
``sim.add_target("leader", fn)`` (``fn(sim)`` returns a node id or None). ``Crash(1.0,
"@leader")`` crashes whoever leads at t=1.0; ``Cut(1.0, "@leader", "@follower", True)`` cuts one
link of the leader; ``Partition(1.0, (("@leader", "@follower"),))`` puts the leader in a
minority of two. When a target resolves to nobody the action does nothing, and the trace says
so. ``format_schedule(schedule, sim)`` shows what each target resolved to in that run.

Triggers. ``CrashAfter(at, node, event)`` arms at ``at`` and crashes the node right after its
next action of that kind, inside the handler that did it (the rest of the handler does not
run): ``"reply"`` (it answered a client), ``"apply"``, ``"write"`` (a storage write landed),
``"send"`` or ``"send:<type>"`` (a message of that type left). ``CrashAtWrite(at, node)``
crashes the node at its next storage write, before the write lands. Both stay armed at most
``within`` seconds; ``RecoverAll`` disarms them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .simulator import CrashNow

if TYPE_CHECKING:  # pragma: no cover
    from .simulator import Simulation


def _resolve(sim: "Simulation", action: Any, *refs: str) -> list[str] | None:
    """The nodes ``refs`` stand for now, or None (and a trace line) if a target is nobody or
    two targets are the same node. What a target resolved to is recorded for
    ``format_schedule(schedule, sim)``."""
    nodes, shown = [], []
    for ref in refs:
        node = sim.resolve(ref)
        if ref.startswith("@"):
            shown.append(f"{ref}={node or 'nobody'}")
        if node is None or node in nodes:
            why = (f"{ref} is nobody now" if node is None
                   else f"{refs[nodes.index(node)]} and {ref} are both {node}")
            sim.note_fault(f"{_text(action)}: {why}, nothing done")
            _resolved(sim)[id(action)] = f"{', '.join(shown)}: nothing done"
            return None
        nodes.append(node)
    if shown:
        sim.note_fault(f"{_text(action)}: {', '.join(shown)}")
        _resolved(sim)[id(action)] = ", ".join(shown)
    return nodes


_RESOLVED: "weakref.WeakKeyDictionary[Simulation, dict[int, str]]" = weakref.WeakKeyDictionary()


def _resolved(sim: "Simulation") -> dict[int, str]:
    found = _RESOLVED.get(sim)
    if found is None:
        found = _RESOLVED[sim] = {}
    return found


def _text(action: Any) -> str:
    """An action's description without its time."""
    return str(action).split(" ", 1)[1]


@dataclass(frozen=True, slots=True)
class Crash:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        nodes = _resolve(sim, self, self.node)
        if nodes:
            sim.crash(nodes[0])

    def __str__(self) -> str:
        return f"t={self.at:.3f}s crash {self.node}"


@dataclass(frozen=True, slots=True)
class Restart:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        nodes = _resolve(sim, self, self.node)
        if nodes:
            sim.restart(nodes[0])

    def __str__(self) -> str:
        return f"t={self.at:.3f}s restart {self.node}"


@dataclass(frozen=True, slots=True)
class Pause:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        nodes = _resolve(sim, self, self.node)
        if nodes:
            sim.pause(nodes[0])

    def __str__(self) -> str:
        return f"t={self.at:.3f}s pause {self.node}"


@dataclass(frozen=True, slots=True)
class Resume:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        nodes = _resolve(sim, self, self.node)
        if nodes:
            sim.resume(nodes[0])

    def __str__(self) -> str:
        return f"t={self.at:.3f}s resume {self.node}"


@dataclass(frozen=True, slots=True)
class Partition:
    at: float
    groups: tuple[tuple[str, ...], ...]

    def apply(self, sim: "Simulation") -> None:
        refs = [ref for group in self.groups for ref in group]
        if not any(ref.startswith("@") for ref in refs):
            sim.partition(*self.groups)
            return
        nodes = _resolve(sim, self, *refs)
        if nodes:
            where = dict(zip(refs, nodes))
            sim.partition(*[[where[ref] for ref in group] for group in self.groups])

    def __str__(self) -> str:
        return f"t={self.at:.3f}s partition " + " | ".join(",".join(g) for g in self.groups)


@dataclass(frozen=True, slots=True)
class Isolate:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        nodes = _resolve(sim, self, self.node)
        if nodes:
            sim.isolate(nodes[0])

    def __str__(self) -> str:
        return f"t={self.at:.3f}s isolate {self.node}"


@dataclass(frozen=True, slots=True)
class Cut:
    """Cut the link ``src -> dst`` (one way unless ``both_ways``)."""
    at: float
    src: str
    dst: str
    both_ways: bool = False

    def apply(self, sim: "Simulation") -> None:
        nodes = _resolve(sim, self, self.src, self.dst)
        if nodes:
            sim.cut(nodes[0], nodes[1], both_ways=self.both_ways)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s cut {self.src}{'<' if self.both_ways else ''}->{self.dst}"


@dataclass(frozen=True, slots=True)
class Heal:
    at: float

    def apply(self, sim: "Simulation") -> None:
        sim.heal()

    def __str__(self) -> str:
        return f"t={self.at:.3f}s heal"


@dataclass(frozen=True, slots=True)
class Network:
    """Change loss / duplication / long-delay probabilities from ``at`` on."""
    at: float
    loss: float = 0.0
    duplicate: float = 0.0
    long_delay: float = 0.0

    def apply(self, sim: "Simulation") -> None:
        sim.set_network(loss=self.loss, duplicate=self.duplicate, long_delay=self.long_delay)

    def __str__(self) -> str:
        return (f"t={self.at:.3f}s network loss={self.loss:g} duplicate={self.duplicate:g} "
                f"long_delay={self.long_delay:g}")


@dataclass(frozen=True, slots=True)
class RecoverAll:
    """End of the fault phase: heal every link, reset the network, resume paused nodes and
    restart crashed ones. Liveness checks start from here."""
    at: float

    def apply(self, sim: "Simulation") -> None:
        disarm(sim)
        sim.heal()
        sim.set_network(loss=0.0, duplicate=0.0, long_delay=0.0)
        for n in sim.node_ids:
            if not sim.is_up(n):
                sim.restart(n)
            elif sim.is_paused(n):
                sim.resume(n)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s recover all (heal, restart, resume)"


# ----- triggers: crash at a chosen moment inside a handler ------------------------------------

TRIGGER_EVENTS = ("reply", "apply", "write", "send")   # "send:<type>" too


@dataclass(frozen=True, slots=True)
class CrashAfter:
    """Arm at ``at``: the node crashes right after its next ``event`` (see the module doc),
    inside the handler that did it. Disarmed unfired after ``within`` seconds."""
    at: float
    node: str
    event: str = "reply"
    within: float = 1.0

    def __post_init__(self) -> None:
        kind, _, mtype = self.event.partition(":")
        if kind not in TRIGGER_EVENTS or (mtype and kind != "send"):
            raise ValueError(f"CrashAfter event {self.event!r}: expected one of "
                             f"{', '.join(TRIGGER_EVENTS)} or send:<message type>")

    def apply(self, sim: "Simulation") -> None:
        nodes = _resolve(sim, self, self.node)
        if nodes:
            _triggers(sim).arm(self, nodes[0])

    def __str__(self) -> str:
        return f"t={self.at:.3f}s crash {self.node} right after its next {self.event}"


@dataclass(frozen=True, slots=True)
class CrashAtWrite:
    """Arm at ``at``: the node crashes at its next storage write, before the write lands (the
    rest of that handler does not run; messages it sent earlier stay sent). Disarmed unfired
    after ``within`` seconds."""
    at: float
    node: str
    within: float = 1.0

    def apply(self, sim: "Simulation") -> None:
        nodes = _resolve(sim, self, self.node)
        if nodes:
            _triggers(sim).arm(self, nodes[0])

    def __str__(self) -> str:
        return f"t={self.at:.3f}s crash {self.node} at its next storage write"


class _Triggers:
    """The armed triggers of one simulation. While any is armed, the runtime's ``send``,
    ``reply`` and ``apply`` and the storage write hooks are wrapped; the wrapper of the
    matching action raises ``CrashNow``, which the simulator turns into a crash."""

    def __init__(self, sim: "Simulation") -> None:
        self._sim = weakref.ref(sim)   # weak: _TRIGGERS must not keep finished runs alive
        self.armed: list[tuple[Any, str, float]] = []    # (action, node, disarm time)
        self.originals: dict[str, Callable] = {}

    @property
    def sim(self) -> "Simulation":
        return self._sim()

    def arm(self, action: Any, node: str) -> None:
        sim = self.sim
        self.armed.append((action, node, sim.now + action.within))
        if not action.node.startswith("@"):   # a target's resolution was noted already
            sim.note_fault(f"armed: {_text(action)}")
        if not self.originals:
            rt = sim._rt   # the one runtime object every node calls (labkit.simulator._Runtime)
            for name in ("send", "reply", "apply"):
                original = getattr(rt, name)
                self.originals[name] = weakref.WeakMethod(original)   # no strong ref to sim
                setattr(rt, name, self._wrap(name, original))
            for store in sim.storage.values():
                store.before_write = self._before_write_of(store.owner)
                store.after_write = self._after_write_of(store.owner)

    def disarm(self) -> None:
        self.armed.clear()
        if self.originals:
            for name, fn in self.originals.items():
                setattr(self.sim._rt, name, fn())
            self.originals.clear()
            for store in self.sim.storage.values():
                store.before_write = store.after_write = None

    def _fire(self, node: str, match: Callable[[Any], bool], what: str) -> None:
        sim = self.sim
        if not sim._running:
            return   # scenario code outside the event loop: the trigger waits
        for i, (action, armed_node, until) in enumerate(self.armed):
            if sim.now > until:
                continue
            if armed_node == node and match(action):
                del self.armed[i]
                self.armed[:] = [a for a in self.armed if sim.now <= a[2]]
                if not self.armed:
                    self.disarm()
                sim.note_fault(f"trigger: {node} crashes {what}")
                raise CrashNow(node)

    def _wrap(self, name: str, original: Callable) -> Callable:
        fire = self._fire
        if name == "send":
            def send(src: str, dst: str, msg: dict) -> None:
                original(src, dst, msg)
                mtype = msg.get("type") if type(msg) is dict else None
                fire(src, lambda a: isinstance(a, CrashAfter) and a.event in
                     ("send", f"send:{mtype}"), f"right after sending {mtype} to {dst}")
            return send
        if name == "reply":
            def reply(src: str, request: Any, body: dict) -> None:
                original(src, request, body)
                fire(src, lambda a: isinstance(a, CrashAfter) and a.event == "reply",
                     f"right after replying {str(body)[:60]} to op#{getattr(request, 'id', '?')}")
            return reply

        def apply(src: str, index: int, command: Any) -> None:
            original(src, index, command)
            fire(src, lambda a: isinstance(a, CrashAfter) and a.event == "apply",
                 f"right after applying index {index}")
        return apply

    def _before_write_of(self, node: str) -> Callable[[str], None]:
        def before_write(key: str) -> None:
            self._fire(node, lambda a: isinstance(a, CrashAtWrite),
                       f"at its write of {key!r}, before it landed")
        return before_write

    def _after_write_of(self, node: str) -> Callable[[str], None]:
        def after_write(key: str) -> None:
            self._fire(node, lambda a: isinstance(a, CrashAfter) and a.event == "write",
                       f"right after its write of {key!r} landed")
        return after_write


_TRIGGERS: "weakref.WeakKeyDictionary[Simulation, _Triggers]" = weakref.WeakKeyDictionary()


def _triggers(sim: "Simulation") -> _Triggers:
    found = _TRIGGERS.get(sim)
    if found is None:
        found = _TRIGGERS[sim] = _Triggers(sim)
    return found


def disarm(sim: "Simulation") -> None:
    """Disarm every trigger of ``sim`` (``RecoverAll`` does it: the end of the fault phase)."""
    found = _TRIGGERS.get(sim)
    if found is not None and found.armed:
        sim.note_fault(f"disarmed {len(found.armed)} trigger(s) that had not fired")
    if found is not None:
        found.disarm()


Action = (Crash | Restart | Pause | Resume | Partition | Isolate | Cut | Heal | Network | RecoverAll
          | CrashAfter | CrashAtWrite)


def format_schedule(schedule: Iterable[Action], sim: "Simulation | None" = None) -> str:
    """One action per line, in time order; "(no faults)" for an empty schedule. With the
    ``sim`` that ran it, each action aimed at a target also says what the target was."""
    resolved = _RESOLVED.get(sim, {}) if sim is not None else {}
    lines = []
    for a in sorted(schedule, key=lambda a: a.at):
        found = resolved.get(id(a))
        lines.append(f"  {a}" + (f"  ({found})" if found else ""))
    return "\n".join(lines) if lines else "  (no faults)"
