"""Invariants of the cache, checked as the run goes, and a fault action aimed at writers.

``StrongWrites`` watches every run the Lab 4 graders make (``harness.cluster``):

* **STRONG_ACKED**: when a strong put or delete is acknowledged with version V, at least W = 2
  distinct home replicas of the key hold version V or newer (``peek``, the handout's section
  5.4). A coordinator that counts a duplicated or resent acknowledgement twice, counts one from
  an earlier operation, or answers before W homes stored the entry, breaks it when it replies.
* **STRONG_READ_HELD**: when a strong get answers an entry with version V, at least W = 2
  distinct homes hold version V or newer (section 4.2: a read whose R answers disagree writes
  the newest back to W homes before it answers). A read that answers a half-done put's value
  without writing it back, or before the write-back is acknowledged, breaks it when it replies:
  a later read that hears the two other homes would go back in time.

  The first such read is kept and reported by ``harness.check_linearizable`` right after the
  run's history passed the linearizability check (a history that does not pass is reported
  by the checker itself, with the operations that cannot be ordered).

A home that is down when the check runs is judged by what it held (``peek``) when it last
received a message from the operation's coordinator: that is all it can have acknowledged, and
its storage keeps it across the crash.

``IsolateWriter`` is a fault action: the next strong put whose entry has reached exactly one
home is cut off right then, so strong reads overlap a write that one home holds and two do
not (a read that returns it without writing it back lets a later read return the older one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from labkit import Operation, PropertyViolation, Simulation
from labkit.events import REPLY
from labkit.grading.history_view import read_panel
from labkit.jsoncopy import dumps

W = 2
STRONG_ACKED = "a strong write is acknowledged only once W = 2 distinct home replicas hold it"
STRONG_READ_HELD = ("a strong read answers only once W = 2 distinct home replicas hold what it "
                    "returns")


def _version(copy) -> tuple:
    return (-1, "") if copy is None else tuple(copy["version"])


def _is_version(v) -> bool:
    return (isinstance(v, list) and len(v) == 2 and isinstance(v[0], int)
            and isinstance(v[1], str))


class StrongWrites:
    """The invariant above, for one simulation; ``homes(key)`` gives a key's home replicas."""

    def __init__(self, sim: Simulation, homes: Callable[[str], Sequence[str]]):
        self.sim = sim
        self.homes = homes
        self.cache: dict[str, list[str]] = {}
        self.writes: dict[int, tuple[Operation, str, set[str]]] = {}   # IsolateWriter's view
        self.armed: list[float] = []
        self.pending: dict[int, Operation] = {}        # strong puts/deletes not answered yet
        self.last_ack: Operation | None = None
        self.strong: dict[int, Operation] = {}         # strong puts, deletes, gets not answered
        self.coordinators: set[str] = set()            # the nodes of those operations
        self.read_violation: PropertyViolation | None = None   # STRONG_READ_HELD's first
        self.heard: dict[tuple[str, str], tuple] = {}  # (home, key) -> version held when it
        #                                                 last got a message from a coordinator
        sim.subscribe(self.on_event)
        sim.strong_writes_of_lab4 = self
        sim.add_target("writer", self.writer)
        sim.add_target("coordinator", self.coordinator)

    def homes_of(self, key: str) -> list[str]:
        if key not in self.cache:
            self.cache[key] = list(self.homes(key))
        return self.cache[key]

    def on_event(self, sim: Simulation, ev) -> None:
        kind = ev.kind
        if kind == "deliver":
            if ev.peer in self.coordinators:
                self.note_heard(sim, ev)
            if self.armed and self.writes:
                self.spread(sim, ev)
        elif kind == "request":
            op = sim.history[ev.ref - 1]
            body = op.input
            if body.get("consistency") == "strong" and body.get("op") in ("put", "delete", "get"):
                self.strong[op.id] = op
                self.coordinators = {o.node for o in self.strong.values()}
            if body.get("consistency") == "strong" and body.get("op") in ("put", "delete"):
                self.pending[op.id] = op
                if self.armed and body.get("op") == "put":
                    self.writes[op.id] = (op, dumps(body.get("value")), set())
        elif kind == REPLY and not ev.detail.startswith("(late"):
            op = sim.history[ev.ref - 1]
            self.writes.pop(op.id, None)
            self.pending.pop(op.id, None)
            if self.strong.pop(op.id, None) is not None:
                self.coordinators = {o.node for o in self.strong.values()}
            body = op.input
            if (not op.ok or body.get("consistency") != "strong"
                    or not _is_version(op.output.get("version"))):
                return
            if body.get("op") in ("put", "delete"):
                self.check(sim, op)
                self.last_ack = op
            elif body.get("op") == "get":
                self.check(sim, op)

    def note_heard(self, sim: Simulation, ev) -> None:
        """A home got a message from the coordinator of a strong operation on one of its keys:
        remember what it holds now (all it can have acknowledged to that coordinator)."""
        obj = None
        for op in self.strong.values():
            key = op.input.get("key")
            if ev.peer != op.node or not isinstance(key, str) or ev.node not in self.homes_of(key):
                continue
            obj = obj or sim.node(ev.node)
            if obj is not None:
                self.heard[(ev.node, key)] = _version(obj.peek(key))

    def check(self, sim: Simulation, op: Operation) -> None:
        """At ``op``'s reply: W distinct homes hold its version or a newer one."""
        key = op.input.get("key")
        if not isinstance(key, str):
            return
        acked = tuple(op.output["version"])
        homes = [n for n in self.homes_of(key) if n in sim.node_ids]
        copies = {n: (None if sim.node(n) is None else sim.node(n).peek(key)) for n in homes}
        held_by = {n: (_version(copies[n]) if sim.node(n) is not None
                       else self.heard.get((n, key), (-1, ""))) for n in homes}
        holding = [n for n in homes if held_by[n] >= acked]
        if len(holding) >= W:
            return

        def holds(n: str) -> str:
            if sim.node(n) is None:
                return (f"{n} is down (it held " + ("nothing" if held_by[n] == (-1, "") else
                                                    f"version {list(held_by[n])}")
                        + " when it last heard from a coordinator)")
            return f"{n} holds " + ("nothing" if copies[n] is None else
                                   f"version {list(held_by[n])}")
        listing = "; ".join(holds(n) for n in homes)
        held = (f"only {len(holding)} of its home replicas "
                f"{'holds' if len(holding) == 1 else 'hold'} that version or a newer one: "
                f"{listing}")
        if op.input.get("op") == "get":
            if self.read_violation is None:
                self.read_violation = PropertyViolation(
                    STRONG_READ_HELD,
                    f"op#{op.id} (strong get of {key} on {op.node}, called at t={op.call:.3f}s) "
                    f"returned {op.output.get('value')!r} at version {list(acked)} at "
                    f"t={op.ret:.3f}s, but {held}. A later strong read that hears the other homes "
                    f"would return an older value. When the R answers disagree, write the newest "
                    f"entry back and answer once W = {W} homes acknowledged it", time=op.ret)
                self.read_violation.details = read_panel(
                    sim.history, op, lambda op: f"{op.client}@{op.node}", str(self.read_violation))
            return
        what = (f"strong {op.input.get('op')} of {key}"
                + (f"={op.input.get('value')!r}" if op.input.get("op") == "put" else ""))
        raise PropertyViolation(
            STRONG_ACKED,
            f"op#{op.id} ({what} on {op.node}, called at t={op.call:.3f}s) was acknowledged "
            f"with version {list(acked)} at t={op.ret:.3f}s, but {held}. Count each home once "
            f"(a duplicated or resent acknowledgement counts once, and only for the operation "
            f"it answers) and answer once W = {W} homes stored the entry", time=op.ret)

    # ----- targets for aimed fault schedules ("@writer", "@coordinator") ---------------------

    def writer(self, sim: Simulation) -> str | None:
        """The coordinator of the oldest strong put or delete still waiting for its answer."""
        for op in self.pending.values():
            if not op.done and op.node in sim.node_ids and sim.is_up(op.node):
                return op.node
        return None

    def coordinator(self, sim: Simulation) -> str | None:
        """The node that acknowledged the last strong put or delete."""
        return None if self.last_ack is None else self.last_ack.node

    # ----- IsolateWriter ---------------------------------------------------------------------

    def spread(self, sim: Simulation, ev) -> None:
        for op, marker, nodes in list(self.writes.values()):
            if ev.peer != op.node or marker not in ev.detail:
                continue
            homes = self.homes_of(op.input.get("key"))
            if op.node in homes:
                continue                    # its own replica is a second home: nothing to cut
            if ev.node in homes:
                nodes.add(ev.node)
            if len(nodes) == 1 and sim.is_up(op.node):
                self.armed = [t for t in self.armed if t >= sim.now]
                if self.armed:
                    self.armed.pop(0)
                    sim.note_fault(f"isolate {op.node}: its strong put {op.input.get('key')}="
                                   f"{op.input.get('value')!r} (op#{op.id}) reached only the "
                                   f"home {ev.node}")
                    sim.isolate(op.node)
                    self.writes.clear()
                    return


@dataclass(frozen=True, slots=True)
class IsolateWriter:
    """A fault action: from ``at``, for ``within`` seconds, wait for a strong put whose entry has
    reached exactly one home replica (other than its coordinator) and cut its coordinator off
    right then. A no-op if the lab's harness did not install ``StrongWrites``."""
    at: float
    within: float = 0.3

    def apply(self, sim: Simulation) -> None:
        watcher = getattr(sim, "strong_writes_of_lab4", None)
        if watcher is not None:
            watcher.armed.append(sim.now + self.within)

    def __str__(self) -> str:
        return (f"t={self.at:.3f}s isolate the next strong writer whose entry reached one home "
                f"(within {self.within:g} s)")
