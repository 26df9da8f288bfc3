"""One state of a search: every node, its storage, the network and the clients, as data.

A ``World`` is what the breadth-first search (``labkit.search.bfs``) keeps per state and what
``step`` changes. It holds

* ``nodes``: node id -> the live node object, or None while it is crashed;
* ``storage``: node id -> its ``Storage`` (it survives a crash; a restart boots over it);
* ``net``: the multiset of messages in flight, as a list of ``(dst, src, data)`` (``data`` the
  message's JSON text). Any of them may be delivered next, in any order: that is the network;
* ``timers``: node id -> {timer name: its data as JSON text or None}: every armed timer may
  fire next (time is abstracted away, as DSLabs does: a delay orders nothing);
* ``pending``: the client operations not yet answered by a reply without an ``"error"``;
  each may be delivered to any up node (a client that retries until it finds the leader),
  once the operation it waits for (``after``: the one before it of the same client) has
  been answered (``at``: an operation pinned to one node goes to that node only);
* ``answers``: the successful replies, in order (``fresh``: how many of them there were before
  the last step, which is not part of the state); ``applied``: node id -> what it applied;
* ``faults``: what is left of the fault budget, ``{"crash": n, "drop": n, "duplicate": n}``.

Every node calls one shared ``SearchRuntime``; before a step runs, the runtime is pointed at
the world being changed (``runtime.world``), so a node object never holds a world itself and
``copy.deepcopy(world)`` (with the runtime kept out of the copy) is the whole state.

Rules kept here:

* a step is a tuple of strings and ints (``("deliver", dst, src, data)``, ``("timer", node,
  name)``, ``("request", node, op)``, ``("crash", node)``, ``("restart", node)``, ``("drop",
  dst, src, data)``, ``("duplicate", dst, src, data)``): sortable, so the search order is
  fixed;
* nothing here reads the wall clock or the ``random`` module; a node's ``rng`` is seeded from
  its id and incarnation, and ``now()`` is the step count times one millisecond.
"""

from __future__ import annotations

import copy
import pickle
import random
import sys
from types import MethodType
from typing import Any, Callable, Mapping

from .. import contract
from ..blame import student_error
from ..events import Event
from ..jsoncopy import loads
from ..node import Node, Request
from ..storage import Storage

#: the virtual time one step stands for (what ``node.now()`` and the trace show)
STEP = 0.001

KIND_ORDER = {"deliver": 0, "timer": 1, "request": 2, "restart": 3, "drop": 4,
              "duplicate": 5, "crash": 6}


class World:
    __slots__ = ("nodes", "storage", "net", "timers", "pending", "answers", "applied",
                 "faults", "depth", "incarnation", "inputs", "replied", "log", "parts",
                 "after", "at", "fresh")

    def __init__(self) -> None:
        self.nodes: dict[str, Node | None] = {}
        self.storage: dict[str, Storage] = {}
        self.net: list[tuple[str, str, str]] = []
        self.timers: dict[str, dict[str, str | None]] = {}
        self.pending: list[int] = []              # op ids, in order
        self.answers: list[tuple[int, str, str]] = []   # (op, node, reply JSON)
        self.applied: dict[str, list[tuple[int, str]]] = {}
        self.faults: dict[str, int] = {}
        self.depth = 0
        self.incarnation: dict[str, int] = {}
        self.inputs: dict[int, str] = {}          # op id -> its input as JSON text
        self.replied: set[int] = set()            # request ids answered (any reply)
        self.log: "Recorder | None" = None        # only when a path is rebuilt for a trace
        self.parts: dict[str, str] = {}           # node -> its fingerprint text (a cache)
        self.after: dict[int, int] = {}           # op id -> the op it waits for (same client)
        self.at: dict[int, str] = {}              # op id -> the only node it goes to
        self.fresh = 0                            # len(answers) before the last step


class Recorder:
    """The trace of a rebuilt path: ``labkit.events.Event`` records, one step per millisecond,
    with message ids linking a send to its delivery (the trace viewer draws the arrows)."""

    def __init__(self) -> None:
        self.records: list[Event] = []
        self.mids: list[int] = []       # parallel to world.net: the id of each copy in flight
        self.sent = 0

    def emit(self, world: World, kind: str, node: str, peer: str, detail: str, ref: Any) -> None:
        self.records.append(Event(round(world.depth * STEP, 6), kind, node, peer, detail, ref))


class SearchRuntime:
    """What every node of a search calls (the ``_rt`` of a ``labkit.Node``)."""

    __slots__ = ("world", "node_ids")

    def __reduce__(self):  # a node field that reaches the runtime is not plain data
        raise TypeError("the search runtime is not copied with a node")

    def __init__(self, node_ids: tuple[str, ...]) -> None:
        self.world: World = None  # type: ignore[assignment]  # set before every step
        self.node_ids = node_ids

    @property
    def now(self) -> float:
        return self.world.depth * STEP

    def send(self, src: str, dst: str, msg: dict) -> None:
        data = contract.send(src, dst, msg, self.node_ids)
        w = self.world
        w.net.append((dst, src, data))
        if w.log is not None:
            w.log.sent += 1
            w.log.mids.append(w.log.sent)
            w.log.emit(w, "send", src, dst, data, w.log.sent)

    def reply(self, src: str, request: Request, body: dict) -> None:
        w = self.world
        data = contract.reply(src, request, body, w.inputs, w.replied)
        w.replied.add(request.id)
        if w.log is not None:
            w.log.emit(w, "reply", src, "client", data, request.id)
        if '"error"' in data and "error" in loads(data):
            if request.id not in w.pending:
                w.pending.append(request.id)   # the client tries again, at any node
                w.pending.sort()
        else:
            w.answers.append((request.id, src, data))

    def set_timer(self, src: str, name: str, delay: float, data: dict) -> None:
        payload = contract.timer(src, name, delay, data)
        self.world.timers[src][name] = payload

    def cancel_timer(self, src: str, name: str) -> None:
        self.world.timers[src].pop(name, None)

    def apply(self, src: str, index: int, command: Any) -> None:
        data = contract.apply(src, index, command)
        w = self.world
        w.applied[src].append((index, data))
        if w.log is not None:
            w.log.emit(w, "apply", src, "", f"{index} {data}", index)

    def log(self, src: str, text: str) -> None:
        w = self.world
        if w.log is not None:
            w.log.emit(w, "log", src, "", text, None)


def boot(rt: SearchRuntime, world: World, node_class: type[Node] | Mapping[str, type[Node]],
         node: str, kind: str = "start") -> None:
    """Start (or restart) ``node`` over its storage: a fresh object, ``on_start``."""
    inc = world.incarnation[node] = world.incarnation.get(node, 0) + 1
    cls = node_class[node] if isinstance(node_class, Mapping) else node_class
    peers = tuple(p for p in rt.node_ids if p != node)
    rng = random.Random(f"search/{node}/{inc}")
    rt.world = world
    world.timers[node] = {}
    world.applied[node] = []
    obj = _invoke(world, node, "construction", cls, node, peers, rt, world.storage[node], rng)
    world.nodes[node] = obj
    if world.log is not None:
        world.log.emit(world, kind, node, "", f"incarnation {inc}", None)
    _invoke(world, node, "on_start", obj.on_start)


def _invoke(world: World, node: str, what: Any, fn: Callable, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # student code: contain it and say where it came from
        raise student_error(exc, node, what, world.depth * STEP) from exc


def enabled(world: World, node_ids: tuple[str, ...], quiet: frozenset = frozenset()) -> list[tuple]:
    """Every step that can happen next, sorted (the search's fixed order). Timers named in
    ``quiet`` never fire (a prune: the search leaves them out; ``is_quiet``)."""
    steps: list[tuple] = []
    seen = set()
    for dst, src, data in world.net:
        key = (dst, src, data)
        if key in seen:
            continue
        seen.add(key)
        steps.append(("deliver", dst, src, data))
        if world.faults.get("drop", 0) > 0:
            steps.append(("drop", dst, src, data))
        if world.faults.get("duplicate", 0) > 0:
            steps.append(("duplicate", dst, src, data))
    for node in node_ids:
        if world.nodes[node] is None:
            steps.append(("restart", node))
            continue
        for name in world.timers[node]:
            if not quiet or not is_quiet(name, quiet):
                steps.append(("timer", node, name))
        for op in world.pending:
            if _callable(world, op) and world.at.get(op, node) == node:
                steps.append(("request", node, op))
        if world.faults.get("crash", 0) > 0:
            steps.append(("crash", node))
    steps.sort(key=lambda s: (KIND_ORDER[s[0]], s[1:]))
    return steps


def is_quiet(name: str, quiet: frozenset) -> bool:
    """Is timer ``name`` one of ``quiet``: a name, or a prefix followed by ``*`` (``"op:*"``;
    ``"*"`` alone: every timer)."""
    return name in quiet or any(q.endswith("*") and name.startswith(q[:-1]) for q in quiet)


def _callable(world: World, op: int) -> bool:
    """May the client hand ``op`` to a node now: the operation it waits for was answered."""
    prev = world.after.get(op)
    return prev is None or any(a[0] == prev for a in world.answers)


def apply_step(rt: SearchRuntime, world: World, node_class, step: tuple) -> None:
    """Change ``world`` by one step (``world`` is already a copy the caller owns)."""
    kind = step[0]
    world.depth += 1
    world.fresh = len(world.answers)
    rt.world = world
    log = world.log
    if kind == "deliver":
        _, dst, src, data = step
        mid = _take(world, dst, src, data)
        obj = world.nodes[dst]
        if obj is None:
            if log is not None:
                log.emit(world, "drop", dst, src, "destination down", mid)
            return
        if log is not None:
            log.emit(world, "deliver", dst, src, data, mid)
        _invoke(world, dst, ("message", src, data), obj.on_message, src, loads(data))
    elif kind == "timer":
        _, node, name = step
        data = world.timers[node].pop(name)
        if log is not None:
            log.emit(world, "timer", node, "", name, None)
        _invoke(world, node, ("timer", name), world.nodes[node].on_timer, name,
                {} if data is None else loads(data))
    elif kind == "request":
        _, node, op = step
        world.pending.remove(op)
        text = world.inputs[op]
        world.replied.discard(op)     # a retry is a new delivery of the same operation
        if log is not None:
            log.emit(world, "request", node, "client", text, op)
        # no reply yet is fine: the node holds the request and may answer it later
        _invoke(world, node, ("request", loads(text)), world.nodes[node].on_request,
                Request(op, "client", loads(text)))
    elif kind == "crash":
        node = step[1]
        world.faults["crash"] -= 1
        world.nodes[node] = None
        world.timers[node] = {}
        if log is not None:
            log.emit(world, "crash", node, "", "", None)
    elif kind == "restart":
        boot(rt, world, node_class, step[1], kind="restart")
    elif kind == "drop":
        _, dst, src, data = step
        world.faults["drop"] -= 1
        mid = _take(world, dst, src, data)
        if log is not None:
            log.emit(world, "drop", dst, src, "dropped (fault budget)", mid)
    elif kind == "duplicate":
        _, dst, src, data = step
        world.faults["duplicate"] -= 1
        world.net.append((dst, src, data))
        if log is not None:
            i = world.net.index((dst, src, data))
            mid = log.mids[i]
            log.mids.append(mid)
            log.emit(world, "fault", "", "", f"duplicate #{mid} {src}->{dst}", None)
    else:  # pragma: no cover - enabled() makes only the kinds above
        raise ValueError(f"unknown step {step!r}")


def _take(world: World, dst: str, src: str, data: str) -> int | None:
    """Remove one copy of the message from the network (the oldest, for the trace's ids)."""
    i = world.net.index((dst, src, data))
    del world.net[i]
    if world.log is not None:
        return world.log.mids.pop(i)
    return None


def touched(step: tuple) -> str | None:
    """The one node whose object, storage, timers or applies ``step`` may change (None: only
    the network). A node's handler changes nothing of another node's: messages are copies."""
    kind = step[0]
    if kind in ("deliver", "drop", "duplicate"):
        return step[1] if kind == "deliver" else None
    return step[1]


def clone(world: World, rt: SearchRuntime, node: str | None = "*") -> World:
    """A copy of ``world`` in which ``node`` (every node with ``"*"``, none with None) gets its
    own object and storage; the other nodes' objects and storage are *shared* with ``world``
    (copy on write: a step changes only the node it runs on, ``touched``), and so are their
    fingerprint texts. The random generators are copied by state; ``copy.deepcopy`` of a whole
    world costs about thirty times more (nine tenths of it on the generators' 625 words)."""
    new = World()
    storage = dict(world.storage)
    nodes = dict(world.nodes)
    parts = dict(world.parts)
    for n in (world.nodes if node == "*" else () if node is None else (node,)):
        st = world.storage[n]
        copied = object.__new__(Storage)
        copied.__dict__.update(st.__dict__)
        copied._data = dict(st._data)
        storage[n] = copied
        obj = world.nodes[n]
        nodes[n] = None if obj is None else clone_node(obj, rt, copied)
        parts.pop(n, None)
    new.storage = storage
    new.nodes = nodes
    new.parts = parts
    new.net = list(world.net)
    new.timers = {n: dict(t) for n, t in world.timers.items()}
    new.pending = list(world.pending)
    new.answers = list(world.answers)
    new.applied = {n: list(a) for n, a in world.applied.items()}
    new.faults = dict(world.faults)
    new.depth = world.depth
    new.incarnation = dict(world.incarnation)
    new.inputs = world.inputs            # written once, at the start
    new.after = world.after              # likewise
    new.at = world.at
    new.fresh = world.fresh
    new.replied = set(world.replied)
    new.log = None
    return new


def searchable(node_class: Any) -> Any:
    """The node class(es) a search boots: those of a sandboxed submission (the grader's proxies
    of the child's classes) become their search variants, whose objects are handles of node
    objects in the child (``labkit.sandbox.search``); any other class is itself."""
    if "labkit.sandbox.remote" not in sys.modules:
        return node_class
    from ..sandbox.search import search_class

    if isinstance(node_class, Mapping):
        return {k: search_class(v) for k, v in node_class.items()}
    return search_class(node_class)


_SHARED = frozenset(("id", "peers", "_rt"))


def clone_node(obj: Node, rt: SearchRuntime, storage: Storage) -> Node:
    """A copy of one node over ``storage``: its own fields through pickle (plain data, fast in
    C), its methods bound again to the copy (``self.step = self.step_follower``), its random
    generator copied by state; ``copy.deepcopy`` when a field is not plain data. A node of a
    sandboxed submission is copied in the child (``labkit.sandbox.search``)."""
    remote = getattr(type(obj), "_lk_search_clone", None)
    if remote is not None:
        return remote(obj, storage)
    cls = type(obj)
    new = cls.__new__(cls)
    fields = obj.__dict__
    data, methods = {}, {}
    for k, v in fields.items():
        if k in _SHARED or k == "rng" or k == "storage":
            continue
        if type(v) is MethodType and v.__self__ is obj:
            methods[k] = v.__func__
        else:
            data[k] = v
    try:
        copied = pickle.loads(pickle.dumps(data, pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - not plain data (a lambda, a reference to the node...)
        memo = {id(rt): rt, id(obj): new, id(obj.storage): storage}
        copied = copy.deepcopy(data, memo)
    rng = type(obj.rng).__new__(type(obj.rng))   # no seeding from the OS: the state is set
    rng.setstate(obj.rng.getstate())
    d = new.__dict__
    for k in fields:   # the same field order as the original (the fingerprint sorts anyway)
        if k in _SHARED:
            d[k] = fields[k]
        elif k == "rng":
            d[k] = rng
        elif k == "storage":
            d[k] = storage
        elif k in methods:
            d[k] = MethodType(methods[k], new)
        else:
            d[k] = copied[k]
    return new
