"""Invariants of the quorum store, checked as the run goes (not only at the end of a test).

``AcknowledgedWrites`` watches every run the Lab 3 graders make (``harness.cluster``):

* **ACK_MAJORITY**, at the moment a write is acknowledged: a majority (3 of 5) of *distinct*
  nodes hold the written value in ``storage``, or the value of a write that may be newer than
  it. A coordinator that counts a duplicated or retried reply twice, counts an acknowledgement
  of an older request, or acknowledges before its replicas saved the value, breaks it at once.
* **READ_MAJORITY**, at the moment a quorum read answers a value: a majority of distinct
  nodes hold that value (or the value of a write that may be newer than the one that wrote
  it) in storage. A read whose majority disagreed and that answers the newest value without
  writing it back first (or before a majority acknowledged the write-back) breaks it at once:
  a later read that hears the other nodes would return an older value. The first such read
  is kept and reported by ``harness.check_linearizable`` right after the run's history passed
  the linearizability check (a history that does not pass is reported by the checker itself,
  with the operations that cannot be ordered).
* **ACKED_KEPT**, after every storage change: an acknowledged write stays held by a majority,
  until a write of the same key that began after it was acknowledged (and is newer) replaces
  it. A replica that drops or overwrites a newer entry with an older one breaks it.

"Holds a value" means the value's JSON text appears in the node's storage: the layout inside
storage is the student's (handout 4.6), the values are not. A write that "may be newer" than
``w`` is any write of the same key except those acknowledged before ``w`` was called (ABD
orders those before ``w``); the check is lenient there, never strict.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit import Operation, PropertyViolation, Simulation
from labkit.events import REPLY
from labkit.grading.history_view import read_panel
from labkit.jsoncopy import dumps

MAJORITY = 3
ACK_MAJORITY = "a write is acknowledged only once a majority of distinct nodes hold it in storage"
ACKED_KEPT = "an acknowledged write is never lost"
READ_MAJORITY = ("a quorum read answers a value only once a majority of distinct nodes hold it "
                 "in storage")


class AcknowledgedWrites:
    """The two invariants above, for one simulation (subscribes itself)."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.writes: dict[str, list[Operation]] = {}     # key -> its writes, in call order
        self.seen = 0                                     # history entries already sorted
        self.live: list[tuple[Operation, set[str]]] = []  # acknowledged, not yet superseded
        self.counts = {n: sim.storage[n].writes for n in sim.node_ids}
        self.read_violation: PropertyViolation | None = None   # READ_MAJORITY's first
        sim.acknowledged_writes_of_lab3 = self
        sim.subscribe(self.on_event)
        sim.observe(self.after_step)

    # ----- what a node holds -----------------------------------------------------------------

    def _sort_history(self) -> None:
        history = self.sim.history
        for op in history[self.seen:]:
            if op.input.get("op") == "write":
                self.writes.setdefault(op.input.get("key"), []).append(op)
        self.seen = len(history)

    def markers(self, w: Operation) -> list[str]:
        """The JSON texts of ``w``'s value and of every write of its key that may be newer."""
        out = [dumps(w.input.get("value"))]
        for other in self.writes.get(w.input.get("key"), ()):
            if other is w or (other.ok and other.ret is not None and other.ret <= w.call):
                continue
            text = dumps(other.input.get("value"))
            if text not in out:
                out.append(text)
        return out

    def holds(self, node: str, markers: list[str]) -> bool:
        stored = self.sim.storage[node]._data.values()
        return any(m in raw for raw in stored for m in markers)

    def holders(self, w: Operation) -> set[str]:
        markers = self.markers(w)
        return {n for n in self.sim.node_ids if self.holds(n, markers)}

    # ----- the checks ------------------------------------------------------------------------

    def on_event(self, sim: Simulation, ev) -> None:
        if ev.kind != REPLY or ev.detail.startswith("(late"):
            return
        op = sim.history[ev.ref - 1]
        if op.input.get("op") == "read" and op.ok:
            self.check_read(op)
        if op.input.get("op") != "write" or not op.ok:
            return
        self._sort_history()
        held = self.holders(op)
        if len(held) < MAJORITY:
            raise PropertyViolation(ACK_MAJORITY, self.evidence(
                op, held, f"{op.node} acknowledged it at t={op.ret:.3f}s") + (
                f". A write is acknowledged once {MAJORITY} distinct replicas saved it: a "
                f"duplicated, resent or late reply counts once, and only for the request and "
                f"phase it answers"), time=op.ret)
        key = op.input.get("key")
        self.live = [(w, h) for w, h in self.live
                     if not (w.input.get("key") == key and w.ret <= op.call)]
        self.live.append((op, held))

    def check_read(self, r: Operation) -> None:
        """READ_MAJORITY, at the answer of quorum read ``r``."""
        if r.input.get("mode", "quorum") != "quorum" or not isinstance(r.output, dict):
            return
        value = r.output.get("value")
        if value is None:
            return                        # nothing written yet: nothing to hold
        self._sort_history()
        text = dumps(value)
        source = next((w for w in self.writes.get(r.input.get("key"), ())
                       if dumps(w.input.get("value")) == text), None)
        if source is None:
            return                        # a value nobody wrote: the linearizability check
        held = self.holders(source)
        if len(held) >= MAJORITY:
            return
        if self.read_violation is not None:
            return
        others = [n for n in self.sim.node_ids if n not in held]
        self.read_violation = PropertyViolation(READ_MAJORITY, (
            f"op#{r.id} (quorum read of {r.input.get('key')} on {r.node}, called at "
            f"t={r.call:.3f}s) returned {value!r} at t={r.ret:.3f}s, written by op#{source.id} "
            f"(on {source.node}, called at t={source.call:.3f}s), but only {len(held)} "
            f"distinct {'node holds' if len(held) == 1 else 'nodes hold'} that value (or a "
            f"newer write of {r.input.get('key')!r}) in storage: "
            f"{', '.join(sorted(held)) or 'none'}; {', '.join(others)} do not. A later read "
            f"that hears {', '.join(others[:MAJORITY])} would return an older value. When the "
            f"majority's answers disagree, store the newest value on a majority (write back) "
            f"before answering"), time=r.ret)
        self.read_violation.details = read_panel(self.sim.history, r, _lane,
                                                 str(self.read_violation))

    def after_step(self, sim: Simulation) -> None:
        changed = [n for n in sim.node_ids if sim.storage[n].writes != self.counts[n]]
        if not changed:
            return
        for n in changed:
            self.counts[n] = sim.storage[n].writes
        if not self.live:
            return
        self._sort_history()
        for w, held in self.live:
            markers = self.markers(w)
            for n in changed:
                if self.holds(n, markers):
                    held.add(n)
                else:
                    held.discard(n)
            if len(held) < MAJORITY:
                raise PropertyViolation(ACKED_KEPT, self.evidence(
                    w, held, f"{w.node} acknowledged it at t={w.ret:.3f}s; at t={sim.now:.3f}s "
                    f"the storage of {', '.join(changed)} changed") + (
                    ". A replica keeps its newest entry of a key in storage, across restarts, "
                    "and never replaces it with an older one"), time=sim.now)

    def evidence(self, w: Operation, held: set[str], when: str) -> str:
        body = w.input
        others = [n for n in self.sim.node_ids if n not in held]
        return (f"op#{w.id} (write {body.get('key')}={body.get('value')!r} on {w.node}, called "
                f"at t={w.call:.3f}s, version {w.output.get('version')}): {when}, but only "
                f"{len(held)} distinct {'node holds' if len(held) == 1 else 'nodes hold'} that "
                f"value (or a newer write of "
                f"{body.get('key')!r}) in storage: {', '.join(sorted(held)) or 'none'}; "
                f"{', '.join(others)} do not")


class Targets:
    """Fault targets for aimed schedules (``labkit.faults``: ``Isolate(1.0, "@writer")``):

    * ``@writer``: the coordinator of a write in progress whose value has reached exactly one
      other node (else the one it reached the fewest, at least one): cutting it off there
      leaves a write that only some replicas hold, which overlapping reads must handle
      (write back what they return);
    * ``@coordinator``: the node that coordinated the last acknowledged write.
    Either is None (the action does nothing) when there is no such node."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.spread: dict[int, tuple[Operation, str, set[str]]] = {}   # op id -> op, marker, nodes
        self.last_ack: Operation | None = None
        self.armed: list[float] = []   # IsolateWriter: until when each waits for a writer
        sim.subscribe(self.on_event)
        sim.add_target("writer", self.writer)
        sim.targets_of_lab3 = self
        sim.add_target("coordinator", self.coordinator)

    def on_event(self, sim: Simulation, ev) -> None:
        kind = ev.kind
        if kind == "deliver":
            for op, marker, nodes in self.spread.values():
                if ev.peer == op.node and marker in ev.detail:
                    nodes.add(ev.node)
                    if len(nodes) == 1 and self.armed and sim.is_up(op.node):
                        self.fire(sim, op, ev.node)
        elif kind == "request":
            op = sim.history[ev.ref - 1]
            if op.input.get("op") == "write":
                self.spread[op.id] = (op, dumps(op.input.get("value")), set())
        elif kind == REPLY and not ev.detail.startswith("(late"):
            op = sim.history[ev.ref - 1]
            self.spread.pop(op.id, None)
            if op.ok and op.input.get("op") == "write":
                self.last_ack = op

    def fire(self, sim: Simulation, op: Operation, holder: str) -> None:
        self.armed = [t for t in self.armed if t >= sim.now]
        if self.armed:
            self.armed.pop(0)
            sim.note_fault(f"isolate {op.node}: its write of {op.input.get('key')}="
                           f"{op.input.get('value')!r} (op#{op.id}) reached only {holder}")
            sim.isolate(op.node)

    def writer(self, sim: Simulation) -> str | None:
        best = None
        for op, _, nodes in self.spread.values():
            if op.done or not sim.is_up(op.node) or not nodes:
                continue
            if best is None or len(nodes) < len(best[1]):
                best = (op, nodes)
        return None if best is None else best[0].node

    def coordinator(self, sim: Simulation) -> str | None:
        return None if self.last_ack is None else self.last_ack.node


@dataclass(frozen=True, slots=True)
class IsolateWriter:
    """A fault action: from ``at``, for ``within`` seconds, wait for a write whose value has
    reached exactly one node besides its coordinator, and cut that coordinator off right then
    (its write stays half done: two replicas hold the new value, three the old one)."""
    at: float
    within: float = 0.3

    def apply(self, sim: Simulation) -> None:
        sim.targets_of_lab3.armed.append(sim.now + self.within)

    def __str__(self) -> str:
        return (f"t={self.at:.3f}s isolate the next writer whose value reached one other node "
                f"(within {self.within:g} s)")


def _lane(op: Operation) -> str:
    """The client as the linearizability checker sees it (``harness.checker_ops``)."""
    return op.node if op.client == "client" else f"{op.client}@{op.node}"
