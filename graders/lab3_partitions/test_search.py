"""Exhaustive search (handout: "When a failure is rare"): every interleaving of a small cluster.

The generated tests draw schedules at random on five nodes; a bug that needs one exact order
of deliveries (a read that meets a write whose stores are still in flight; a write whose one
awaited reply comes from the replica that missed the previous write) may never come up there.
These tests search breadth-first over *every* order (``labkit.search``): three nodes (a
majority is 2 of 3: the coordinator and one peer), every message in flight may be delivered
next, or duplicated once; each client issues one operation at a time, to the node the test
names. States are deduplicated by the nodes' fields, storage, the messages in flight and the
armed timers; the invariants below are checked in every state, and a failure is the
*shortest* sequence of steps that breaks one, shown in the trace viewer.

Predicates (DSLabs-style), stated here because they decide what is searched:

* invariants, read from the nodes' storage and the client replies only (the layout inside
  storage is the student's: "holds a value" means the value's JSON text appears in it, as in
  ``invariants.AcknowledgedWrites``, whose three properties these are, for three nodes):

  - ``ACK_MAJORITY``, at the moment a write is acknowledged: 2 distinct nodes hold its value
    (or the value of a write that may be newer: any other write of the key, except those its
    client had acknowledged before it began);
  - ``READ_MAJORITY``, at the moment a quorum read answers a value some write wrote: 2
    distinct nodes hold it (or the value of a write that may be newer than that write);
  - ``ACKED_KEPT``, in every state: every acknowledged write is held by 2 nodes, until a
    write of its key that began after it was acknowledged is acknowledged too;

* prune: a state in which every client operation has its answer is checked but not expanded
  (what the replicas do afterwards is the generated tests' business), nor is a state deeper
  than the test's depth bound; no timer ever fires (``quiet_timers=("*",)``: no resend, no
  give-up, no anti-entropy; the generated tests cover those);

* faults: one duplicated message. No drop budget: with no timer firing, a dropped message
  is, for every invariant here, the same as one the search never delivers, which it already
  explores (a drop would only cost a step and states). No crash: it would cost four times
  the states.

Each test is sized so that the reference explores its whole bounded space in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from labkit import node_names
from labkit.grading import require
from labkit.jsoncopy import dumps, loads
from labkit.search import Space, StatePredicate, View
from labkit.search.report import expect_graded

from .invariants import ACK_MAJORITY, ACKED_KEPT, READ_MAJORITY

NODES = node_names(3)
MAJORITY = len(NODES) // 2 + 1      # 2 of 3: the coordinator and one peer


# ----- what the state says ----------------------------------------------------------------------

def writes_of(ops: dict[int, dict], key: str) -> list[int]:
    return [op for op, body in sorted(ops.items())
            if body.get("op") == "write" and body.get("key") == key]


def markers(view: View, ops: dict[int, dict], w: int) -> list[str]:
    """The JSON texts of write ``w``'s value and of every write of its key that may be newer
    (any other, except those its client had acknowledged before ``w`` began)."""
    before = set(view.earlier(w))
    out = [dumps(ops[w].get("value"))]
    for other in writes_of(ops, ops[w].get("key")):
        text = dumps(ops[other].get("value"))
        if other != w and other not in before and text not in out:
            out.append(text)
    return out


def holders(view: View, texts: list[str]) -> list[str]:
    """The nodes whose storage holds one of ``texts``, in id order."""
    return [n for n in NODES
            if any(t in raw for raw in view.storage(n)._data.values() for t in texts)]


def describe(ops: dict[int, dict], op: int) -> str:
    body = ops[op]
    if body.get("op") == "write":
        return f"op#{op} (write {body.get('key')}={body.get('value')!r})"
    return f"op#{op} ({body.get('mode', 'quorum')} read of {body.get('key')})"


def short_of(view: View, ops: dict[int, dict], w: int, head: str) -> str | None:
    """``head`` and the evidence when write ``w``'s value is held by fewer than a majority
    of distinct nodes (None when a majority holds it)."""
    held = holders(view, markers(view, ops, w))
    if len(held) >= MAJORITY:
        return None
    others = [n for n in NODES if n not in held]
    return (f"{head}, but only {len(held)} distinct "
            f"{'node holds' if len(held) == 1 else 'nodes hold'} that value (or a newer write "
            f"of {ops[w].get('key')!r}) in storage: {', '.join(held) or 'none'}; "
            f"{', '.join(others)} {'does' if len(others) == 1 else 'do'} not "
            f"(a majority of {len(NODES)} is {MAJORITY})")


def quorum_reads(view: View, ops: dict[int, dict], answers) -> list[tuple[int, str, object]]:
    """``(op, node, value)`` of the quorum reads among ``answers``."""
    out = []
    for op, node, data in answers:
        body = ops[op]
        if body.get("op") == "read" and body.get("mode", "quorum") == "quorum":
            out.append((op, node, loads(data).get("value")))
    return out


# ----- the invariants ---------------------------------------------------------------------------

# ACK_MAJORITY and READ_MAJORITY look at the replies of the last step only (the moment of the
# reply), which is not part of the state: the search checks a state once, on the first path
# that reaches it. ACKED_KEPT looks at every acknowledged write in every state, so a write's
# verdict never depends on that path (only its name does); a read's holders could only shrink
# later if a replica replaced the value with an older one, which ACKED_KEPT reports once the
# value's write is acknowledged.

def ack_without_majority(view: View) -> str | None:
    ops = view.requests()
    for op, node, data in view.new_answers:
        if ops[op].get("op") == "write":
            version = loads(data).get("version")
            evidence = short_of(view, ops, op, f"{describe(ops, op)}: {node} acknowledged it "
                                               f"at step {view.depth} with version {version}")
            if evidence:
                return evidence + (". Count each replica once, and only for the request and "
                                   "phase its reply answers; and pick a version above every "
                                   "version the query's majority holds, your own replica's "
                                   "included (a replica keeps the newer version it has)")
    return None


def read_without_majority(view: View) -> str | None:
    ops = view.requests()
    for op, node, value in quorum_reads(view, ops, view.new_answers):
        if value is None:
            continue                      # nothing written yet: nothing to hold
        source = next((w for w in writes_of(ops, ops[op].get("key"))
                       if dumps(ops[w].get("value")) == dumps(value)), None)
        if source is None:
            continue                      # a value no client wrote: not checked here
        evidence = short_of(view, ops, source, f"{describe(ops, op)} on {node} returned "
                                               f"{value!r} at step {view.depth}, the value of "
                                               f"{describe(ops, source)}")
        if evidence:
            return evidence + (". When the answers disagree, store the newest value on a "
                               "majority (write back, your own replica included) before "
                               "answering")
    return None


def acked_write_lost(view: View) -> str | None:
    ops = view.requests()
    acked = [op for op, _, _ in view.answers if ops[op].get("op") == "write"]
    for w in acked:
        if any(w in view.earlier(w2) and ops[w2].get("key") == ops[w].get("key")
               for w2 in acked):
            continue            # a write that began after it was acknowledged replaced it
        evidence = short_of(view, ops, w, f"{describe(ops, w)} was acknowledged, and at step "
                                          f"{view.depth}")
        if evidence:
            return evidence + (". A replica keeps its newest entry of a key in storage and "
                               "never replaces it with an older one")
    return None


ACK = StatePredicate(ACK_MAJORITY, ack_without_majority, ACK_MAJORITY)
READ = StatePredicate(READ_MAJORITY, read_without_majority, READ_MAJORITY)
KEPT = StatePredicate(ACKED_KEPT, acked_write_lost, ACKED_KEPT)
INVARIANTS = (ACK, READ, KEPT)   # in this order: the first broken one is reported


def all_answered(view: View) -> str | None:
    ops = view.requests()
    answered = {op for op, _, _ in view.answers}
    return "every client operation has its answer" if answered >= set(ops) else None


ALL_ANSWERED = StatePredicate("every operation answered", all_answered)


# ----- the graded searches ----------------------------------------------------------------------

@dataclass(frozen=True)
class Search:
    """One graded search: its clients (each a tuple of ``(node, request body)``, issued one at
    a time), fault budget and bounds (``nox -s search -- lab3`` runs the same)."""
    name: str
    clients: tuple
    depth: int
    faults: dict = field(default_factory=lambda: {"duplicate": 1})
    invariants: tuple = INVARIANTS
    max_states: int = 100_000
    # No wall-time bound: a graded verdict depends on depth and states only, never on how busy
    # the machine is (the plugin's per-test time limit guards the wall clock, reported as such).
    max_seconds: float | None = None
    reference_states: int = 0     # what the reference explores (the failure text says it)

    def build(self, lab) -> Space:
        """The space to search for the code under test (``lab``: its package)."""
        at, op = {}, 0
        for client in self.clients:
            for node, _ in client:
                op += 1
                at[op] = node
        return Space(require(lab, "QuorumNode"), NODES,
                     clients=[[body for _, body in client] for client in self.clients], at=at,
                     faults=self.faults, invariants=self.invariants, prune=(ALL_ANSWERED,),
                     quiet_timers=("*",))


def write(value: str) -> dict:
    return {"op": "write", "key": "x", "value": value}


READ_X = {"op": "read", "key": "x", "mode": "quorum"}

SEARCHES = {
    s.name: s for s in (
        Search("write_after_write", ((("n3", write("v1")), ("n1", write("v2"))),), depth=10,
               reference_states=4_864),
        Search("read_during_write", ((("n1", write("v1")),), (("n3", READ_X),)), depth=8,
               reference_states=13_103),
    )
}


def run(lab, search: Search, depth: int | None = None) -> None:
    # Under --sandbox the node objects live in the child: the search keeps handles of them
    # (labkit.sandbox.search) and visits the same states, in the same order, with the same
    # verdict; the invariants run here, on the storage and the replies (grader-side data).
    expect_graded(search, lab, "lab3", depth)


@pytest.mark.points(5)
def test_search_write_after_write(lab):
    """A write after a write is acknowledged only once a majority holds it (exhaustive search)

    Three nodes; one client writes x on n3 and, once that is acknowledged, writes x again on
    n1; every order of deliveries up to 10 steps, one message duplicated anywhere: each write
    is acknowledged only once 2 distinct nodes hold it in storage (so the second one's
    version must be above the first's), and an acknowledged write stays held by 2 nodes. A
    failure is the shortest sequence of steps, in the trace viewer. Handout: "When a failure
    is rare"."""
    run(lab, SEARCHES["write_after_write"])


@pytest.mark.points(5)
def test_search_read_during_write(lab):
    """A read during a write answers only what a majority holds (exhaustive search)

    Three nodes; one client writes x on n1 while another reads x (quorum) on n3; every order
    of deliveries up to 8 steps, one message duplicated anywhere: a write is acknowledged,
    and a read answers a value, only once 2 distinct nodes hold it in storage. A failure is
    the shortest sequence of steps, in the trace viewer. Handout: "When a failure is rare"."""
    run(lab, SEARCHES["read_during_write"])
