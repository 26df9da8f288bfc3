"""The deterministic simulator: virtual time, one seed, every fault on demand.

One thread runs a heap of ``(time, seq, handler, kind, fields)`` entries: ``kind`` is one of
the record classes below (a message copy on its way, a timer, a client request, a client's
deadline, a scenario step), ``fields`` a plain tuple laid out as that class says, and
``handler`` the ``Simulation`` method for the kind. All randomness comes from
``random.Random`` objects derived from the run's seed (one for the network, one per node and
incarnation), so the same seed and the same code give the same trace, byte for byte.

    sim = Simulation(KVNode, 3, seed=7)          # nodes n1, n2, n3, booted at t=0
    op = sim.request("n1", {"op": "set", "key": "x", "value": "1"})
    sim.partition(["n1", "n2"], ["n3"])
    sim.run_for(2.0)
    sim.heal()
    sim.run_until_done(op)

The network (``labkit.network``) delivers each message after a latency drawn from
``NetworkConfig`` and may lose, duplicate or hold it back (reordering). A message is dropped if
its link is cut when it is sent or when it would arrive, or if the destination is down when it
arrives. A crashed node loses its object, its timers and its in-flight work; ``storage``
survives. A paused node is frozen: its messages, requests and timers are held (``_hold``, the
one place that does it) and handed over, in order, when it resumes.

Every step emits ``Event`` records (``labkit.events``) into ``trace``. Subscribers
(``subscribe``) get each event after its step; observers (``observe``, ``check_always``) run
after every step, so a safety property is checked at every step, not sampled. Budgets
(``max_events``, ``max_time``) turn a livelock or a message storm into a ``BudgetExceeded``
error with a sentence, never a hang. The node contract (what a send, a reply, a timer, an
apply must be) is ``labkit.contract``; who is to blame for an exception is ``labkit.blame``.
"""

from __future__ import annotations

import gc
import heapq
import random
from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from . import contract
from .blame import describe_event, display_path, is_student_file, student_error
from .errors import BudgetExceeded, PropertyViolation
from .events import HANDLED, Event
from .history import FAIL, OK, PENDING, UNKNOWN, Operation
from .jsoncopy import dumps as _dumps
from .jsoncopy import loads as _loads
from .jsoncopy import scan as _scan
from .network import Links, NetworkConfig
from .node import Node, Request
from .storage import Storage, to_json
from .trace import Trace

_new = tuple.__new__     # an Event without NamedTuple's Python-level __new__ (hot path)
_push = heapq.heappush

#: While a run is in the loop, the collector's first generation holds this many objects
#: (Python's default, 700, spends about a quarter of a busy run collecting every few messages;
#: 100,000 still cost the no-op bench about a tenth of its time; the cycles a run makes are
#: few, so garbage waits little). Restored when the run returns. Changes no trace.
_GC_YOUNG = 1_000_000


def node_names(n: int) -> tuple[str, ...]:
    """``node_names(3) == ("n1", "n2", "n3")``."""
    return tuple(f"n{i}" for i in range(1, n + 1))


# ----- what waits in the heap: one record class per kind, fields that never change meaning ---
# A heap entry carries its fields as a plain tuple, the class beside them: a NamedTuple costs
# about three times as much as a tuple to build and to unpack, and the hot path does both for
# every message. The loop makes the record (``kind._make(fields)``) only to hold or blame an
# entry. Every kind's first field is its node.

class _Delivery(NamedTuple):
    """A copy of a message on its way from ``src`` to ``node`` (duplicates share one)."""
    node: str
    src: str
    data: str
    mid: int

    def waits(self, sim: "Simulation") -> bool:
        return True

    def handling(self) -> Any:
        return ("message", self.src, self.data)


class _Firing(NamedTuple):
    """Timer ``name`` of ``node``; stale unless ``token`` is still the one armed."""
    node: str
    name: str
    token: int
    data: str | None

    def waits(self, sim: "Simulation") -> bool:
        return sim._timers[self.node].get(self.name) == self.token  # a stale one is not held

    def handling(self) -> Any:
        return ("timer", self.name)


class _Arrival(NamedTuple):
    """Client operation ``op`` reaching its node; ``text`` is its input as JSON."""
    node: str
    op: Operation
    text: str

    def waits(self, sim: "Simulation") -> bool:
        return True

    def handling(self) -> Any:
        return ("request", self.op.input)


class _Deadline(NamedTuple):
    """The client of ``op`` gives up (if it is still pending). Not held by a pause."""
    node: str
    op: Operation
    text: str

    def waits(self, sim: "Simulation") -> bool:
        return False

    def handling(self) -> Any:
        return None  # the grader's callbacks run here: not student code


class _Step(NamedTuple):
    """Scenario code (a fault, a client, a check) at its time. Not held by a pause."""
    node: str    # always "": no node's
    fn: Callable[[], Any]

    def waits(self, sim: "Simulation") -> bool:
        return False

    def handling(self) -> Any:
        return None


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
        self.links = Links(self.node_ids)

        self._node_set = frozenset(self.node_ids)
        self._nodes: dict[str, Node | None] = {n: None for n in self.node_ids}
        self._paused: dict[str, list] = {}    # paused node -> its held heap entries, in order
        self._timers: dict[str, dict[str, int]] = {n: {} for n in self.node_ids}
        self._cut = self.links.cut            # the same set, changed in place
        self._heap: list[tuple] = []
        self._seq = 0
        self._net_rng = random.Random(f"{seed}/network")
        self._ops: dict[int, Operation] = {}
        self._inputs: dict[int, dict] = {}    # op id -> its input (labkit.contract.reply)
        self._replied: set[int] = set()
        self._observers: list[Callable[["Simulation"], None]] = []
        self._subscribers: list[Callable[["Simulation", Event], None]] = []
        self._fed = 0  # trace records already handed to the subscribers
        self._apply_listeners: list[Callable[[str, int, Any], None]] = []
        self._targets: dict[str, Callable[["Simulation"], str | None]] = {}  # see add_target
        self._emit = self.trace.add            # plain tuples: Events when read (labkit.trace)
        self._on_delivery = self._deliver     # bound once: one per message otherwise
        self._on_firing = self._fire
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
        return node_id in self._paused

    def can_reach(self, src: str, dst: str) -> bool:
        """True if the link ``src -> dst`` is not cut (regardless of node state)."""
        return (src, dst) not in self._cut

    # ----- scheduling and running ----------------------------------------------------------------

    def at(self, time: float, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` (a scenario step or a fault) at virtual time ``time``."""
        self._schedule(max(time, self.now), self._step, _Step, ("", fn))

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
        ``PropertyViolation``. Events of faults applied directly by scenario code, outside a
        run, are handed over at once."""
        waiting = len(self.trace) - self._fed
        if not self._subscribers:
            self._fed += waiting
        elif waiting:   # the others have yet to see these: this one must not
            fn = _Late(fn, waiting)
        self._subscribers.append(fn)

    def _feed(self) -> None:
        """Hand the events emitted since the last feed to every subscriber (a subscriber may
        emit more: they are handed over in the same feed). Each becomes its ``Event`` here,
        in the trace (``Trace.entries``: the loop adds plain tuples)."""
        entries = self.trace.entries
        subscribers = self._subscribers
        while self._fed < len(entries):
            i = self._fed
            ev = entries[i]
            if type(ev) is not Event:
                ev = entries[i] = _new(Event, ev)
            self._fed = i + 1
            for fn in subscribers:
                fn(self, ev)

    def check_always(self, prop: str, check: Callable[["Simulation"], str | None]) -> None:
        """After every event, ``check(sim)`` returns None or the evidence of a violation."""
        def observer(sim: "Simulation") -> None:
            evidence = check(sim)
            if evidence:
                raise PropertyViolation(prop, evidence, time=sim.now)
        self.observe(observer)

    def track_state(self, describe: Callable[[Node], str | None]) -> None:
        """Record a ``state`` event whenever ``describe(node)`` changes (e.g. a Raft node's
        "leader 3"); the trace viewer colours each lane by the first word.

        ``describe`` runs only for the node of an event after which its state may have changed
        (``labkit.events.HANDLED``: it ran a handler or booted), so it costs one call per
        handler, not one per node per event. A crash forgets the node's last state."""
        last: dict[str, str | None] = {}

        def changed(sim: "Simulation", ev: Event) -> None:
            kind = ev.kind
            if kind in HANDLED:
                obj = sim._nodes.get(ev.node)
                text = None if obj is None else describe(obj)
                if text != last.get(ev.node):
                    last[ev.node] = text
                    if text is not None:
                        sim._record("state", ev.node, "", text, None)
            elif kind == "crash":
                last[ev.node] = None
        self.subscribe(changed)

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

    def note(self, node: str, text: str) -> None:
        """Add a ``log`` line for ``node`` to the trace now: a call a grader makes into a node
        outside its handlers (the node's own ``log`` lines look the same)."""
        self._record("log", node, "", text, None)

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
        self._inputs[op.id] = op.input
        text = _dumps(op.input)
        self._schedule(self.now, self._arrive, _Arrival, (node_id, op, text))
        self._schedule(self.now + timeout, self._time_out, _Deadline, (node_id, op, text))
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
        self._paused.pop(node_id, None)
        self._record("crash", node_id, "", "", None)

    def restart(self, node_id: str) -> None:
        """Boot a fresh object for ``node_id`` over its storage (a running node reboots)."""
        self._check_node(node_id)
        self._crash(node_id)
        self._boot(node_id, kind="restart")
        self._observe_direct()

    def pause(self, node_id: str) -> None:
        """Freeze ``node_id``: messages, requests and timers are held until ``resume``."""
        self._check_node(node_id)
        if self._nodes[node_id] is None or node_id in self._paused:
            return
        self._paused[node_id] = []
        self._record("pause", node_id, "", "", None)
        self._observe_direct()

    def resume(self, node_id: str) -> None:
        self._check_node(node_id)
        held = self._paused.pop(node_id, None)
        if held is None:
            return
        self._record("resume", node_id, "", f"{len(held)} held events", None)
        for handler, kind, fields in held:
            self._schedule(self.now, handler, kind, fields)
        self._observe_direct()

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the network into ``groups``; nodes not named form one more group.

        Links inside a group work; links between groups are cut both ways. Replaces any
        earlier partition or cut."""
        groups = tuple(tuple(g) for g in groups)
        for g in groups:
            for n in g:
                self._check_node(n)
        sets = self.links.partition(groups)
        self._fault("partition " + " | ".join(",".join(g) for g in sets))

    def isolate(self, node_id: str) -> None:
        """Cut every link to and from ``node_id`` (others keep their links)."""
        self._check_node(node_id)
        self.links.isolate(node_id)
        self._fault(f"isolate {node_id}")

    def cut(self, src: str, dst: str, *, both_ways: bool = False) -> None:
        """Cut the link ``src -> dst`` (and ``dst -> src`` if ``both_ways``)."""
        self._check_node(src), self._check_node(dst)
        self.links.cut_link(src, dst, both_ways)
        self._fault(f"cut {src}{'<' if both_ways else ''}->{dst}")

    def connect(self, a: str, b: str) -> None:
        """Restore the links between ``a`` and ``b`` both ways (e.g. to make a bridge)."""
        self._check_node(a), self._check_node(b)
        self.links.connect(a, b)
        self._fault(f"connect {a}<->{b}")

    def heal(self) -> None:
        """Restore every link."""
        self.links.heal()
        self._fault("heal")

    def set_network(self, **changes: float) -> None:
        """Change the network's behaviour from now on, e.g. ``set_network(loss=0.2)``."""
        self.network = replace(self.network, **changes)
        self._fault("network " + " ".join(f"{k}={v}" for k, v in sorted(changes.items())))

    # ----- internals -----------------------------------------------------------------------------

    def _record(self, kind: str, node: str, peer: str, detail: str, ref: Any) -> None:
        self._emit((self.now, kind, node, peer, detail, ref))

    def _observe_direct(self) -> None:
        """Run the subscribers and observers after a node fault applied directly by scenario
        code (inside a run, the event loop runs them after the scheduled step instead)."""
        if not self._running:
            if self._subscribers:
                self._feed()
            for fn in self._observers:
                fn(self)

    def _fault(self, text: str) -> None:
        self._record("fault", "", "", text, None)
        if self._subscribers and not self._running:
            self._feed()   # a network fault applied directly (observers: node state is as it was)

    def _check_node(self, node_id: str) -> None:
        if node_id not in self._node_set:
            raise KeyError(f"no node {node_id!r}; nodes are {', '.join(self.node_ids)}")

    def _schedule(self, time: float, handler: Callable[[tuple], None], kind: type,
                  fields: tuple) -> None:
        self._seq += 1
        _push(self._heap, (time, self._seq, handler, kind, fields))

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
        self._record(kind, node_id, "", f"incarnation {inc}", None)
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
        threshold = gc.get_threshold()
        if threshold[0] and threshold[0] < _GC_YOUNG:   # gc on, with a small first generation
            gc.set_threshold(_GC_YOUNG, *threshold[1:])
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
            if threshold[0]:
                gc.set_threshold(*threshold)

    def _loop(self, t_end: float, single: bool) -> None:
        """Pop each entry due by ``t_end``, hold it or run its handler, then feed the
        subscribers and run the observers. An exception from a handler that ran student code
        becomes a ``StudentCodeError`` naming the node, the event and the student's line."""
        heap = self._heap
        pop = heapq.heappop
        paused = self._paused
        observers = self._observers
        subscribers = self._subscribers
        max_events = self.max_events
        while heap and heap[0][0] <= t_end:
            now, _, handler, kind, fields = pop(heap)
            self.now = now
            self.events += 1
            if self.events > max_events:
                raise BudgetExceeded(self._storm_message())
            if paused and fields[0] in paused and kind._make(fields).waits(self):
                paused[fields[0]].append((handler, kind, fields))   # _hold: the one place
            else:
                try:
                    handler(fields)
                except Exception as exc:
                    what = kind._make(fields).handling()
                    if what is None:
                        raise   # scenario code or a grader's callback: not the student's
                    raise student_error(exc, fields[0], what, now) from exc
            if subscribers:
                self._feed()
            if observers:
                for fn in observers:
                    fn(self)
            if single:
                break
        if not single and t_end > self.now:
            self.now = t_end

    # ----- one handler per kind of heap record: each gets the record's fields ------------------

    def _deliver(self, fields: tuple) -> None:
        node, src, data, mid = fields   # a _Delivery
        obj = self._nodes[node]
        if obj is None:
            self.dropped += 1
            self._record("drop", node, src, "destination down", mid)
        elif self._cut and (src, node) in self._cut:   # (no pair to build while all is well)
            self.dropped += 1
            self._record("drop", node, src, "link cut", mid)
        else:
            self.delivered += 1
            self._emit((self.now, "deliver", node, src, data, mid))
            obj.on_message(src, _scan(data, 0)[0])

    def _fire(self, fields: tuple) -> None:
        node, name, token, data = fields   # a _Firing
        timers = self._timers[node]
        if timers.get(name) != token:
            return  # cancelled, re-armed, or the node crashed since
        del timers[name]
        data = {} if data is None else _scan(data, 0)[0]
        self._emit((self.now, "timer", node, "", name, None))
        self._nodes[node].on_timer(name, data)

    def _arrive(self, fields: tuple) -> None:
        node, op, text = fields   # an _Arrival
        obj = self._nodes[node]
        if obj is None:
            self._record("drop", node, "", f"request {op.input} (node down)", op.id)
            return
        self._emit((self.now, "request", node, op.client, text, op.id))
        obj.on_request(Request(op.id, op.client, _scan(text, 0)[0]))

    def _time_out(self, fields: tuple) -> None:
        node, op, text = fields   # a _Deadline
        if op.status == PENDING:
            op.status = UNKNOWN
            self._record("timeout", node, op.client, text, op.id)
            self._complete(op)

    def _step(self, fields: tuple) -> None:
        fields[1]()   # a _Step's fn

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

    # ----- what nodes ask for (through _Runtime), checked by labkit.contract --------------------

    def _send(self, src: str, dst: str, msg: dict) -> None:
        data = contract.send(src, dst, msg, self.node_ids)
        self.sent += 1
        mtype = msg.get("type")
        mtype = mtype if isinstance(mtype, str) else "?"
        by_type = self.sent_by_type
        by_type[mtype] = by_type.get(mtype, 0) + 1
        mid = self.sent
        now = self.now
        emit = self._emit
        emit((now, "send", src, dst, data, mid))
        if self._cut and (src, dst) in self._cut:
            self.dropped += 1
            emit((now, "drop", dst, src, "link cut", mid))
            return
        net = self.network
        if net.plain:   # one copy after one draw: NetworkConfig.delays' common case, inlined
            delay = self._net_rng.uniform(net.min_latency, net.max_latency)
            self._seq += 1
            _push(self._heap, (now + delay, self._seq, self._on_delivery, _Delivery,
                               (dst, src, data, mid)))
            return
        delays = net.delays(self._net_rng)
        if not delays:
            self.dropped += 1
            emit((now, "drop", dst, src, "lost", mid))
            return
        if len(delays) == 2:
            self.duplicated += 1
        copy = (dst, src, data, mid)
        heap, deliver = self._heap, self._on_delivery
        for delay in delays:
            self._seq += 1
            _push(heap, (now + delay, self._seq, deliver, _Delivery, copy))

    def _reply(self, src: str, request: Request, body: dict) -> None:
        data = contract.reply(src, request, body, self._inputs, self._replied)
        op = self._ops[request.id]
        self._replied.add(op.id)
        if op.status != PENDING:
            self._record("reply", src, op.client, "(late, ignored) " + data, op.id)
            return
        op.output = _loads(data)
        op.status = FAIL if "error" in op.output else OK
        op.ret = self.now
        self._record("reply", src, op.client, data, op.id)
        self._complete(op)

    def _set_timer(self, src: str, name: str, delay: float, data: dict) -> None:
        payload = contract.timer(src, name, delay, data)
        self._seq += 1
        token = self._timers[src][name] = self._seq
        _push(self._heap, (self.now + delay, token, self._on_firing, _Firing,
                           (src, name, token, payload)))

    def _cancel_timer(self, src: str, name: str) -> None:
        self._timers[src].pop(name, None)

    def _apply(self, src: str, index: int, command: Any) -> None:
        data = contract.apply(src, index, command)
        self._record("apply", src, "", f"{index} {data}", index)
        for fn in self._apply_listeners:
            fn(src, index, _loads(data))


class _Late:
    """A subscriber that came while others had events still to see: skips those ``skip``
    events, then puts the subscriber itself in its place."""

    __slots__ = ("fn", "skip")

    def __init__(self, fn: Callable[[Simulation, Event], None], skip: int):
        self.fn, self.skip = fn, skip

    def __call__(self, sim: Simulation, ev: Event) -> None:
        self.skip -= 1
        if not self.skip:
            subscribers = sim._subscribers
            subscribers[subscribers.index(self)] = self.fn


class CrashNow(BaseException):
    """Raised by a trigger fault (``labkit.faults.CrashAfter``, ``CrashAtWrite``) from inside a
    node's runtime call: the rest of the handler does not run and the node crashes. A
    BaseException, so a student's ``except Exception`` does not swallow it."""

    def __init__(self, node: str) -> None:
        super().__init__(node)
        self.node = node


class _Runtime:
    """What a ``Node`` calls: the narrow boundary between student code and the simulator.
    (``labkit.faults`` swaps ``send``, ``reply`` and ``apply`` while a trigger is armed.)"""

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
        self._sim._record("log", src, "", text, None)


__all__ = ["Simulation", "NetworkConfig", "node_names", "student_error", "is_student_file",
           "display_path", "describe_event", "CrashNow", "OK", "FAIL", "UNKNOWN", "PENDING"]
