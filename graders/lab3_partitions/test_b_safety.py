"""Part B, safety: quorum operations are linearizable under generated faults, acknowledged
writes survive partitions, heals and crashes, and a coordinator that dies mid-write leaves a
linearizable history. Handout: sections 4.2, 4.3 and 4.6."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given

from labkit import PropertyViolation, node_names
from labkit.events import DELIVER
from labkit.faults import Heal, RecoverAll
from labkit.grading.scenario import scenario
from labkit.strategies import aimed_schedules, grading_settings, seeds

from .harness import (CLIENT_TIMEOUT, CONVERGENCE_DEADLINE, NODES, PHASES, Clients,
                      check_linearizable, cluster, describe, expect_ok, explain_reach, finish,
                      read, require_recovery, write)
from .invariants import IsolateWriter

ACKED_NOT_LOST = "acknowledged writes are never lost"
FAULTS_END = 2.0            # the generated faults happen in [0.2, 2.0]; then everything recovers
# Clients start no operation after this. A client may wait on a dead node until
# FAULTS_END + CLIENT_TIMEOUT, so every client still issues requests after the recovery.
WORK_END = FAULTS_END + CLIENT_TIMEOUT + 0.6


# Half-done writes for the clients' reads to overlap: six times, the next writer whose value
# reached one other node is cut off (then healed). A read that returns the new value without
# writing it back to a majority lets a later read return the old one.
OVERLAP = tuple(a for k in range(6) for a in (IsolateWriter(0.25 + 0.28 * k, within=0.2),
                                              Heal(0.48 + 0.28 * k)))


@pytest.mark.points(15)
@grading_settings(max_examples=25, phases=PHASES)
@given(schedule=aimed_schedules(NODES, ("writer", "coordinator"), start=0.2, end=FAULTS_END,
                                max_actions=6), seed=seeds())
@example(schedule=OVERLAP, seed=0)
@example(schedule=OVERLAP, seed=1)
@example(schedule=OVERLAP, seed=2)
@example(schedule=OVERLAP, seed=3)
def test_quorum_ops_linearizable(lab, schedule, seed):
    """Quorum reads and writes are linearizable under partitions, crashes and message loss

    Four clients read and write two keys on random nodes while Hypothesis generates
    partitions, one-way cuts, crashes, pauses, loss, duplication and delays, some aimed at a
    node writing right now or at the coordinator of the last acknowledged write, and crashes
    right after a node's next reply, send or storage write, or at its next storage write before
    it lands; then everything
    recovers and every operation must succeed again. The history is checked key by key
    against a register. A refused or unanswered write counts as unknown. Four more runs cut
    off writers whose value reached only one other node, so reads overlap half-done writes.
    Handout: 4.2, 4.6."""
    sim = cluster(lab, seed)
    schedule = (*schedule, RecoverAll(FAULTS_END))
    sim.apply_schedule(schedule)
    clients = Clients(sim, seed, clients=4, keys=("x", "y"), until=WORK_END)
    with scenario(sim, seed=seed, schedule=schedule):
        clients.start(at=0.1)
        sim.run_until(WORK_END + CLIENT_TIMEOUT + 0.1)
        check_linearizable(sim)
        require_recovery(sim, since=FAULTS_END + 0.1)


@pytest.mark.points(12)
def test_acknowledged_writes_survive_heal(lab):
    """No acknowledged write is ever lost, also after the minority heals and after crashes

    The majority side of a partition writes while the minority's replicas fall behind; right
    after the heal a former minority node writes (its replica is stale, so the version must come
    from a majority), every node must read that write, and still after all five nodes crash and
    restart (replicas live in storage). Handout: sections 4.2, 4.5 and 4.6."""
    for seed in range(6):
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            first = write(sim, rng.choice(NODES), "x", "a0")
            finish(sim, first)
            expect_ok(first, ACKED_NOT_LOST, "every node is up and connected")
            sim.run_for(CONVERGENCE_DEADLINE)
            majority = sorted(rng.sample(NODES, 3))
            minority = [n for n in NODES if n not in majority]
            sim.partition(majority, minority)
            for i in range(1, 4):
                w = write(sim, majority[i % 3], "x", f"a{i}")
                finish(sim, w)
                expect_ok(w, ACKED_NOT_LOST, explain_reach(sim, majority[i % 3]))
            refused = write(sim, minority[0], "y", "lost-or-not")
            finish(sim, refused)
            sim.heal()
            writer = minority[1]
            last = write(sim, writer, "x", "b")
            finish(sim, last)
            expect_ok(last, ACKED_NOT_LOST, "the network is healed and every node is up")
            why = (f"x='b' was acknowledged by {writer} at t={last.ret:.3f}s (written right after "
                   f"the heal, when {writer}'s own replica still held an old version) and no "
                   f"write of x followed it")
            read_everywhere(sim, "x", "b", why)
            sim.run_for(CONVERGENCE_DEADLINE)
            for node in NODES:
                sim.crash(node)
            for node in NODES:
                sim.restart(node)
            sim.run_for(0.05)
            read_everywhere(sim, "x", "b", why + "; then all five nodes crashed and restarted")
            check_linearizable(sim)


def read_everywhere(sim, key: str, value, why: str) -> None:
    for node in NODES:
        op = read(sim, node, key)
        finish(sim, op)
        expect_ok(op, ACKED_NOT_LOST, why)
        if op.output.get("value") != value:
            raise PropertyViolation(ACKED_NOT_LOST, f"{why}, so every quorum read must return "
                                                    f"{value!r}; {describe(op)}", time=op.ret)


class CrashWhenSpread:
    """Crashes the coordinator (and cuts its links, dropping what it has in flight) as soon as
    ``spread`` other nodes have received a message carrying the value being written."""

    def __init__(self, sim, coordinator: str, value: str, spread: int):
        self.sim, self.coordinator, self.spread = sim, coordinator, spread
        self.marker = f'"{value}"'
        self.holders: list[str] = []      # nodes that got the value, in order
        self.done = spread == 0
        sim.subscribe(self.heard)

    def heard(self, sim, ev) -> None:
        if (not self.done and ev.kind == DELIVER and ev.peer == self.coordinator and self.marker in ev.detail
                and ev.node not in self.holders):
            self.holders.append(ev.node)

    def __call__(self, sim) -> None:
        """An observer: strikes after the step that spread the value far enough."""
        if self.done:
            return
        if len(self.holders) >= self.spread:
            self.done = True
            sim.isolate(self.coordinator)
            sim.crash(self.coordinator)


@pytest.mark.points(10)
def test_coordinator_crash_mid_write(lab):
    """A coordinator that crashes mid-write leaves a linearizable history

    n1 starts a write and crashes (its in-flight messages lost) before any, after one and
    after two other replicas got the new value. Quorum reads follow on the others, one of them
    on a node holding the new value, which is then cut off: once a read has returned the new
    value, no later read may return the old one. Handout: sections 4.2 and 4.6."""
    for seed in range(4):
        for spread in (0, 1, 2):
            sim = cluster(lab, seed)
            with scenario(sim, seed=seed):
                sim.run_until(0.1)
                old = write(sim, "n2", "x", "old")
                finish(sim, old)
                expect_ok(old, ACKED_NOT_LOST, "every node is up and connected")
                sim.run_for(CONVERGENCE_DEADLINE)
                watcher = CrashWhenSpread(sim, "n1", "new", spread)
                sim.observe(watcher)
                write(sim, "n1", "x", "new")
                sim.run_for(0.0)                    # n1 takes the request and starts
                sim.run_while(lambda: not watcher.done, limit=0.5)
                if sim.is_up("n1"):                 # spread 0, or the value never spread
                    sim.isolate("n1")
                    sim.crash("n1")
                survivors = [n for n in node_names(5) if n != "n1"]
                first = watcher.holders[0] if watcher.holders else survivors[0]
                r1 = read(sim, first, "x")
                finish(sim, r1)
                expect_ok(r1, "the majority side serves reads",
                          explain_reach(sim, first))
                sim.isolate(first)
                rest = [n for n in survivors if n != first]
                for node in rest:
                    r = read(sim, node, "x")
                    finish(sim, r)
                    expect_ok(r, "the majority side serves reads", explain_reach(sim, node))
                sim.heal()
                sim.restart("n1")
                for node in ("n1", first):
                    r = read(sim, node, "x")
                    finish(sim, r)
                    expect_ok(r, "the majority side serves reads", explain_reach(sim, node))
                check_linearizable(sim)             # n1's write is still pending: unknown
