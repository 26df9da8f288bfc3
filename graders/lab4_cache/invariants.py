"""Invariants of the cache, checked as the run goes, and a fault action aimed at writers.

``StrongWrites`` watches every run the Lab 4 graders make (``harness.cluster``): **when a
strong put or delete is acknowledged with version V, at least W = 2 distinct home replicas of
the key hold version V or newer** (``peek``, the handout's section 5.4). A coordinator that
counts a duplicated or resent acknowledgement twice, counts one from an earlier operation, or
answers before W homes stored the entry, breaks it at the moment it replies.

``IsolateWriter`` is a fault action: the next strong put whose entry has reached exactly one
home is cut off right then, so strong reads overlap a write that one home holds and two do
not (a read that returns it without writing it back lets a later read return the older one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from labkit import Operation, PropertyViolation, Simulation
from labkit.events import REPLY
from labkit.jsoncopy import dumps

W = 2
STRONG_ACKED = "a strong write is acknowledged only once W = 2 distinct home replicas hold it"


def _version(copy) -> tuple:
    return (-1, "") if copy is None else tuple(copy["version"])


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
            if self.armed and self.writes:
                self.spread(sim, ev)
        elif kind == "request":
            op = sim.history[ev.ref - 1]
            body = op.input
            if body.get("consistency") == "strong" and body.get("op") in ("put", "delete"):
                self.pending[op.id] = op
                if self.armed and body.get("op") == "put":
                    self.writes[op.id] = (op, dumps(body.get("value")), set())
        elif kind == REPLY and not ev.detail.startswith("(late"):
            op = sim.history[ev.ref - 1]
            self.writes.pop(op.id, None)
            self.pending.pop(op.id, None)
            body = op.input
            if (op.ok and body.get("consistency") == "strong"
                    and body.get("op") in ("put", "delete")
                    and isinstance(op.output.get("version"), list)):
                self.check(sim, op)
                self.last_ack = op

    def check(self, sim: Simulation, op: Operation) -> None:
        key = op.input.get("key")
        if not isinstance(key, str):
            return
        acked = tuple(op.output["version"])
        homes = [n for n in self.homes_of(key) if n in sim.node_ids]
        copies = {n: (None if sim.node(n) is None else sim.node(n).peek(key)) for n in homes}
        holding = [n for n in homes if _version(copies[n]) >= acked]
        if len(holding) >= W:
            return
        listing = "; ".join(f"{n} holds " + ("nothing (down)" if sim.node(n) is None else
                                            "nothing" if copies[n] is None else
                                            f"version {list(_version(copies[n]))}")
                            for n in homes)
        what = (f"strong {op.input.get('op')} of {key}"
                + (f"={op.input.get('value')!r}" if op.input.get("op") == "put" else ""))
        raise PropertyViolation(
            STRONG_ACKED,
            f"op#{op.id} ({what} on {op.node}, called at t={op.call:.3f}s) was acknowledged "
            f"with version {list(acked)} at t={op.ret:.3f}s, but only {len(holding)} of its "
            f"home replicas {'holds' if len(holding) == 1 else 'hold'} that version or a newer "
            f"one: {listing}. Count each home once "
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
