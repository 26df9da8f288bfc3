"""An invariant of strong writes, checked at the moment each one is acknowledged.

``StrongAcks`` watches every run the Lab 1 graders make (``cluster.Cluster``): **when a strong
write is acknowledged, a majority (2 of 3) of distinct nodes hold it in storage**: its value,
or the value of a write of the same key that may be newer, appears in the storage of two
nodes when the reply leaves. "May be newer" is every other write of the key whose reply did
not carry an older version; the check is lenient there, never strict.
A coordinator that counts an acknowledgement of an older write of the key (or of a prepare)
as one for the value, or answers before a peer saved it, breaks it at once.
"""

from __future__ import annotations

from labkit import Operation, PropertyViolation, Simulation
from labkit.events import REPLY
from labkit.jsoncopy import dumps

MAJORITY = 2
STRONG_HELD = "a strong write is acknowledged only once a majority holds it in storage"


def _version(op: Operation) -> tuple | None:
    version = (op.output or {}).get("version")
    return tuple(version) if isinstance(version, list) and len(version) == 2 else None


class StrongAcks:
    """The invariant above, and the targets of aimed fault schedules: ``@writer``, the
    coordinator of a strong set still waiting for its answer, and ``@coordinator``, the node
    that acknowledged the last strong set."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.pending: dict[int, Operation] = {}
        self.last_ack: Operation | None = None
        sim.subscribe(self.on_event)
        sim.add_target("writer", self.writer)
        sim.add_target("coordinator", lambda sim: self.last_ack and self.last_ack.node)

    def writer(self, sim: Simulation) -> str | None:
        for op in self.pending.values():
            if not op.done and sim.is_up(op.node):
                return op.node
        return None

    def on_event(self, sim: Simulation, ev) -> None:
        if ev.kind == "request":
            op = sim.history[ev.ref - 1]
            if op.input.get("op") == "set" and op.input.get("consistency") == "strong":
                self.pending[op.id] = op
            return
        if ev.kind != REPLY or ev.detail.startswith("(late"):
            return
        op = sim.history[ev.ref - 1]
        self.pending.pop(op.id, None)
        body = op.input
        if (body.get("op") != "set" or body.get("consistency") != "strong" or not op.ok
                or op.output.get("ok") is not True):
            return
        self.last_ack = op
        mine = _version(op)
        markers = [dumps(body.get("value"))]
        for other in sim.history:
            ob = other.input
            if other is op or ob.get("op") != "set" or ob.get("key") != body.get("key"):
                continue
            theirs = _version(other) if other.ok else None
            if mine is not None and theirs is not None and theirs < mine:
                continue                                # known to be older
            markers.append(dumps(ob.get("value")))
        held = [n for n in sim.node_ids
                if any(m in raw for raw in sim.storage[n]._data.values() for m in markers)]
        if len(held) >= MAJORITY:
            return
        others = [n for n in sim.node_ids if n not in held]
        raise PropertyViolation(
            STRONG_HELD,
            f"op#{op.id} (strong set {body.get('key')}={body.get('value')!r} on {op.node}, "
            f"called at t={op.call:.3f}s) was acknowledged at t={op.ret:.3f}s with version "
            f"{op.output.get('version')}, but only {len(held)} "
            f"{'node holds' if len(held) == 1 else 'nodes hold'} that value (or a newer write "
            f"of {body.get('key')!r}) in storage: {', '.join(held) or 'none'}; "
            f"{', '.join(others)} {'does' if len(others) == 1 else 'do'} not. Reply ok once a "
            f"majority (this node included) holds the value: an acknowledgement counts only "
            f"for the write and version it answers", time=op.ret)
