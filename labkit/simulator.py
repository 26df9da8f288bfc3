"""The deterministic simulator: virtual time, one seed, every fault on demand.

One thread runs a heap of ``(time, seq, kind, ...)`` events. All randomness comes from
``random.Random`` objects derived from the run's seed (one for the network, one per node and
incarnation), so the same seed and the same code give the same trace, byte for byte.

    sim = Simulation(KVNode, 3, seed=7)          # nodes n1, n2, n3, booted at t=0
    op = sim.request("n1", {"op": "set", "key": "x", "value": "1"})
    sim.partition(["n1", "n2"], ["n3"])
    sim.run_for(2.0)
    sim.heal()
    sim.run_until_done(op)

The network delivers each message after a latency drawn from ``NetworkConfig`` and may lose,
duplicate or hold it back (reordering). A message is dropped if its link is cut when it is sent
or when it would arrive, or if the destination is down when it arrives. A crashed node loses its
object, its timers and its in-flight work; ``storage`` survives. A paused node is frozen: its
messages and timers are held and handed over, in order, when it resumes.

Observers (``observe``, ``check_always``) run after every event, so a safety property is checked
at every step, not sampled. Budgets (``max_events``, ``max_time``) turn a livelock or a message
storm into a ``BudgetExceeded`` error with a sentence, never a hang.
"""

from __future__ import annotations

import heapq
import json
import random
import sysconfig
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .events import Event
from .errors import BudgetExceeded, ContractError, PropertyViolation, StudentCodeError
from .jsoncopy import dumps as _dumps
from .jsoncopy import loads as _loads
from .history import FAIL, OK, PENDING, UNKNOWN, Operation
from .node import Node, Request
from .storage import Storage, to_json
from .trace import Trace

DELIVER, TIMER, REQUEST, TIMEOUT, CALL = range(5)
@dataclass(frozen=True)
class NetworkConfig:
    """How the network treats each message. Probabilities are per message, in [0, 1].

    * latency: uniform in ``[min_latency, max_latency]`` seconds (default 1-10 ms);
    * ``loss``: the message is dropped;
    * ``duplicate``: a second copy is delivered too, with its own latency;
    * ``long_delay``: the message is held back an extra ``uniform(0, long_delay_max)`` seconds,
      which reorders it behind later messages.
    """

    min_latency: float = 0.001
    max_latency: float = 0.010
    loss: float = 0.0
    duplicate: float = 0.0
    long_delay: float = 0.0
    long_delay_max: float = 0.5

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "long_delay"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"NetworkConfig.{name} must be in [0, 1], got {p}")
        if not 0.0 <= self.min_latency <= self.max_latency:
            raise ValueError("NetworkConfig needs 0 <= min_latency <= max_latency")


def node_names(n: int) -> tuple[str, ...]:
    """``node_names(3) == ("n1", "n2", "n3")``."""
    return tuple(f"n{i}" for i in range(1, n + 1))


class Simulation:
    """A cluster of nodes on a simulated network. See the module docstring.

    ``node_class`` is one ``Node`` subclass for every node, or a mapping from node id to class
    (e.g. cache nodes plus a load balancer). ``nodes`` is a count (``n1``..``nN``) or names."""

    def __init__(self, node_class: type[Node] | Mapping[str, type[Node]],
                 nodes: int | Sequence[str] = 3, *, seed: int = 0,
                 network: NetworkConfig | None = None, max_events: int = 2_000_000,
                 max_time: float = 600.0, client_timeout: float = 1.0):
        self.node_class = node_class
        self.node_ids: tuple[str, ...] = node_names(nodes) if isinstance(nodes, int) else tuple(nodes)
        if len(set(self.node_ids)) != len(self.node_ids):
            raise ValueError(f"node names must be distinct: {self.node_ids}")
        self.seed = seed
        self.network = network or NetworkConfig()
        self.max_events = max_events
        self.max_time = max_time
        self.client_timeout = client_timeout

        self.now = 0.0
        self.events = 0
        self.trace = Trace()
        self.history: list[Operation] = []
        self.storage = {n: Storage(n) for n in self.node_ids}
        self.incarnation = {n: 0 for n in self.node_ids}
        self.sent = self.delivered = self.dropped = self.duplicated = 0
        self.sent_by_type: dict[str, int] = {}

        self._node_set = frozenset(self.node_ids)
        self._nodes: dict[str, Node | None] = {n: None for n in self.node_ids}
        self._held: dict[str, list | None] = {n: None for n in self.node_ids}  # list while paused
        self._timers: dict[str, dict[str, int]] = {n: {} for n in self.node_ids}
        self._blocked: set[tuple[str, str]] = set()
        self._heap: list[tuple] = []
        self._seq = 0
        self._net_rng = random.Random(f"{seed}/network")
        self._ops: dict[int, Operation] = {}
        self._replied: set[int] = set()
        self._observers: list[Callable[["Simulation"], None]] = []
        self._subscribers: list[Callable[["Simulation", Event], None]] = []
        self._fed = 0  # trace records already handed to the subscribers
        self._apply_listeners: list[Callable[[str, int, Any], None]] = []
        self._targets: dict[str, Callable[["Simulation"], str | None]] = {}  # see add_target
        append, new = self.trace.records.append, tuple.__new__
        self._trace_add = lambda rec: append(new(Event, rec))
        self._running = False  # inside the event loop (observers run per event there)
        self._rt = _Runtime(self)
        for n in self.node_ids:  # boot now, so faults can be applied right after construction
            self._boot(n)

    # ----- reading the cluster -------------------------------------------------------------------

    def node(self, node_id: str) -> Node | None:
        """The live object of ``node_id``, or None while it is crashed."""
        self._check_node(node_id)
        return self._nodes[node_id]

    def live_nodes(self) -> list[tuple[str, Node]]:
        """``(id, object)`` of every node that is up (paused nodes included), in id order."""
        return [(n, obj) for n, obj in self._nodes.items() if obj is not None]

    def is_up(self, node_id: str) -> bool:
        return self._nodes[node_id] is not None

    def is_paused(self, node_id: str) -> bool:
        return self._held[node_id] is not None

    def can_reach(self, src: str, dst: str) -> bool:
        """True if the link ``src -> dst`` is not cut (regardless of node state)."""
        return (src, dst) not in self._blocked

    # ----- scheduling and running ----------------------------------------------------------------

    def at(self, time: float, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` (a scenario step or a fault) at virtual time ``time``."""
        self._push(max(time, self.now), CALL, "", fn, None, None)

    def after(self, delay: float, fn: Callable[[], Any]) -> None:
        self.at(self.now + delay, fn)

    def apply_schedule(self, schedule: Iterable[Any]) -> None:
        """Schedule every fault action (see ``labkit.faults``) at its ``at`` time."""
        for action in schedule:
            self.at(action.at, lambda a=action: a.apply(self))

    def observe(self, fn: Callable[["Simulation"], None]) -> None:
        """Call ``fn(sim)`` after every event. It may raise ``PropertyViolation``."""
        self._observers.append(fn)

    def subscribe(self, fn: Callable[["Simulation", "Event"], None]) -> None:
        """Call ``fn(sim, event)`` for every ``Event`` (``labkit.events``), in order, after the
        step that emitted it (so node state is settled when ``fn`` runs), before the
        observers. Events emitted before ``subscribe`` are not replayed. ``fn`` may raise
        ``PropertyViolation``."""
        if not self._subscribers:
            self._fed = len(self.trace.records)
        self._subscribers.append(fn)

    def _feed(self) -> None:
        records = self.trace.records
        while self._fed < len(records):
            ev = records[self._fed]
            self._fed += 1
            for fn in self._subscribers:
                fn(self, ev)

    def check_always(self, prop: str, check: Callable[["Simulation"], str | None]) -> None:
        """After every event, ``check(sim)`` returns None or the evidence of a violation."""
        def observer(sim: "Simulation") -> None:
            evidence = check(sim)
            if evidence:
                raise PropertyViolation(prop, evidence, time=sim.now)
        self.observe(observer)

    def track_state(self, describe: Callable[[Node], str | None]) -> None:
        """Record a ``state`` trace event whenever ``describe(node)`` changes (e.g. a Raft
        node's "leader 3"); the trace viewer colours each lane by the first word."""
        last: dict[str, str | None] = {}

        def observer(sim: "Simulation") -> None:
            for n, obj in sim._nodes.items():
                text = None if obj is None else describe(obj)
                if text != last.get(n):
                    last[n] = text
                    if text is not None:
                        sim._trace_add((sim.now, "state", n, "", text, None))
        self.observe(observer)

    def on_apply(self, fn: Callable[[str, int, Any], None]) -> None:
        """Call ``fn(node, index, command)`` whenever a node applies a command."""
        self._apply_listeners.append(fn)

    # ----- targets: fault actions aimed at a role, resolved when they fire (labkit.faults) ----

    def add_target(self, name: str, fn: Callable[["Simulation"], str | None]) -> None:
        """Let a fault action name ``"@<name>"`` where it names a node: ``fn(sim)`` says which
        node that is when the action fires, or None (nobody now: the action does nothing)."""
        self._targets[name] = fn

    def resolve(self, ref: str) -> str | None:
        """The node ``ref`` stands for now: a node id stands for itself, ``"@name"`` asks the
        target registered under that name."""
        if not ref.startswith("@"):
            self._check_node(ref)
            return ref
        fn = self._targets.get(ref[1:])
        if fn is None:
            known = ", ".join("@" + n for n in sorted(self._targets)) or "none"
            raise KeyError(f"no target {ref!r} in this simulation (grader bug); known: {known}")
        node = fn(self)
        if node is not None:
            self._check_node(node)
        return node

    def note_fault(self, text: str) -> None:
        """Add a line to the trace among the faults (what a target resolved to, a trigger)."""
        self._fault(text)

    def run_until(self, t_end: float) -> None:
        """Process every event up to and including virtual time ``t_end``."""
        if t_end > self.max_time:
            self._run(self.max_time)
            raise BudgetExceeded(
                f"the scenario asked to run until t={t_end:.3f}s, past this run's budget of "
                f"{self.max_time:.1f} virtual seconds")
        self._run(t_end)

    def run_for(self, duration: float) -> None:
        self.run_until(self.now + duration)

    def run_until_done(self, *ops: Operation, limit: float | None = None) -> None:
        """Run until every operation in ``ops`` has completed (ok, fail or unknown)."""
        deadline = self.max_time if limit is None else min(self.max_time, self.now + limit)
        while any(not op.done for op in ops):
            if not self._heap or self._heap[0][0] > deadline:
                pending = ", ".join(f"op#{op.id}" for op in ops if not op.done)
                raise BudgetExceeded(f"{pending} still pending at t={self.now:.3f}s")
            self._run(self._heap[0][0], single=True)

    def run_while(self, condition: Callable[[], bool], limit: float) -> bool:
        """Run while ``condition()`` holds, for at most ``limit`` virtual seconds.

        Returns True if the condition became false, False if time ran out first."""
        deadline = min(self.now + limit, self.max_time)
        while condition():
            if not self._heap or self._heap[0][0] > deadline:
                self._run(deadline)
                return not condition()
            self._run(self._heap[0][0], single=True)
        return True

    # ----- clients -------------------------------------------------------------------------------

    def request(self, node_id: str, body: dict, *, timeout: float | None = None,
                client: str = "client") -> Operation:
        """Invoke a client operation on ``node_id`` now; returns its (pending) ``Operation``.

        The client sits next to the node (no network in between). Without a reply within
        ``timeout`` seconds (default ``client_timeout``) the operation ends ``unknown``."""
        self._check_node(node_id)
        if not isinstance(body, dict):
            raise TypeError(f"a request body is a dict, got {body!r}")
        timeout = self.client_timeout if timeout is None else timeout
        op = Operation(id=len(self.history) + 1, client=client, node=node_id,
                       input=_loads(to_json(body, "the request body")), call=self.now,
                       timeout=timeout)
        self.history.append(op)
        self._ops[op.id] = op
        self._push(self.now, REQUEST, node_id, op, None, None)
        self._push(self.now + timeout, TIMEOUT, node_id, op, None, None)
        return op

    def call(self, node_id: str, body: dict, *, timeout: float | None = None,
             client: str = "client") -> Operation:
        """``request`` then run until it completes; returns the finished ``Operation``."""
        op = self.request(node_id, body, timeout=timeout, client=client)
        self.run_until_done(op)
        return op

    # ----- faults --------------------------------------------------------------------------------

    def crash(self, node_id: str) -> None:
        """Stop ``node_id``: its object, timers and held events are gone; storage stays."""
        self._check_node(node_id)
        self._crash(node_id)
        self._observe_direct()

    def _crash(self, node_id: str) -> None:
        if self._nodes[node_id] is None:
            return
        self._nodes[node_id] = None
        self._timers[node_id] = {}
        self._held[node_id] = None
        self._trace_add((self.now, "crash", node_id, "", "", None))

    def restart(self, node_id: str) -> None:
        """Boot a fresh object for ``node_id`` over its storage (a running node reboots)."""
        self._check_node(node_id)
        self._crash(node_id)
        self._boot(node_id, kind="restart")
        self._observe_direct()

    def pause(self, node_id: str) -> None:
        """Freeze ``node_id``: messages and timers are held until ``resume``."""
        self._check_node(node_id)
        if self._nodes[node_id] is None or self._held[node_id] is not None:
            return
        self._held[node_id] = []
        self._trace_add((self.now, "pause", node_id, "", "", None))
        self._observe_direct()

    def resume(self, node_id: str) -> None:
        self._check_node(node_id)
        held = self._held[node_id]
        if held is None:
            return
        self._held[node_id] = None
        self._trace_add((self.now, "resume", node_id, "", f"{len(held)} held events", None))
        for ev in held:
            self._push(self.now, ev[2], ev[3], ev[4], ev[5], ev[6])
        self._observe_direct()

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the network into ``groups``; nodes not named form one more group.

        Links inside a group work; links between groups are cut both ways. Replaces any
        earlier partition or cut."""
        sets = [tuple(g) for g in groups]
        named = [n for g in sets for n in g]
        for n in named:
            self._check_node(n)
        rest = tuple(n for n in self.node_ids if n not in named)
        if rest:
            sets.append(rest)
        side = {n: i for i, g in enumerate(sets) for n in g}
        self._blocked = {(a, b) for a in self.node_ids for b in self.node_ids
                         if side[a] != side[b]}
        self._fault("partition " + " | ".join(",".join(g) for g in sets))

    def isolate(self, node_id: str) -> None:
        """Cut every link to and from ``node_id`` (others keep their links)."""
        self._check_node(node_id)
        for other in self.node_ids:
            if other != node_id:
                self._blocked.add((node_id, other))
                self._blocked.add((other, node_id))
        self._fault(f"isolate {node_id}")

    def cut(self, src: str, dst: str, *, both_ways: bool = False) -> None:
        """Cut the link ``src -> dst`` (and ``dst -> src`` if ``both_ways``)."""
        self._check_node(src), self._check_node(dst)
        self._blocked.add((src, dst))
        if both_ways:
            self._blocked.add((dst, src))
        self._fault(f"cut {src}{'<' if both_ways else ''}->{dst}")

    def connect(self, a: str, b: str) -> None:
        """Restore the links between ``a`` and ``b`` both ways (e.g. to make a bridge)."""
        self._check_node(a), self._check_node(b)
        self._blocked.discard((a, b))
        self._blocked.discard((b, a))
        self._fault(f"connect {a}<->{b}")

    def heal(self) -> None:
        """Restore every link."""
        self._blocked = set()
        self._fault("heal")

    def set_network(self, **changes: float) -> None:
        """Change the network's behaviour from now on, e.g. ``set_network(loss=0.2)``."""
        self.network = replace(self.network, **changes)
        self._fault("network " + " ".join(f"{k}={v}" for k, v in sorted(changes.items())))

    # ----- internals -----------------------------------------------------------------------------

    def _observe_direct(self) -> None:
        """Run the observers after a node fault applied directly by scenario code (inside a
        run, the event loop runs them after the scheduled action instead)."""
        if not self._running:
            if self._subscribers:
                self._feed()
            for fn in self._observers:
                fn(self)

    def _fault(self, text: str) -> None:
        self._trace_add((self.now, "fault", "", "", text, None))

    def _check_node(self, node_id: str) -> None:
        if node_id not in self._node_set:
            raise KeyError(f"no node {node_id!r}; nodes are {', '.join(self.node_ids)}")

    def _push(self, time: float, kind: int, node: str, a: Any, b: Any, c: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, kind, node, a, b, c))

    def _boot(self, node_id: str, kind: str = "start") -> None:
        if self._nodes[node_id] is not None:
            return
        inc = self.incarnation[node_id] = self.incarnation[node_id] + 1
        rng = random.Random(f"{self.seed}/{node_id}/{inc}")
        peers = tuple(p for p in self.node_ids if p != node_id)
        cls = (self.node_class[node_id] if isinstance(self.node_class, Mapping)
               else self.node_class)
        obj = self._invoke(node_id, "construction", cls, node_id, peers, self._rt,
                           self.storage[node_id], rng)
        self._nodes[node_id] = obj
        self._trace_add((self.now, kind, node_id, "", f"incarnation {inc}", None))
        try:
            self._invoke(node_id, "on_start", obj.on_start)
        except CrashNow as stop:   # a trigger fault fired inside on_start
            self._crash(stop.node)

    def _invoke(self, node_id: str, what: Any, fn: Callable, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # student code: contain it and say where it came from
            raise student_error(exc, node_id, what, self.now) from exc

    def _run(self, t_end: float, single: bool = False) -> None:
        outer, self._running = self._running, True
        try:
            while True:
                try:
                    self._loop(t_end, single)
                    break
                except CrashNow as stop:   # a trigger fault stopped a node inside a handler
                    self._crash(stop.node)
                    if self._subscribers:
                        self._feed()
                    for fn in self._observers:
                        fn(self)
                    if single:
                        break
        finally:
            self._running = outer

    def _loop(self, t_end: float, single: bool) -> None:
        heap = self._heap
        pop = heapq.heappop
        nodes = self._nodes
        held = self._held
        add = self._trace_add
        observers = self._observers
        subscribers = self._subscribers
        max_events = self.max_events
        while heap and heap[0][0] <= t_end:
            ev = pop(heap)
            self.now = now = ev[0]
            self.events += 1
            if self.events > max_events:
                raise BudgetExceeded(self._storm_message())
            kind = ev[2]
            node = ev[3]
            if kind == DELIVER:
                src, data, mid = ev[4], ev[5], ev[6]
                obj = nodes[node]
                if obj is None:
                    self.dropped += 1
                    add((now, "drop", node, src, "destination down", mid))
                elif held[node] is not None:
                    held[node].append(ev)
                elif (src, node) in self._blocked:
                    self.dropped += 1
                    add((now, "drop", node, src, "link cut", mid))
                else:
                    self.delivered += 1
                    add((now, "deliver", node, src, data, mid))
                    try:
                        obj.on_message(src, _loads(data))
                    except Exception as exc:
                        raise student_error(exc, node, ("message", src, data), now) from exc
            elif kind == TIMER:
                name, token = ev[4], ev[5]
                timers = self._timers[node]
                if timers.get(name) != token:
                    pass  # cancelled, re-armed, or the node crashed since
                elif held[node] is not None:
                    held[node].append(ev)
                else:
                    del timers[name]
                    data = {} if ev[6] is None else _loads(ev[6])
                    add((now, "timer", node, "", name, None))
                    try:
                        nodes[node].on_timer(name, data)
                    except Exception as exc:
                        raise student_error(exc, node, ("timer", name), now) from exc
            elif kind == REQUEST:
                op = ev[4]
                obj = nodes[node]
                if obj is None:
                    add((now, "drop", node, "", f"request {op.input} (node down)", op.id))
                elif held[node] is not None:
                    held[node].append(ev)
                else:
                    add((now, "request", node, op.client, _dumps(op.input), op.id))
                    req = Request(op.id, op.client, _loads(_dumps(op.input)))
                    try:
                        obj.on_request(req)
                    except Exception as exc:
                        raise student_error(exc, node, ("request", op.input), now) from exc
            elif kind == TIMEOUT:
                op = ev[4]
                if op.status == PENDING:
                    op.status = UNKNOWN
                    add((now, "timeout", node, op.client, _dumps(op.input), op.id))
                    self._complete(op)
            else:  # CALL
                ev[4]()
            if subscribers:
                self._feed()
            if observers:
                for fn in observers:
                    fn(self)
            if single:
                break
        if not single and t_end > self.now:
            self.now = t_end

    def _complete(self, op: Operation) -> None:
        callbacks, op.callbacks = op.callbacks, []
        for fn in callbacks:
            fn(op)

    def _storm_message(self) -> str:
        top = sorted(self.sent_by_type.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        busiest = ", ".join(f"{t}: {n:,}" for t, n in top) or "no messages"
        return (f"the run used its budget of {self.max_events:,} events by t={self.now:.3f}s "
                f"without finishing: a message storm or a livelock (for example a timer re-armed "
                f"with delay 0, or a reply to every message). Messages sent by type: {busiest}")

    def _send(self, src: str, dst: str, msg: dict) -> None:
        if dst not in self._node_set:
            raise ContractError(f"{src} sent to {dst!r}, which is not a node; nodes are "
                                f"{', '.join(self.node_ids)}")
        if type(msg) is not dict:
            raise ContractError(f"{src} sent {msg!r} to {dst}: a message must be a dict")
        try:
            data = _dumps(msg)
        except (TypeError, ValueError, RecursionError):
            data = to_json(msg, f"the message {src} sent to {dst}")  # raises with the field
        self.sent += 1
        mtype = msg.get("type")
        mtype = mtype if isinstance(mtype, str) else "?"
        self.sent_by_type[mtype] = self.sent_by_type.get(mtype, 0) + 1
        mid = self.sent
        now = self.now
        self._trace_add((now, "send", src, dst, data, mid))
        if (src, dst) in self._blocked:
            self.dropped += 1
            self._trace_add((now, "drop", dst, src, "link cut", mid))
            return
        net = self.network
        rng = self._net_rng
        if net.loss and rng.random() < net.loss:
            self.dropped += 1
            self._trace_add((now, "drop", dst, src, "lost", mid))
            return
        copies = 2 if net.duplicate and rng.random() < net.duplicate else 1
        if copies == 2:
            self.duplicated += 1
        for _ in range(copies):
            delay = rng.uniform(net.min_latency, net.max_latency)
            if net.long_delay and rng.random() < net.long_delay:
                delay += rng.uniform(0.0, net.long_delay_max)
            self._seq += 1
            heapq.heappush(self._heap, (now + delay, self._seq, DELIVER, dst, src, data, mid))

    def _reply(self, src: str, request: Request, body: dict) -> None:
        op = self._ops.get(getattr(request, "id", None))
        if op is None or not isinstance(request, Request):
            raise ContractError(f"{src} replied to {request!r}, which is not a client request")
        if type(body) is not dict:
            raise ContractError(f"{src} replied {body!r} to op#{op.id}: a reply must be a dict")
        if op.id in self._replied:
            raise ContractError(f"{src} replied twice to op#{op.id} {op.input}; "
                                f"answer each request exactly once")
        data = to_json(body, f"the reply of {src} to op#{op.id}")
        self._replied.add(op.id)
        if op.status != PENDING:
            self._trace_add((self.now, "reply", src, op.client, "(late, ignored) " + data, op.id))
            return
        op.output = _loads(data)
        op.status = FAIL if "error" in op.output else OK
        op.ret = self.now
        self._trace_add((self.now, "reply", src, op.client, data, op.id))
        self._complete(op)

    def _set_timer(self, src: str, name: str, delay: float, data: dict) -> None:
        if not isinstance(name, str):
            raise ContractError(f"{src}: timer names are strings, got {name!r}")
        if not isinstance(delay, (int, float)) or delay != delay or delay < 0:
            raise ContractError(f"{src}: timer {name!r} needs a delay >= 0 seconds, got {delay!r}")
        self._seq += 1
        self._timers[src][name] = self._seq
        payload = to_json(data, f"the data of timer {name!r} of {src}") if data else None
        heapq.heappush(self._heap, (self.now + delay, self._seq, TIMER, src, name, self._seq,
                                    payload))

    def _cancel_timer(self, src: str, name: str) -> None:
        self._timers[src].pop(name, None)

    def _apply(self, src: str, index: int, command: Any) -> None:
        data = to_json(command, f"the command {src} applied at index {index}")
        self._trace_add((self.now, "apply", src, "", f"{index} {data}", index))
        for fn in self._apply_listeners:
            fn(src, index, _loads(data))


class CrashNow(BaseException):
    """Raised by a trigger fault (``labkit.faults.CrashAfter``, ``CrashAtWrite``) from inside a
    node's runtime call: the rest of the handler does not run and the node crashes. A
    BaseException, so a student's ``except Exception`` does not swallow it."""

    def __init__(self, node: str) -> None:
        super().__init__(node)
        self.node = node


class _Runtime:
    """What a ``Node`` calls: the narrow boundary between student code and the simulator."""

    __slots__ = ("_sim", "send", "reply", "set_timer", "cancel_timer", "apply")

    def __init__(self, sim: Simulation):
        self._sim = sim
        self.send = sim._send
        self.reply = sim._reply
        self.set_timer = sim._set_timer
        self.cancel_timer = sim._cancel_timer
        self.apply = sim._apply

    @property
    def now(self) -> float:
        return self._sim.now

    def log(self, src: str, text: str) -> None:
        self._sim._trace_add((self._sim.now, "log", src, "", text, None))


# ----- locating student code in a traceback ------------------------------------------------------

_LABKIT_DIR = str(Path(__file__).resolve().parent)
_SYSTEM_DIRS = tuple({str(Path(p).resolve()) for p in (sysconfig.get_paths()["stdlib"],
                                                        sysconfig.get_paths()["purelib"],
                                                        sysconfig.get_paths()["platlib"])})


def is_student_file(filename: str) -> bool:
    """True for files that are neither labkit's nor Python's own (stdlib, site-packages)."""
    if filename.startswith("<"):
        return False
    path = str(Path(filename).resolve())
    return not path.startswith(_LABKIT_DIR) and not path.startswith(_SYSTEM_DIRS)


def display_path(filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename


def describe_event(what: Any) -> str:
    if isinstance(what, tuple):
        if what[0] == "message":
            return f"a message from {what[1]}: {what[2][:200]}"
        if what[0] == "timer":
            return f"timer {what[1]!r}"
        if what[0] == "request":
            return f"client request {json.dumps(what[1])[:200]}"
    return str(what)


def student_error(exc: BaseException, node: str, what: Any, time: float) -> StudentCodeError:
    """Wrap an exception raised in a handler, pointing at the innermost student frame."""
    if isinstance(exc, (StudentCodeError, PropertyViolation, BudgetExceeded)):
        return exc  # already attributed (e.g. nested), or a checker's verdict
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if is_student_file(f.filename)]
    where = ""
    lines = []
    for f in frames:
        lines.append(f'  File "{display_path(f.filename)}", line {f.lineno}, in {f.name}\n'
                     f"    {(f.line or '').strip()}")
    if frames:
        last = frames[-1]
        where = f"{display_path(last.filename)}:{last.lineno}"
    name = type(exc).__name__
    text = str(exc)
    if isinstance(exc, NotImplementedError):
        head = f"not implemented yet: {text or 'a handler'} (called on {node} for {describe_event(what)})"
    elif isinstance(exc, ContractError):
        head = f"{node} broke the node contract while handling {describe_event(what)} at t={time:.3f}s: {text}"
    else:
        head = f"{node} raised {name}: {text} while handling {describe_event(what)} at t={time:.3f}s"
    tb = "\n".join(lines)
    message = head + (f"\n  at {where}" if where else "") + (f"\n{tb}" if tb else "")
    return StudentCodeError(message, node=node, event=describe_event(what), time=time, where=where,
                            cause=exc, student_traceback=tb)


__all__ = ["Simulation", "NetworkConfig", "node_names", "student_error", "is_student_file",
           "OK", "FAIL", "UNKNOWN", "PENDING"]
