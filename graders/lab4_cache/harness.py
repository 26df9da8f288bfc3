"""What the Lab 4 graders share: the clusters, the client calls, the contract's numbers, a
closed-loop workload, and the checks (replica versions, convergence, linearizability).

Every number here is a promise the handout makes (``assignments/lab4-cache.md``)."""

from __future__ import annotations

import random
from typing import Callable, Iterable, Sequence

from labkit import Operation, PropertyViolation, Simulation
from labkit.events import DELIVER, Event
from labkit.grading import require
from labkit.grading.kit import closed_loop, describe_op, require_linearizable
from labkit.history import FAIL, OK
from labkit.linearizability import UNKNOWN, Op, check, kv_model
from labkit.strategies import GRADING_PHASES

from .invariants import StrongWrites

CACHE_NODES = ("c1", "c2", "c3", "c4", "c5", "c6")
LB = "lb"
N = 3                        # home replicas per key
VNODES = 64                  # virtual nodes per cache node on the cluster's ring
STRONG_TIMEOUT = 0.5         # a strong operation is answered (ok or error) within this time
EVENTUAL_WRITE_DEADLINE = 0.1  # an eventual write is acknowledged this fast by a running node
HANDOFF_DEADLINE = 0.5       # a copy for a silent home replica is at a fallback this long after
DELIVERY_DEADLINE = 0.5      # a hint reaches its owner this long after the owner is back
REPAIR_DEADLINE = 0.5        # a read repairs the stale replicas it heard within this time
CONVERGENCE_DEADLINE = 2.0   # replicas agree and hints are gone this long after the faults end
CLIENT_TIMEOUT = 1.0         # a client gives up (status "unknown") after this long
SLACK = 1e-6                 # floating-point slack on virtual-time deadlines
MAX_CHECK_STEPS = 300_000    # the checker's budget per key; the reference needs far fewer

PHASES = GRADING_PHASES   # the one grading profile's phases (labkit.strategies)

LINEARIZABLE = "strong operations are linearizable"
VERSIONS_MONOTONIC = "a replica's version of a key never goes back"

CHECK_STEPS: list[int] = []       # model steps of every linearizability check (for bench)
CHECK_SIZES: list[int] = []       # operations in every checked history (for bench)


# ----- clusters ----------------------------------------------------------------------------------

def sandboxed(lab) -> bool:
    """True when the submission runs in labkit's sandbox (``--sandbox``): every call to its
    objects then crosses a process boundary (about 0.2 ms), so bulk tests use fewer calls."""
    try:
        from labkit.sandbox import RemoteModule
    except ImportError:  # pragma: no cover - a labkit without the sandbox
        return False
    return isinstance(lab, RemoteModule)


def cluster(lab, seed: int, *, nodes: Sequence[str] = CACHE_NODES, balancer: bool = False,
            **options) -> Simulation:
    """Cache nodes (c1..c6 unless ``nodes`` says otherwise) and, with ``balancer``, the load
    balancer ``lb``; booted at t=0. Every strong acknowledgement is checked against the home
    replicas (``invariants.StrongWrites``)."""
    node_class = require(lab, "CacheNode")
    classes = {n: node_class for n in nodes}
    if balancer:
        classes[LB] = require(lab, "LoadBalancer")
    options.setdefault("client_timeout", CLIENT_TIMEOUT)
    options.setdefault("max_events", 600_000)
    sim = Simulation(classes, tuple(classes), seed=seed, **options)
    StrongWrites(sim, lambda key: homes(lab, key, nodes))   # checked at every strong ack
    return sim


def homes(lab, key: str, nodes: Sequence[str] = CACHE_NODES) -> list[str]:
    """The key's N home replicas, as the submission's own ring places them."""
    ring = require(lab, "HashRing")(list(nodes), vnodes=VNODES)
    return list(ring.preference_list(key, N))


def fallbacks(lab, key: str, nodes: Sequence[str] = CACHE_NODES) -> list[str]:
    """The nodes after the key's homes, in ring order."""
    ring = require(lab, "HashRing")(list(nodes), vnodes=VNODES)
    return list(ring.preference_list(key, len(nodes)))[N:]


# ----- client calls ------------------------------------------------------------------------------

def put(sim: Simulation, node: str, key: str, value, consistency: str, *, ttl: float | None = None,
        client: str = "client", timeout: float | None = None) -> Operation:
    body = {"op": "put", "key": key, "value": value, "consistency": consistency}
    if ttl is not None:
        body["ttl"] = ttl
    return sim.request(node, body, client=client, timeout=timeout)


def get(sim: Simulation, node: str, key: str, consistency: str, *, client: str = "client",
        timeout: float | None = None) -> Operation:
    return sim.request(node, {"op": "get", "key": key, "consistency": consistency},
                       client=client, timeout=timeout)


def delete(sim: Simulation, node: str, key: str, consistency: str, *,
           client: str = "client") -> Operation:
    return sim.request(node, {"op": "delete", "key": key, "consistency": consistency},
                       client=client)


def stats(sim: Simulation, node: str) -> dict:
    """The node's stats reply (run until it arrives)."""
    op = sim.call(node, {"op": "stats"})
    expected = ("keys", "hits", "misses", "evictions", "hints")
    if not op.ok or any(not isinstance(op.output.get(k), int) for k in expected):
        raise PropertyViolation("stats follow the contract",
                                f"{{'op': 'stats'}} must answer integers for "
                                f"{', '.join(expected)}; {describe(op)}", time=sim.now)
    return op.output


def finish(sim: Simulation, *ops: Operation) -> None:
    sim.run_until_done(*ops)


def describe(op: Operation) -> str:
    """``op#7 (strong put x='a' on c3, called at t=0.100s) replied {...} after 0.012 s``."""
    body = op.input
    kind = body.get("op")
    level = body.get("consistency", "eventual")
    if kind == "put":
        ttl = f" ttl={body['ttl']:g}s" if "ttl" in body else ""
        what = f"{level} put {body.get('key')}={body.get('value')!r}{ttl}"
    elif kind in ("get", "delete"):
        what = f"{level} {kind} of {body.get('key')}"
    else:
        what = str(body)
    return describe_op(op, what)


def expect_ok(op: Operation, prop: str, why: str) -> None:
    if not op.ok:
        raise PropertyViolation(prop, f"{why}, so it must succeed; {describe(op)}",
                                time=op.ret or op.call)
    check_reply_shape(op)


def expect_value(op: Operation, value, prop: str, why: str) -> None:
    expect_ok(op, prop, why)
    if op.output.get("value") != value:
        raise PropertyViolation(prop, f"{why}, so it must return {value!r}; {describe(op)}",
                                time=op.ret)


def check_reply_shape(op: Operation) -> None:
    """get -> {"value": v, ...}; put/delete -> {"ok": true, "version": [counter, node]}."""
    kind = op.input.get("op")
    out = op.output
    if kind == "get" and "value" not in out:
        problem = "a get answers {'value': v, 'version': ...}"
    elif kind in ("put", "delete") and (out.get("ok") is not True
                                        or not is_version(out.get("version"))):
        problem = f"a {kind} answers {{'ok': true, 'version': [counter, node]}}"
    else:
        return
    raise PropertyViolation("replies follow the contract", f"{problem}; {describe(op)}",
                            time=op.ret)


def is_version(v) -> bool:
    return (isinstance(v, list) and len(v) == 2 and isinstance(v[0], int)
            and isinstance(v[1], str))


# ----- replicas ----------------------------------------------------------------------------------

def peek(sim: Simulation, node: str, key: str) -> dict | None:
    """The node's own copy of ``key`` ({"value", "version"} or None); None while it is down."""
    obj = sim.node(node)
    return None if obj is None else obj.peek(key)


def version(copy: dict | None) -> tuple:
    return (-1, "") if copy is None else tuple(copy["version"])


def show(copy: dict | None) -> str:
    if copy is None:
        return "nothing"
    return f"{copy['value']!r} at version {list(copy['version'])}"


def watch_versions(sim: Simulation, keys: Iterable[str],
                   nodes: Sequence[str] = CACHE_NODES) -> None:
    """After every event: no running replica's version of a key is older than before."""
    keys = tuple(keys)
    seen: dict[tuple[str, str], tuple[tuple, dict | None, float]] = {}

    def check_versions(sim: Simulation) -> str | None:
        for node in nodes:
            obj = sim.node(node)
            if obj is None:
                continue
            for key in keys:
                copy = obj.peek(key)
                now = version(copy)
                before = seen.get((node, key))
                if before is not None and now < before[0]:
                    return (f"{node}'s copy of {key!r} went from {show(before[1])} (held since "
                            f"t={before[2]:.3f}s) back to {show(copy)}: a replica must only "
                            f"replace an entry with a newer version")
                if before is None or now > before[0]:
                    seen[(node, key)] = (now, copy, sim.now)
        return None

    sim.check_always(VERSIONS_MONOTONIC, check_versions)


def check_converged(lab, sim: Simulation, keys: Iterable[str], acknowledged: dict[str, tuple],
                    since: float) -> None:
    """Every home replica of every key holds the same version, no older than the newest
    acknowledged write of that key, and no node holds a hint."""
    prop = "replicas converge once the faults end"
    why = (f"every node runs and every link is up since t={since:.3f}s and "
           f"{CONVERGENCE_DEADLINE:g} s have passed")
    for key in sorted(keys):
        copies = {n: peek(sim, n, key) for n in homes(lab, key)}
        versions = {n: version(c) for n, c in copies.items()}
        if len(set(versions.values())) > 1:
            listing = "; ".join(f"{n} holds {show(c)}" for n, c in copies.items())
            raise PropertyViolation(prop, f"{why}, but the home replicas of {key!r} disagree: "
                                          f"{listing}", time=sim.now)
        held = next(iter(versions.values()))
        newest_ack = acknowledged.get(key)
        if newest_ack is not None and held < newest_ack[0]:
            raise PropertyViolation(prop, f"{why}, but the home replicas of {key!r} hold "
                                          f"{show(next(iter(copies.values())))}, older than "
                                          f"the acknowledged {newest_ack[1]}", time=sim.now)
    for node in CACHE_NODES:
        if node in sim.node_ids and sim.is_up(node):
            pending = stats(sim, node)["hints"]
            if pending:
                raise PropertyViolation(prop, f"{why}, but {node} still holds {pending} "
                                              f"hint(s) that it has not delivered",
                                        time=sim.now)


# ----- a closed-loop workload --------------------------------------------------------------------

class Clients:
    """Clients that each issue one operation at a time on a random cache node, with a short
    pause between operations. Writes carry unique values ("a2:7": client a2's 7th operation).

    ``mix`` maps an operation ("put", "get", "delete") to its share."""

    def __init__(self, sim: Simulation, seed: int, *, consistency: str, until: float,
                 clients: int = 3, keys: Sequence[str] = ("x", "y"),
                 mix: dict[str, float] | None = None, think: float = 0.03,
                 nodes: Sequence[str] = CACHE_NODES,
                 usable: Callable[[Simulation, str], bool] | None = None):
        self.sim = sim
        self.rng = random.Random(f"{seed}/clients")
        self.names = [f"a{i}" for i in range(1, clients + 1)]
        self.consistency = consistency
        self.keys = tuple(keys)
        self.until = until
        self.mix = mix or {"put": 0.5, "get": 0.4, "delete": 0.1}
        self.think = think
        self.nodes = tuple(nodes)
        self.usable = usable
        self.count = {c: 0 for c in self.names}

    def start(self, at: float) -> None:
        starts = [(c, at + self.rng.uniform(0.0, self.think)) for c in self.names]
        closed_loop(self.sim, starts, self.issue, until=self.until, retry=self.think,
                    pause=lambda: self.rng.uniform(0.0, self.think))

    def issue(self, client: str) -> Operation | None:
        sim = self.sim
        self.count[client] += 1
        nodes = [n for n in self.nodes if self.usable is None or self.usable(sim, n)]
        if not nodes:
            return None
        node = self.rng.choice(nodes)
        key = self.rng.choice(self.keys)
        kind = self.rng.choices(list(self.mix), weights=list(self.mix.values()))[0]
        if kind == "put":
            op = put(sim, node, key, f"{client}:{self.count[client]}", self.consistency,
                     client=client)
        elif kind == "get":
            op = get(sim, node, key, self.consistency, client=client)
        else:
            op = delete(sim, node, key, self.consistency, client=client)
        return op


# ----- linearizability ---------------------------------------------------------------------------

def checker_ops(history: Sequence[Operation]) -> list[Op]:
    """The strong operations as the checker sees them (``kv_model``, one key at a time).

    Position k of the list is op#k of the trace. A strong put or delete that failed or got no
    answer is *unknown*: it may have reached some replicas and show up later (through read
    repair). A failed get is dropped (a read changes nothing). Eventual operations and stats
    make no promise and are left out (as failed operations, which the checker drops).
    """
    ops = [Op("-", {"op": "get", "key": ""}, None, 0.0, 0.0, FAIL)]   # op#0 does not exist
    for op in history:
        body = op.input
        client = f"{op.client}@{op.node}"
        kind, key = body.get("op"), body.get("key")
        if body.get("consistency") != "strong" or kind not in ("put", "get", "delete"):
            ops.append(Op(client, {"op": "get", "key": key}, None, op.call, op.call, FAIL))
            continue
        spec = {"op": kind, "key": key}
        if kind == "put":
            spec["value"] = body.get("value")
        if op.ok:
            check_reply_shape(op)
            output = {"value": op.output["value"]} if kind == "get" else {}
            ops.append(Op(client, spec, output, op.call, op.ret, OK))
        elif kind == "get" and op.status == FAIL:
            ops.append(Op(client, spec, op.output, op.call, op.ret, FAIL))
        else:
            ops.append(Op(client, spec, None, op.call, None, UNKNOWN))
    return ops


def check_linearizable(sim: Simulation) -> None:
    """Every key's strong operations fit one order (kv model); else the evidence. Then no
    strong read answered a version fewer than W homes held (``invariants.StrongWrites``)."""
    ops = checker_ops(sim.history)
    result = check(kv_model, ops, max_steps=MAX_CHECK_STEPS)
    CHECK_STEPS.append(result.steps)
    CHECK_SIZES.append(len(ops) - 1)
    note = ("\n(#N is op#N in the trace. A strong put or delete that failed or timed out counts "
            "as unknown: it may have reached one replica and spread through read repair.)")
    try:
        require_linearizable(sim, result, prop=LINEARIZABLE, note=note)
        problem = getattr(getattr(sim, "strong_writes_of_lab4", None), "read_violation", None)
    except PropertyViolation as exc:
        problem = exc
    if problem is not None:
        # One raise for both (the history, then invariants.STRONG_READ_HELD seen during the
        # run): a run's failure has one origin, so Hypothesis reports one, not one per kind.
        raise PropertyViolation(problem.prop, problem.evidence, time=problem.time,
                                nodes=problem.nodes, details=problem.details) from None


def when_heard(sim: Simulation, node: str, sources: Sequence[str], count: int,
               action: Callable[[list[str]], None]) -> None:
    """Once ``node`` has received messages from ``count`` distinct nodes of ``sources`` (from now
    on), call ``action(those nodes)`` right away, before the next event. This is how a grader
    strikes between two phases of an operation without knowing its message types."""
    heard: list[str] = []
    state = {"done": False}

    def listen(sim: Simulation, ev: Event) -> None:
        if (not state["done"] and ev.kind == DELIVER and ev.node == node and ev.peer in sources
                and ev.peer not in heard):
            heard.append(ev.peer)

    def watch(sim: Simulation) -> None:   # an observer: strikes after the step, as promised
        if not state["done"] and len(heard) >= count:
            state["done"] = True
            action(heard[:count])

    sim.subscribe(listen)
    sim.observe(watch)


def running(sim: Simulation, node: str) -> bool:
    return sim.is_up(node) and not sim.is_paused(node)


def when_delivered(sim: Simulation, sender: str, receivers: Sequence[str], count: int,
                   action: Callable[[list[str]], None]) -> None:
    """Once ``count`` distinct nodes of ``receivers`` have received a message from ``sender``
    (from now on), call ``action(those nodes)`` right away, before the next event: their
    answers are then in flight. The mirror image of ``when_heard``."""
    got: list[str] = []
    state = {"done": False}

    def listen(sim: Simulation, ev: Event) -> None:
        if (not state["done"] and ev.kind == DELIVER and ev.peer == sender
                and ev.node in receivers and ev.node not in got):
            got.append(ev.node)

    def watch(sim: Simulation) -> None:
        if not state["done"] and len(got) >= count:
            state["done"] = True
            action(got[:count])

    sim.subscribe(listen)
    sim.observe(watch)
