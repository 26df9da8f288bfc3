"""The properties Lab 1 is graded on, as named checks over a run's client history.

Each ``check_*`` raises ``PropertyViolation(name, evidence)`` with the operations involved
(node, key, value, version, invocation and reply times), or returns quietly. Values written
by the graders are unique, so a value seen in a reply names the write it came from.
"""

from __future__ import annotations

import json
from typing import Iterable

from labkit import Operation, PropertyViolation
from labkit.faults import Crash, Restart

from .cluster import (CONVERGE_WITHIN, NODES, Cluster, acked, describe_replicas, refused, show,
                      value_of, version_of)

CONVERGENCE = "replicas converge after the faults heal"
REFUSED_INVISIBLE = "a refused strong write is never visible"
ACKED_STRONG_READ = "an acknowledged strong write is returned by every later strong read"
WRITTEN_VALUES = "reads return values that were written, with their versions"


def is_set(op: Operation) -> bool:
    return op.input.get("op") == "set"


def is_get(op: Operation) -> bool:
    return op.input.get("op") == "get"


def is_strong(op: Operation) -> bool:
    return op.input.get("consistency") == "strong"


def _writes_by_value(history: Iterable[Operation]) -> dict[tuple[str, str], Operation]:
    return {(op.input["key"], json.dumps(op.input.get("value"))): op
            for op in history if is_set(op)}


def check_refused_invisible(history: list[Operation]) -> None:
    """No read, anywhere, at any time, returns the value of a refused strong write."""
    writes = _writes_by_value(history)
    for op in history:
        if not (is_get(op) and acked(op)):
            continue
        source = writes.get((op.input["key"], json.dumps(value_of(op))))
        if source is not None and refused(source):
            raise PropertyViolation(
                REFUSED_INVISIBLE,
                f"{op.describe()} returned {value_of(op)!r}, the value of a strong write that "
                f"was refused: {source.describe()}. A refused write must leave no trace: "
                f"nothing stored or shown before the decision, nothing after.", time=op.ret)


def check_reads_return_written_values(history: list[Operation]) -> None:
    """Every value a read returns was written (by a set invoked before the read returned), and
    a value whose write was acknowledged comes with the version that write reported."""
    writes = _writes_by_value(history)
    for op in history:
        if not (is_get(op) and acked(op)) or value_of(op) is None:
            continue
        source = writes.get((op.input["key"], json.dumps(value_of(op))))
        if source is None or source.call > op.ret:
            raise PropertyViolation(
                WRITTEN_VALUES,
                f"{op.describe()} returned {value_of(op)!r}, which no set of key "
                f"{op.input['key']!r} wrote before that read returned", time=op.ret)
        if acked(source) and version_of(source) != version_of(op):
            raise PropertyViolation(
                WRITTEN_VALUES,
                f"{op.describe()} returned {value_of(op)!r} with version "
                f"{show(version_of(op))}, but the write of that value reported version "
                f"{show(version_of(source))}: {source.describe()}", time=op.ret)


def check_acked_strong_writes_read(history: list[Operation]) -> None:
    """A strong read invoked after a strong write was acknowledged returns that write's version
    or a newer one (so the write, or something that replaced it)."""
    writes = [op for op in history if is_set(op) and is_strong(op) and acked(op)]
    reads = sorted((op for op in history if is_get(op) and is_strong(op) and acked(op)),
                   key=lambda op: (op.call, op.id))
    for r in reads:
        got = version_of(r)
        for w in writes:
            if w.input["key"] != r.input["key"] or w.ret >= r.call:
                continue
            if got is None or got < version_of(w):
                raise PropertyViolation(
                    ACKED_STRONG_READ,
                    f"{r.describe()} returned version {show(got)}, older than a strong write "
                    f"acknowledged at t={w.ret:.3f}s, before that read began: {w.describe()}. "
                    f"An acknowledged strong write is held by a majority, and every majority "
                    f"read includes one node of it.", time=r.ret)


def crash_times(schedule: Iterable, sim=None) -> dict[str, list[float]]:
    """When each node crashed (a Restart of a running node is a crash too). With ``sim``, read
    from its trace: that covers faults aimed at a target ("@writer") and crash triggers."""
    times: dict[str, list[float]] = {n: [] for n in NODES}
    if sim is not None:
        for ev in sim.trace.records:
            if ev.kind == "crash" and ev.node in times:
                times[ev.node].append(ev.time)
        return times
    for action in schedule:
        if isinstance(action, (Crash, Restart)) and action.node in times:
            times[action.node].append(action.at)
    return times


def check_converged(cluster: Cluster, keys: Iterable[str], *, schedule: Iterable = ()) -> None:
    """Every node holds the same version and value of every key, and that is the newest
    acknowledged write (writes whose coordinator crashed after the write are excused: they
    may be lost)."""
    keys = sorted(keys)
    history = cluster.node_ops()
    crashes = crash_times(schedule, cluster.sim)
    replicas = cluster.read_replicas(keys)
    for key in keys:
        held = replicas[key]
        if len({(v, json.dumps(value)) for v, value in held.values()}) > 1:
            raise PropertyViolation(
                CONVERGENCE,
                f"{CONVERGE_WITHIN:g}s after the last fault healed the replicas of key {key!r} "
                f"still differ: {describe_replicas(held)}", time=cluster.now)
        version, value = held[NODES[0]]
        for w in history:
            if not (is_set(w) and acked(w) and w.input["key"] == key):
                continue
            if any(t >= w.call for t in crashes[w.node]):
                continue  # its coordinator crashed afterwards: the write may be lost
            if version is None or version < version_of(w):
                raise PropertyViolation(
                    CONVERGENCE,
                    f"every node holds {value!r} (version {show(version)}) for key {key!r}, "
                    f"but a newer write was acknowledged and its coordinator never crashed: "
                    f"{w.describe()}. The newest acknowledged write must win everywhere.",
                    time=cluster.now)
