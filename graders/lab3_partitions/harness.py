"""What the Lab 3 graders share: the cluster, the client calls, a closed-loop workload, the
contract's numbers, and the checks (quorum reachability, reply shapes, linearizability).

Every number here is a promise the handout makes (``assignments/lab3-partitions.md``)."""

from __future__ import annotations

import random
from typing import Iterable, Sequence

from labkit import GraderBug, Operation, PropertyViolation, Simulation, node_names
from labkit.grading import require
from labkit.grading.kit import closed_loop, describe_op, require_linearizable
from labkit.history import FAIL, OK
from labkit.linearizability import UNKNOWN, Op, check, kv_model
from labkit.strategies import GRADING_PHASES

from .invariants import AcknowledgedWrites, Targets

NODES = node_names(5)
MAJORITY = 3
QUORUM_TIMEOUT = 0.5        # a quorum operation is answered within this many seconds
CLIENT_TIMEOUT = 1.0        # a client gives up (status "unknown") after this many seconds
CONVERGENCE_DEADLINE = 1.0  # replicas agree this long after the cluster is whole and quiet
SLACK = 1e-6                # floating-point slack on virtual-time deadlines
MAX_CHECK_STEPS = 200_000   # the checker's budget per key; the reference needs far fewer

LINEARIZABLE = "quorum reads and writes are linearizable"
NO_QUORUM = {"error": "no_quorum"}

PHASES = GRADING_PHASES   # the one grading profile's phases (labkit.strategies)

CHECK_STEPS: list[int] = []   # model steps of every linearizability check (for the project tests)


def cluster(lab, seed: int, *, watch: bool = True, **options) -> Simulation:
    """Five ``QuorumNode``s, n1..n5, booted at t=0; clients give up after 1 s. With ``watch``
    (the default) the ``AcknowledgedWrites`` invariants are checked as the run goes; fault
    actions may aim at ``"@writer"`` and ``"@coordinator"`` (``invariants.Targets``)."""
    node_class = require(lab, "QuorumNode")
    options.setdefault("client_timeout", CLIENT_TIMEOUT)
    options.setdefault("max_events", 400_000)
    sim = Simulation(node_class, NODES, seed=seed, **options)
    if watch:
        AcknowledgedWrites(sim)
    Targets(sim)
    return sim


# ----- client calls ------------------------------------------------------------------------------

def write(sim: Simulation, node: str, key: str, value, client: str = "client") -> Operation:
    return sim.request(node, {"op": "write", "key": key, "value": value}, client=client)


def read(sim: Simulation, node: str, key: str, client: str = "client") -> Operation:
    return sim.request(node, {"op": "read", "key": key, "mode": "quorum"}, client=client)


def local_read(sim: Simulation, node: str, key: str, client: str = "client") -> Operation:
    return sim.request(node, {"op": "read", "key": key, "mode": "local"}, client=client)


def finish(sim: Simulation, *ops: Operation) -> None:
    """Run until every op is answered or has timed out."""
    sim.run_until_done(*ops)


def expect_ok(op: Operation, prop: str, why: str) -> None:
    """``op`` must have succeeded; ``why`` says why the grader expects that."""
    if not op.ok:
        raise PropertyViolation(prop, f"{why}, but {describe(op)}", time=violation_time(op))
    check_reply_shape(op)


def check_reply_shape(op: Operation) -> None:
    """A successful read answers {"value": v, "version": [counter, node]} (handout 4.2)."""
    if op.ok and op.input.get("op") == "read" and "value" not in op.output:
        raise PropertyViolation("replies follow the contract",
                                f"a read must answer {{'value': v, 'version': [counter, node]}}; "
                                f"{describe(op)}", time=op.ret)


def violation_time(op: Operation, deadline: float | None = None) -> float:
    """When a requirement on ``op`` broke: at its reply, or, with no reply, at its deadline
    (``deadline`` seconds after the call; the client's timeout if None)."""
    if op.ret is not None:
        return op.ret
    return op.call + (op.timeout if deadline is None else deadline)


def describe(op: Operation) -> str:
    """``op#7 write x='a' on n3 [0.100..0.125] ok: {...}`` (no reply: "no reply by ...")."""
    body = op.input
    what = (f"write {body.get('key')}={body.get('value')!r}" if body.get("op") == "write" else
            f"{body.get('mode', 'quorum')} read of {body.get('key')}")
    return describe_op(op, what, pending="has had no reply so far")


# ----- who can reach a majority ------------------------------------------------------------------

def quorum_partners(sim: Simulation, node: str) -> list[str]:
    """The up nodes ``node`` can exchange messages with both ways, itself included."""
    return [n for n in sim.node_ids if sim.is_up(n) and not sim.is_paused(n)
            and (n == node or (sim.can_reach(node, n) and sim.can_reach(n, node)))]


def explain_reach(sim: Simulation, node: str) -> str:
    partners = quorum_partners(sim, node)
    others = [n for n in sim.node_ids if n not in partners]
    return (f"{node} can exchange messages with {len(partners)} of the {len(sim.node_ids)} "
            f"nodes ({', '.join(partners)}" + (f"; {', '.join(others)} cut off or down)"
                                               if others else ")"))


# ----- a closed-loop workload --------------------------------------------------------------------

class Clients:
    """Clients that each issue one operation at a time, on a random node, with a short pause
    between operations. Writes carry unique values ("c2:7" is client c2's 7th operation)."""

    def __init__(self, sim: Simulation, seed: int, *, clients: int = 4,
                 keys: Sequence[str] = ("x", "y"), until: float, write_share: float = 0.5,
                 think: float = 0.05, nodes: Sequence[str] = NODES):
        self.sim = sim
        self.rng = random.Random(f"{seed}/clients")
        self.names = [f"c{i}" for i in range(1, clients + 1)]
        self.keys = tuple(keys)
        self.until = until
        self.write_share = write_share
        self.think = think
        self.nodes = tuple(nodes)
        self.count = {c: 0 for c in self.names}

    def start(self, at: float) -> None:
        starts = [(c, at + self.rng.uniform(0.0, self.think)) for c in self.names]
        closed_loop(self.sim, starts, self.issue, until=self.until,
                    pause=lambda: self.rng.uniform(0.0, self.think))

    def issue(self, client: str) -> Operation:
        self.count[client] += 1
        node = self.rng.choice(self.nodes)
        key = self.rng.choice(self.keys)
        if self.rng.random() < self.write_share:
            op = write(self.sim, node, key, f"{client}:{self.count[client]}", client=client)
        else:
            op = read(self.sim, node, key, client=client)
        return op


def burst(sim: Simulation, at: float, key: str, tag: str, nodes: Iterable[str] = NODES) -> None:
    """At ``at``, every node in ``nodes`` starts a write of ``key`` at the same instant."""
    def go() -> None:
        for node in nodes:
            write(sim, node, key, f"{tag}@{node}", client=f"b-{node}")
    sim.at(at, go)


# ----- linearizability ---------------------------------------------------------------------------

def checker_ops(history: Sequence[Operation]) -> list[Op]:
    """The history as the checker sees it (``kv_model``, one key at a time).

    Position k of the list is op#k of the trace. Local reads make no promise, so they are left
    out (as failed operations, which the checker drops). A write that was refused
    (``no_quorum``) or never answered is *unknown*: it may have reached some replicas and
    become visible later. A refused quorum read is dropped: a read changes nothing.
    """
    ops = [Op("-", {"op": "get", "key": ""}, None, 0.0, 0.0, FAIL)]   # op#0 does not exist
    for op in history:
        body = op.input
        client = op.node if op.client == "client" else f"{op.client}@{op.node}"
        key = body.get("key")
        if body.get("op") == "write":
            put = {"op": "put", "key": key, "value": body.get("value")}
            if op.ok:
                ops.append(Op(client, put, {}, op.call, op.ret, OK))
            else:
                ops.append(Op(client, put, None, op.call, None, UNKNOWN))
        elif body.get("op") == "read" and body.get("mode", "quorum") == "quorum":
            get = {"op": "get", "key": key}
            if op.ok:
                check_reply_shape(op)
                ops.append(Op(client, get, {"value": op.output["value"]}, op.call, op.ret, OK))
            elif op.status == FAIL:
                ops.append(Op(client, get, op.output, op.call, op.ret, FAIL))
            else:
                ops.append(Op(client, get, None, op.call, None, UNKNOWN))
        else:
            ops.append(Op(client, {"op": "get", "key": key}, None, op.call, op.call, FAIL))
    return ops


def check_linearizable(sim: Simulation) -> None:
    """Every key's quorum reads and writes fit one order (kv model); else the evidence. Then no
    quorum read answered a value fewer than a majority held (``invariants.READ_MAJORITY``)."""
    result = check(kv_model, checker_ops(sim.history), max_steps=MAX_CHECK_STEPS)
    CHECK_STEPS.append(result.steps)
    note = ("\n(#N is op#N in the trace. A write refused with no_quorum counts as unknown: it "
            "may have reached some replicas. Local reads are not checked.)")
    try:
        require_linearizable(sim, result, prop=LINEARIZABLE, note=note, at_blocked_return=True)
        problem = getattr(getattr(sim, "acknowledged_writes_of_lab3", None), "read_violation", None)
    except PropertyViolation as exc:
        problem = exc
    if problem is not None:
        # One raise for both (the history, then invariants.READ_MAJORITY seen during the run): a
        # run's failure has one origin, so Hypothesis reports one failure, not one per kind.
        raise PropertyViolation(problem.prop, problem.evidence, time=problem.time,
                                nodes=problem.nodes, details=problem.details) from None


def require_recovery(sim: Simulation, since: float) -> None:
    """Every quorum operation called at ``since`` or later must have succeeded: the cluster is
    whole again, so refusing or hanging is not allowed."""
    late = [op for op in sim.history if op.call >= since and op.input.get("mode") != "local"]
    if not late:
        raise GraderBug(f"grader bug: no client operation was called after t={since:.3f}s")
    for op in late:
        if not op.ok:
            raise PropertyViolation(
                "the cluster serves again after the faults end",
                f"every link is up and every node runs from t={since - 0.1:.3f}s on, so every "
                f"quorum operation must succeed, but {describe(op)}", time=op.ret or op.call)
