"""Part 7's toolkit (snapshots): a cluster whose state machine takes snapshots, the checks on
what the state machine sees, and the byte counter.

The state machine is the grader's (the "service" of the handout): it folds every applied
command into a digest. Right after a node applies an index that is a multiple of ``every``,
the state machine calls ``node.snapshot(index, data)`` with ``data = {"index": index,
"digest": ...}``, its state after entries 1..index (with ``stagger``, node k is asked at the
indices equal to k modulo ``every`` instead: nodes then compact at different points). A node hands a snapshot back with
``self.restore_snapshot(index, data)`` (after a restart, or on installing the leader's): the
state machine then checks that ``data`` is the state it had at ``index`` and that it is not
behind what this run of the node already applied. ``invariants.RaftChecker`` sees logs after a
snapshot whole (the committed entries 1..snapshot_index, then the log) and a restored snapshot
as the applies 1..index, so every Raft invariant keeps its meaning.
"""

from __future__ import annotations

import zlib
from typing import Any

from labkit import NetworkConfig, PropertyViolation
from labkit.events import HANDLED, SEND
from labkit.faults import RecoverAll
from labkit.grading import require
from labkit.grading.scenario import scenario
from labkit.node import SNAPSHOT_KEY
from labkit.simulator import student_error

from . import harness
from .harness import Cluster, ShrinkBudget
from .invariants import command_key

SNAPSHOT_EVERY = 10     # the state machine asks for a snapshot after every 10th index
SNAPSHOT_STATE = "snapshot state"
LOG_BOUND = "stored log bound"


def _digest(previous: str, command: Any) -> str:
    key = command_key(command)
    text = key if isinstance(key, str) else repr(key)
    return f"{zlib.crc32(text.encode(), int(previous, 16)):08x}"


def is_restore(command: Any) -> bool:
    return type(command) is dict and len(command) == 1 and SNAPSHOT_KEY in command


class SnapshotCluster(Cluster):
    """A ``harness.Cluster`` whose state machine asks for snapshots (see module doc)."""

    def __init__(self, lab: Any, n: int = harness.N, *, seed: int = 0,
                 network: NetworkConfig | None = None, every: int = SNAPSHOT_EVERY,
                 stagger: bool = False, max_time: float = 60.0) -> None:
        node_class = require(lab, "RaftNode")
        if not callable(getattr(node_class, "snapshot", None)):
            raise NotImplementedError(
                "RaftNode.snapshot(index, data) is missing: Part 7 (snapshots) is not done")
        self.every = every
        self.stagger = stagger   # node k snapshots at indices = k (mod every), not 0 (mod every)
        self.digest_at: dict[int, str] = {0: "00000000"}  # index -> the state machine's digest
        self.machine: dict[str, tuple[int, int, str]] = {}   # node -> (run, index, digest)
        self.restores: list[tuple[float, str, int]] = []     # (time, node, index)
        self.snapshots_taken = 0
        super().__init__(lab, n, seed=seed, network=network, max_time=max_time)
        self.bytes_sent = 0
        self.sent_types: dict[str, int] = {}
        self.sim.subscribe(self._count)

    # ----- the state machine -------------------------------------------------------------------

    def data_at(self, index: int) -> dict:
        return {"index": index, "digest": self.digest_at[index]}

    def _applied(self, node: str, index: int, command: Any) -> None:
        run = self.sim.incarnation[node]
        at, digest = 0, "00000000"
        if node in self.machine and self.machine[node][0] == run:
            _, at, digest = self.machine[node]
        if is_restore(command):
            self._restored(node, run, at, index, command[SNAPSHOT_KEY])
            return
        super()._applied(node, index, command)
        digest = _digest(digest, command)
        self.machine[node] = (run, index, digest)
        self.digest_at.setdefault(index, digest)
        if index % self.every == (self.nodes.index(node) + 1 if self.stagger else 0) % self.every:
            self.sim.after(0.0, lambda: self._take(node, run, index))

    def _restored(self, node: str, run: int, at: int, index: int, data: Any) -> None:
        self.restores.append((self.sim.now, node, index))
        expected = self.digest_at.get(index)
        if expected is None or data != self.data_at(index):
            wanted = ("nothing: the state machine never reached that index" if expected is None
                      else repr(self.data_at(index)))
            raise PropertyViolation(
                SNAPSHOT_STATE, f"{node} handed its state machine a snapshot at index {index} "
                f"holding {str(data)[:80]}, but the state machine's snapshot at index {index} is "
                f"{wanted}. restore_snapshot(index, data) gets back exactly the data that "
                f"snapshot(index, data) was given, with its index.", time=self.sim.now,
                nodes=(node,))
        self.machine[node] = (run, index, self.digest_at[index])
        for pid in self.checker.committed[:index]:   # the snapshot holds these commands
            self.where.setdefault(command_key(self.checker.prefixes.command[pid]), set()).add(
                (node, run))

    def _take(self, node: str, run: int, index: int) -> None:
        """Ask ``node`` to compact up to ``index`` (it applied it in run ``run``)."""
        sim = self.sim
        if not sim.is_up(node) or sim.is_paused(node) or sim.incarnation[node] != run:
            return
        obj = sim.node(node)
        sim.note(node, f"state machine: snapshot({index}, ...)")
        try:
            obj.snapshot(index, self.data_at(index))
        except Exception as exc:  # student code
            raise student_error(exc, node, f"snapshot({index}, data)", sim.now) from exc
        self.snapshots_taken += 1
        self.checker.state_changed(node)   # read its state after this step

    # ----- reading -----------------------------------------------------------------------------

    def snapshot_index(self, node: str) -> int:
        return self.state(node).get("snapshot_index", 0)

    def _count(self, sim: Any, ev: Any) -> None:
        if ev.kind == SEND:
            self.bytes_sent += len(ev.detail)
            mtype = ev.detail[9:ev.detail.find('"', 9)] if ev.detail.startswith('{"type":"') \
                else "?"
            self.sent_types[mtype] = self.sent_types.get(mtype, 0) + len(ev.detail)

    def bytes_by_type(self) -> str:
        return ", ".join(f"{t}: {b:,}" for t, b in sorted(self.sent_types.items()))

    def bound_log(self, entries: int, keys: int, beyond: int | None = None) -> None:
        """From now on, after every event: no node's log holds more than ``entries`` entries
        after its snapshot, and no node's storage more than ``keys`` keys, nor (with
        ``beyond``) more than ``beyond`` keys besides one per entry after the snapshot (keys
        left behind by each snapshot add up)."""
        seen: list[str] = []

        def note(sim: Any, ev: Any) -> None:
            if ev.kind in HANDLED and ev.node not in seen:
                seen.append(ev.node)

        def check(sim: Any) -> None:
            while seen:
                node = seen.pop()
                if not sim.is_up(node):
                    continue
                st = sim.node(node).raft_state()
                held, stored = len(st["log"]), len(sim.storage[node])
                if beyond is not None and stored > held + beyond and stored <= keys:
                    raise PropertyViolation(
                        LOG_BOUND, f"{node}'s storage holds {stored} keys, but its log only "
                        f"{held} entries after its snapshot at index "
                        f"{st.get('snapshot_index', 0)} (commit index {st['commit_index']}): "
                        f"more than {beyond} keys besides one per entry. Nothing but a "
                        f"snapshot removes entries in this run (no faults), so keys are left "
                        f"behind by each snapshot and add up: delete every compacted entry "
                        f"from storage.", time=sim.now, nodes=(node,))
                if held > entries or stored > keys:
                    raise PropertyViolation(
                        LOG_BOUND, f"{node}'s log holds {held} entries after its snapshot at "
                        f"index {st.get('snapshot_index', 0)} and its storage {stored} keys "
                        f"(commit index {st['commit_index']}); with a snapshot every "
                        f"{self.every} applied entries, at most {entries} entries and {keys} "
                        f"keys. Drop the compacted entries from the log and from storage.",
                        time=sim.now, nodes=(node,))

        self.sim.subscribe(note)
        self.sim.observe(check)


def run_snapshot_schedule(lab: Any, schedule: tuple, seed: int, *, fault_end: float,
                          network: NetworkConfig | None = None, every: int = 5,
                          stagger: bool = True,
                          budget: ShrinkBudget | None = None) -> None:
    """``harness.run_generated`` on a ``SnapshotCluster``: the faults and a client workload
    until ``fault_end``, then RecoverAll and the liveness phase; safety after every event."""
    key = (tuple(schedule), seed)
    if budget is not None and budget.skip(key):
        return
    harness.schedules_run += 1
    try:
        c = SnapshotCluster(lab, seed=seed, network=network, every=every, stagger=stagger)
        full = tuple(schedule) + (RecoverAll(fault_end),)
        c.sim.apply_schedule(full)
        c.workload(0.3, fault_end, period=0.05)
        with scenario(c.sim, seed=seed, schedule=full):
            c.sim.run_until(fault_end)
            c.await_recovery()
    except BaseException:
        if budget is not None:
            budget.failed(key)
        raise


__all__ = ["SnapshotCluster", "run_snapshot_schedule", "SNAPSHOT_EVERY", "SNAPSHOT_STATE",
           "LOG_BOUND", "is_restore"]
