"""The vocabulary of the Lab 1 graders: a 3-node cluster with a client, the handout's
constants, and what a reply means.

    c = Cluster(lab, seed=3)
    op = c.set("n1", "x", "x-1")               # eventual; returns the pending Operation
    c.run_until(0.5)
    replicas = c.read_replicas(["x"])          # {"x": {"n1": (version, value), ...}}

The constants below are the contract's numbers: the graders never read them from the
submission (changing them in your code does not change the grading).
"""

from __future__ import annotations

import random
from typing import Any, Iterable, Sequence

from labkit import NetworkConfig, Operation, PropertyViolation, Simulation, StudentCodeError
from labkit.grading import require
from labkit.history import FAIL, OK, UNKNOWN
from labkit.grading.kit import run_without_faults_first

from .invariants import StrongAcks

NODES = ("n1", "n2", "n3")
RETRY_INTERVAL = 0.1      # resend period of unacknowledged messages (handout: Constants)
STRONG_TIMEOUT = 0.5      # a strong operation waits at most this long for a majority
REPLY_SLACK = 0.1         # grace on top of STRONG_TIMEOUT before a reply counts as late
REPLY_DEADLINE = STRONG_TIMEOUT + REPLY_SLACK
CONVERGE_WITHIN = 2.0     # after the last fault heals, replicas agree within this long
CATCH_UP_WITHIN = 1.0     # a restarted node, reconnected, holds what it missed within this long
CLIENT_TIMEOUT = 1.0      # the client gives up (status "unknown") after this long
MESSAGES_PER_WRITE = 5    # budget: messages per eventual write on a healthy network
Version = tuple[float, str]


# ----- what a reply means ------------------------------------------------------------------------

def acked(op: Operation) -> bool:
    """The node said ok: the write happened (or the read returned a value)."""
    return op.status == OK and op.output.get("ok") is True


def refused(op: Operation) -> bool:
    """A strong operation refused for want of a majority: it must have had no effect."""
    return op.status == FAIL and op.error == "insufficient_replicas"


def outcome(op: Operation) -> str:
    """"acked", "refused", "error" (another error), "late" (no reply in time) or "unknown"
    (a reply that is neither ok nor an error, e.g. commit_unconfirmed)."""
    if acked(op):
        return "acked"
    if refused(op):
        return "refused"
    if op.status == FAIL:
        return "error"
    if op.status == UNKNOWN:
        return "late"
    return "unknown"


def version_of(op: Operation) -> Version | None:
    """The ``version`` of a reply as a comparable tuple (None for a key never written).

    Raises PropertyViolation if the reply does not carry a version shaped like the contract's
    ``[counter, node_id]``."""
    v = op.output.get("version") if op.output else None
    if v is None:
        return None
    if (not isinstance(v, list) or len(v) != 2 or isinstance(v[0], bool)
            or not isinstance(v[0], (int, float)) or not isinstance(v[1], str)):
        raise PropertyViolation(
            "replies carry versions [counter, node_id]",
            f"{op.describe()} carries version {v!r}; the contract says a list "
            f"[counter, node_id] such as [3, \"n1\"]")
    return (v[0], v[1])


def value_of(op: Operation) -> Any:
    return op.output.get("value") if op.output else None


def show(version: Version | None) -> str:
    return "none" if version is None else f"[{version[0]:g}, {version[1]!r}]"


# ----- the cluster -------------------------------------------------------------------------------

class Cluster:
    """A ``Simulation`` of three ``KVNode``s plus a client that speaks the lab's requests."""

    def __init__(self, lab: Any, seed: int, *, network: NetworkConfig | None = None):
        self.seed = seed
        self.sim = Simulation(require(lab, "KVNode"), NODES, seed=seed, network=network,
                              client_timeout=CLIENT_TIMEOUT)
        StrongAcks(self.sim)            # every strong acknowledgement, checked as it leaves
        self.rng = random.Random(f"lab1-workload/{seed}")

    # requests (return the pending Operation; run the simulation to complete them)
    def set(self, node: str, key: str, value: Any, *, strong: bool = False) -> Operation:
        body = {"op": "set", "key": key, "value": value}
        if strong:
            body["consistency"] = "strong"
        return self.sim.request(node, body)

    def get(self, node: str, key: str, *, strong: bool = False) -> Operation:
        body = {"op": "get", "key": key}
        if strong:
            body["consistency"] = "strong"
        return self.sim.request(node, body)

    def call(self, op: Operation) -> Operation:
        """Run until ``op`` completes (a reply, or the client's timeout)."""
        self.sim.run_until_done(op)
        return op

    def at(self, time: float, fn) -> None:
        self.sim.at(time, fn)

    def run_until(self, t: float) -> None:
        self.sim.run_until(t)

    @property
    def now(self) -> float:
        return self.sim.now

    def read_replicas(self, keys: Iterable[str],
                      nodes: Sequence[str] = NODES) -> dict[str, dict[str, tuple]]:
        """Ask every node for every key (eventual get: its own replica) and return
        ``{key: {node: (version, value)}}``. A node that does not answer ok fails the test."""
        ops = {(k, n): self.get(n, k) for k in keys for n in nodes}
        self.sim.run_until_done(*ops.values())
        out: dict[str, dict[str, tuple]] = {}
        for (k, n), op in ops.items():
            if not acked(op):
                raise PropertyViolation(
                    "every node answers an eventual get at once",
                    f"{op.describe()}: expected {{'ok': true, 'value': ..., 'version': ...}}",
                    time=self.sim.now)
            out.setdefault(k, {})[n] = (version_of(op), value_of(op))
        return out

    def node_ops(self) -> list[Operation]:
        return list(self.sim.history)


def fail_fast_if_unfinished(lab: Any) -> None:
    """Run every request kind once on a fault-free cluster, so that code still raising
    NotImplementedError fails in milliseconds instead of after Hypothesis has generated and
    shrunk dozens of fault schedules. Any other trouble is left for the real test to find."""
    c = Cluster(lab, 0)

    def every_request_once() -> None:
        c.run_until(0.1)
        for op in (c.set("n1", "k", "v"), c.get("n2", "k"), c.set("n2", "k", "w", strong=True),
                   c.get("n3", "k", strong=True)):
            c.call(op)
        c.sim.isolate("n3")
        c.call(c.set("n3", "k", "u", strong=True))
        c.call(c.get("n3", "k", strong=True))
        c.sim.heal()
        c.sim.restart("n1")
        c.run_until(c.now + 1.0)

    run_without_faults_first(every_request_once, only_unfinished=True)


def describe_replicas(replicas: dict[str, tuple]) -> str:
    return ", ".join(f"{n} holds {value!r} ({show(v)})"
                     for n, (v, value) in sorted(replicas.items()))
