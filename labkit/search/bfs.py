"""Breadth-first search over every interleaving of a small configuration (DSLabs' model
checker, for sans-IO Python nodes): the shortest sequence of steps to a broken invariant.

    space = Space(RaftNode, 3, requests=[{"op": "submit", "command": "x"}],
                  faults={"drop": 1, "duplicate": 1},
                  invariants=[StatePredicate("election safety", two_leaders)],
                  prune=[StatePredicate("term above 2", term_above(2))])
    result = search(space, depth=8, max_states=200_000, max_seconds=60)
    result.verdict          # "ok" or "violated"
    result.summary()        # "no violation within depth 8 (12,345 states)" / the violation

From the start state (every node booted, the client operations waiting), each state's
successors are every enabled step (``labkit.search.world.enabled``: deliver any message in
flight, fire any armed timer, hand a waiting client operation to any node (or to the one
it is pinned to, ``Space.at``; a client with several issues them one at a time,
``Space.clients``), and a fault within the budget: crash, drop, duplicate, restart a crashed
node), in a fixed sorted order. States are
deduplicated by a canonical fingerprint (``fingerprint``: the nodes' fields, storage, the
multiset of messages in flight, the armed timers, the clients, the budget left; not the time,
not the random generators), and every invariant is checked at every new state, so the first
violation found is at the smallest depth, and among those the first in that fixed order.

Predicates, as in DSLabs: an *invariant* must hold in every state; a *prune* predicate that
holds stops the search below that state (it is still checked); a *goal* predicate that holds
ends the search with verdict "goal" (a test that must reach something).

Bounds: ``depth`` (steps from the start), ``max_states`` and ``max_seconds`` (wall time, None for
none, as the graded searches use: their verdicts must not depend on the machine; read
only between states, never inside a step). A bound never changes a verdict silently: a search
that stops early says which bound stopped it and the deepest depth it explored completely
("no violation within depth 5 (200,000 states): stopped by the state bound").
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..errors import StudentCodeError
from ..jsoncopy import loads
from ..node import Node
from ..simulator import node_names
from ..storage import Storage
from .world import (Recorder, SearchRuntime, World, apply_step, boot, clone, enabled,
                    searchable, touched)

#: fields of every ``labkit.Node`` that are the runtime's, not the node's state
RUNTIME_FIELDS = frozenset(("id", "peers", "rng", "storage", "_rt"))


@dataclass(frozen=True)
class StatePredicate:
    """A named predicate over a state (DSLabs' ``StatePredicate``): ``test(view)`` returns
    None when it does not hold and the evidence (a sentence) when it does. ``view`` is a
    ``View`` of the state. For an invariant, "holds" means "is broken"."""
    name: str
    test: Callable[["View"], str | None]
    statement: str = ""


class View:
    """What a predicate may read of a state: the up nodes' objects, the storage, the
    messages in flight, the client operations and their successful replies, and what each
    node applied."""

    __slots__ = ("_world",)

    def __init__(self, world: World) -> None:
        self._world = world

    def nodes(self) -> list[tuple[str, Node]]:
        """``(id, object)`` of every up node, in id order."""
        return [(n, obj) for n, obj in self._world.nodes.items() if obj is not None]

    def node(self, node_id: str) -> Node | None:
        return self._world.nodes[node_id]

    def storage(self, node_id: str) -> Storage:
        return self._world.storage[node_id]

    @property
    def in_flight(self) -> list[tuple[str, str, str]]:
        return list(self._world.net)

    @property
    def answers(self) -> list[tuple[int, str, str]]:
        """``(op, node, reply JSON)`` of every successful reply so far, in order."""
        return list(self._world.answers)

    @property
    def new_answers(self) -> list[tuple[int, str, str]]:
        """The successful replies the last step gave (what is checked "at the moment of the
        reply"). Not part of the state: two paths to one state may differ here, so a
        predicate on it should only sharpen the report of a predicate on ``answers``."""
        return self._world.answers[self._world.fresh:]

    def requests(self) -> dict[int, dict]:
        """Every client operation's body by op id (ids count from 1, in ``Space`` order)."""
        return {op: loads(text) for op, text in self._world.inputs.items()}

    def earlier(self, op: int) -> tuple[int, ...]:
        """The operations answered before ``op`` was first handed to a node: those of its
        client before it (``Space.clients``); nothing is known of other clients' order."""
        out = []
        prev = self._world.after.get(op)
        while prev is not None:
            out.append(prev)
            prev = self._world.after.get(prev)
        return tuple(reversed(out))

    def applied(self, node_id: str) -> list[tuple[int, str]]:
        return list(self._world.applied[node_id])

    @property
    def depth(self) -> int:
        return self._world.depth


@dataclass
class Space:
    """A configuration to search: the nodes, the client operations, the fault budget, the
    invariants and the prune / goal predicates. Client operations are either ``requests``
    (each its own client: any of them may be handed to a node at any time) or ``clients``
    (each a list of one client's operations, issued one at a time: an operation is handed to
    a node only once the one before it has a successful reply); op ids count from 1, in
    order (``clients``: the first client's operations first). ``at`` pins an operation to
    one node (its client talks to that node only, also after an error); by default any up
    node may get it."""
    node_class: type[Node] | Mapping[str, type[Node]]
    nodes: int | Sequence[str] = 3
    requests: Sequence[dict] = ()
    clients: Sequence[Sequence[dict]] = ()
    at: Mapping[int, str] = field(default_factory=dict)   # op id -> the one node it goes to
    faults: Mapping[str, int] = field(default_factory=dict)
    invariants: Sequence[StatePredicate] = ()
    prune: Sequence[StatePredicate] = ()
    goals: Sequence[StatePredicate] = ()
    describe: Callable[[Node], str | None] | None = None   # a lane label for the trace viewer
    quiet_timers: Sequence[str] = ()   # prune: timers of these names never fire in the search

    def __post_init__(self) -> None:
        self.node_ids = node_names(self.nodes) if isinstance(self.nodes, int) else tuple(self.nodes)
        self.quiet = frozenset(self.quiet_timers)
        self.node_class = searchable(self.node_class)   # a sandboxed submission's: handles
        self.after: dict[int, int] = {}
        if self.clients:
            if self.requests:
                raise ValueError("give either requests or clients, not both")
            flat: list[dict] = []
            for ops in self.clients:
                for k, body in enumerate(ops):
                    flat.append(body)
                    if k:
                        self.after[len(flat)] = len(flat) - 1
            self.requests = flat
        bad = {op: n for op, n in self.at.items()
               if n not in self.node_ids or not 1 <= op <= len(self.requests)}
        if bad:
            raise ValueError(f"at pins unknown operations or nodes: {bad}; operations are "
                             f"1..{len(self.requests)}, nodes {', '.join(self.node_ids)}")
        unknown = set(self.faults) - {"crash", "drop", "duplicate"}
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: crash, drop, duplicate")

    def describe_bounds(self) -> str:
        """One line: the nodes, the operations, the fault budget, the predicates."""
        budget = ", ".join(f"{v} {k}" for k, v in sorted(self.faults.items()) if v) or "none"
        ops = (f"{len(self.requests)} client operations" if not self.clients else
               f"{len(self.requests)} client operations from {len(self.clients)} "
               f"client{'s' if len(self.clients) > 1 else ''} (one at a time each)")
        return (f"{len(self.node_ids)} nodes, {ops}, fault "
                f"budget: {budget}; invariants: {', '.join(p.name for p in self.invariants)}; "
                f"prune: {', '.join(p.name for p in self.prune) or 'none'}"
                + (f"; timers that never fire: "
                   f"{', '.join('every timer' if q == '*' else q for q in sorted(self.quiet))}"
                   if self.quiet else ""))

    def start(self, rt: SearchRuntime, record: bool = False) -> World:
        """The start state: every node booted in id order, the operations waiting."""
        world = World()
        world.log = Recorder() if record else None
        world.faults = {k: int(v) for k, v in sorted(self.faults.items())}
        world.after = dict(self.after)
        world.at = dict(self.at)
        for i, body in enumerate(self.requests, 1):
            world.inputs[i] = json.dumps(body, separators=(",", ":"))
            world.pending.append(i)
        for n in self.node_ids:
            world.storage[n] = Storage(n)
            world.nodes[n] = None
        for n in self.node_ids:
            boot(rt, world, self.node_class, n)
        return world


@dataclass
class Result:
    """What a search found. ``verdict``: "ok" (no violation within the bounds), "violated"
    (``path`` is the shortest sequence of steps to it), "goal" (a goal state was reached,
    ``path`` leads there) or "error" (a node raised: ``path`` leads to the step that did)."""
    verdict: str
    states: int
    depth: int               # the deepest depth explored completely (or the path's length)
    seconds: float
    stopped_by: str          # "depth", "exhausted", "states", "time", or "" when found
    bounds: dict
    path: tuple = ()
    predicate: str = ""
    evidence: str = ""
    error: StudentCodeError | None = None
    final: bytes = b""       # the fingerprint of the state ``path`` leads to
    replayed: bool = False   # a recorded path run again (``nox -s replay``), not a search

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else float("inf")

    @property
    def complete(self) -> bool:
        """True when the whole space up to the depth bound was explored (or found something)."""
        return self.verdict != "ok" or self.stopped_by in ("depth", "exhausted")

    def summary(self) -> str:
        if self.verdict == "violated":
            how = ("the recorded path, run again with no new search" if self.replayed else
                   f"the shortest interleaving; {self.states:,} states explored")
            return f"{self.predicate} violated after {len(self.path)} steps ({how}): {self.evidence}"
        if self.verdict == "goal":
            return f"goal {self.predicate!r} reached after {len(self.path)} steps"
        if self.verdict == "error":
            return (f"a node raised at step {len(self.path)} (the shortest interleaving that "
                    f"makes it raise; {self.states:,} states explored): {self.error}")
        why = {"depth": f"the depth bound ({self.bounds['depth']})",
               "exhausted": "no new state (the whole space)",
               "states": f"the state bound ({self.bounds['max_states']:,} states)",
               "time": f"the wall-time bound ({self.bounds['max_seconds'] or 0:g} s)"}[self.stopped_by]
        return (f"no violation within depth {self.depth} ({self.states:,} states); "
                f"stopped by {why}")


def _default(value: Any) -> Any:
    """How ``fingerprint`` writes what JSON cannot: sets sorted, methods by name, objects by
    their fields."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    func = getattr(value, "__func__", None)
    if func is not None:
        return "<method " + func.__name__ + ">"
    fields = getattr(value, "__dict__", None)
    if fields is not None:
        return {"<object>": type(value).__name__,
                **{k: v for k, v in fields.items() if not k.startswith("__")}}
    slots = getattr(type(value), "__slots__", None)
    if slots is not None:
        return {"<object>": type(value).__name__,
                **{k: getattr(value, k, None) for k in slots}}
    return repr(value)


_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_default).encode


def node_fields(obj: Node) -> dict:
    return {k: v for k, v in vars(obj).items() if k not in RUNTIME_FIELDS}


def node_text(obj: Node | None) -> str:
    """The text of one node's fields in a fingerprint (None: a crashed node). Under
    ``--sandbox`` the child computes it on its object (``labkit.sandbox.search``)."""
    fields = None if obj is None else node_fields(obj)
    try:
        return _encode(fields)
    except TypeError:   # keys of mixed types cannot be sorted: name them by repr
        return repr(_canon(fields))


def fingerprint(world: World) -> bytes:
    """The canonical identity of a state (time and random generators left out). Each node's
    text is cached in ``world.parts`` (``clone`` drops the text of the node it copies): change
    a world only through ``apply_step`` on a fresh clone, as the search does."""
    parts = []
    cache = world.parts
    for n, obj in world.nodes.items():
        text = cache.get(n)
        if text is None:
            remote = getattr(type(obj), "_lk_search_text", None)   # sandboxed: read in the child
            text = node_text(obj) if remote is None else remote(obj)
            text = "\x01".join((text, repr(sorted(world.storage[n]._data.items())),
                                repr(sorted(world.timers[n].items())),
                                repr(world.applied[n])))
            if world.log is None:
                cache[n] = text
        parts.append(text)
    parts.append(repr(sorted(world.net)))
    parts.append(repr((world.pending, sorted(world.answers), sorted(world.faults.items()))))
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=16).digest()


def _canon(value: Any) -> Any:
    if isinstance(value, dict):
        return sorted(((repr(k), _canon(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return _canon(_default(value))


def search(space: Space, *, depth: int, max_states: int = 1_000_000,
           max_seconds: float | None = 60.0) -> Result:
    """Breadth-first search of ``space`` (see the module docstring)."""
    bounds = {"depth": depth, "max_states": max_states, "max_seconds": max_seconds}
    started = time.perf_counter()
    rt = SearchRuntime(space.node_ids)
    node_class = space.node_class

    def elapsed() -> float:
        return time.perf_counter() - started

    def found(verdict: str, path: tuple, pred: str = "", evidence: str = "",
              error: StudentCodeError | None = None, final: bytes = b"") -> Result:
        return Result(verdict, len(seen), len(path), elapsed(), "", bounds, path, pred,
                      evidence, error, final)

    start = space.start(rt)   # a node that raises on start: the caller sees the error
    seen = {fingerprint(start)}
    hit = _check(space, start)
    if hit:
        return found(hit[0], (), hit[1], hit[2], final=fingerprint(start))
    level: list[tuple[World, tuple]] = [(start, ())]
    done_depth = 0
    ahead = getattr(node_class, "_lk_search_ahead", None)   # sandboxed: events sent in batches
    while level:
        if done_depth >= depth:
            return Result("ok", len(seen), done_depth, elapsed(), "depth", bounds)
        following: list[tuple[World, tuple]] = []
        if ahead is not None:
            ahead(level, space)
        for world, path in level:
            if len(seen) >= max_states:
                return Result("ok", len(seen), done_depth, elapsed(), "states", bounds)
            if max_seconds is not None and elapsed() > max_seconds:
                return Result("ok", len(seen), done_depth, elapsed(), "time", bounds)
            for step in enabled(world, space.node_ids, space.quiet):
                nxt = clone(world, rt, touched(step))
                try:
                    apply_step(rt, nxt, node_class, step)
                except StudentCodeError as exc:
                    if exc.not_implemented:
                        raise
                    return found("error", path + (step,), error=exc)
                key = fingerprint(nxt)
                if key in seen:
                    continue
                seen.add(key)
                hit = _check(space, nxt)
                if hit:
                    verdict, pred, evidence = hit
                    return found(verdict, path + (step,), pred, evidence, final=key)
                if any(p.test(View(nxt)) for p in space.prune):
                    continue
                following.append((nxt, path + (step,)))
        level = following
        done_depth += 1
    return Result("ok", len(seen), done_depth, elapsed(), "exhausted", bounds)


def _check(space: Space, world: World) -> tuple[str, str, str] | None:
    view = View(world)
    for inv in space.invariants:
        evidence = inv.test(view)
        if evidence:
            return "violated", inv.name, evidence
    for goal in space.goals:
        evidence = goal.test(view)
        if evidence:
            return "goal", goal.name, evidence
    return None


def rebuild(space: Space, path: Sequence[tuple]) -> tuple[World, list]:
    """Run ``path`` again from a fresh start state, recording a trace: ``(world, records)``.
    The same path always gives the same records (the search's steps are deterministic)."""
    rt = SearchRuntime(space.node_ids)
    world = space.start(rt, record=True)
    labels: dict[str, str | None] = {}
    _label(space, world, labels)
    for step in path:
        if step not in enabled(world, space.node_ids, space.quiet):
            raise AssertionError(f"step {step!r} is not enabled when the path is rebuilt "
                                 f"(labkit bug: the search is not deterministic)")
        try:
            apply_step(rt, world, node_class=space.node_class, step=step)
        except StudentCodeError as exc:
            world.log.emit(world, "error", exc.node or "", "", str(exc).splitlines()[0], None)
            break
        _label(space, world, labels)
    return world, world.log.records


def _label(space: Space, world: World, labels: dict) -> None:
    if space.describe is None:
        return
    for n, obj in world.nodes.items():
        text = None if obj is None else space.describe(obj)
        if text != labels.get(n):
            labels[n] = text
            if text is not None:
                world.log.emit(world, "state", n, "", text, None)
