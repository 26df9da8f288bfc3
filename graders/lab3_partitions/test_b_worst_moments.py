"""Part B, faults aimed at the quorum: a lossy and duplicating network on both sides of a
partition, late and reordered replies across requests, and crashes at the worst moments (right
after a coordinator acknowledged a write, right before a replica saves one). Every run also
checks, after every event, that an acknowledged write is held in storage by a majority of
distinct nodes (``invariants.AcknowledgedWrites``). Handout: sections 4.2, 4.3 and 4.6."""

from __future__ import annotations

import random

import pytest

from labkit import PropertyViolation
from labkit.faults import CrashAfter, CrashAtWrite, disarm
from labkit.grading.scenario import scenario

from .harness import (NO_QUORUM, NODES, QUORUM_TIMEOUT, SLACK, check_linearizable, cluster,
                      describe, explain_reach, finish, read, violation_time, write)
from .invariants import ACKED_KEPT

LOSS, DUPLICATE = 0.15, 0.3          # the lossy network of test_lossy_network_...
LONG_DELAY, LONG_DELAY_MAX = 0.3, 0.2
LOSSY_MAJORITY = "the majority side succeeds under message loss"
MINORITY_REFUSES = "the minority side refuses within 0.5 s"
# Seeds of each scripted scenario (module constants, so an instructor can widen them).
LOSSY_SEEDS, LATE_SEEDS, CRASH_SEEDS = range(12), range(10), range(16)


def lossy(loss: float = LOSS, duplicate: float = DUPLICATE) -> str:
    return (f"messages are lost with probability {loss:g} and duplicated with probability "
            f"{duplicate:g}")


@pytest.mark.points(10)
def test_lossy_network_majority_serves_minority_refuses(lab):
    """Under loss and duplication the majority side still succeeds, the minority still refuses

    A random 3-2 partition; 15% of messages are lost and 30% duplicated. Three rounds: every
    node writes and then reads at once; on the majority side every request must succeed
    within 0.5 s (keep resending what was lost), on the minority side every request must
    answer no_quorum within 0.5 s (a duplicated reply counts once). Then messages are also
    delayed up to 0.2 s: the minority must still refuse within 0.5 s. The history must be
    linearizable. 12 seeds. Handout: sections 4.2 and 4.3."""
    for seed in LOSSY_SEEDS:
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            majority = sorted(rng.sample(NODES, 3))
            minority = [n for n in NODES if n not in majority]
            sim.partition(majority, minority)
            sim.set_network(loss=LOSS, duplicate=DUPLICATE)
            for round in range(3):
                for kind in ("write", "read"):
                    ops = [(write(sim, n, "x" if n in majority else f"m{round}", f"r{round}@{n}")
                            if kind == "write" else read(sim, n, "x")) for n in NODES]
                    finish(sim, *ops)
                    for op in ops:
                        why = f"{explain_reach(sim, op.node)} and {lossy()}"
                        if op.node in majority:
                            expect_served(op, why)
                        else:
                            expect_refused(op, why)
            sim.set_network(loss=LOSS, duplicate=DUPLICATE, long_delay=LONG_DELAY,
                            long_delay_max=LONG_DELAY_MAX)
            ops = [f(sim, n, "x", *args) for n in NODES
                   for f, args in ((write, (f"late@{n}",)), (read, ()))]
            finish(sim, *ops)
            for op in ops:
                if op.node in minority:
                    expect_refused(op, f"{explain_reach(sim, op.node)}, {lossy()} and "
                                       f"{LONG_DELAY:.0%} are delayed up to {LONG_DELAY_MAX:g} s")
            sim.heal()
            sim.set_network(loss=0.0, duplicate=0.0, long_delay=0.0)
            sim.run_for(QUORUM_TIMEOUT)
            check_linearizable(sim)


def expect_served(op, why: str) -> None:
    if op.ok and op.latency <= QUORUM_TIMEOUT + SLACK:
        return
    raise PropertyViolation(LOSSY_MAJORITY, f"{why}, so it must succeed within "
                                            f"{QUORUM_TIMEOUT:g} s: a phase message or a reply "
                                            f"that was lost is sent again; {describe(op)}",
                            time=violation_time(op, QUORUM_TIMEOUT))


def expect_refused(op, why: str) -> None:
    if op.output == NO_QUORUM and op.latency is not None and op.latency <= QUORUM_TIMEOUT + SLACK:
        return
    raise PropertyViolation(MINORITY_REFUSES, f"{why}, so it must answer {NO_QUORUM} within "
                                              f"{QUORUM_TIMEOUT:g} s; {describe(op)}",
                            time=violation_time(op, QUORUM_TIMEOUT))


@pytest.mark.points(5)
def test_late_replies_count_only_for_their_request(lab):
    """Late, duplicated and reordered replies count only for the request they answer

    No partition, but 30% of messages are duplicated and 30% delayed up to 0.2 s, so the
    replies to one write of a key arrive while the next write of that key runs. Two nodes
    write x back to back and a third reads it, 8 writes each. Then one of the writers, just
    rebooted, writes while the other two are paused, crashes, restarts and writes again; in
    that write's store phase the paused two resume and answer the write from before the
    restart, replies that must not count. At every acknowledgement a majority of distinct
    nodes must hold the value in storage, replicas must never give up a newer value for an
    older one, and the history must be linearizable. 10 seeds. Handout: sections 4.2, 4.6."""
    for seed in LATE_SEEDS:
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        writers = rng.sample(NODES, 3)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            sim.set_network(duplicate=0.3, long_delay=LONG_DELAY, long_delay_max=LONG_DELAY_MAX)
            done = []

            def loop(node: str, left: int, reader: bool = False) -> None:
                if left == 0:
                    done.append(node)
                    return
                op = (read(sim, node, "x") if reader else
                      write(sim, node, "x", f"{node}:{9 - left}"))
                op.then(lambda _: loop(node, left - 1, reader))

            loop(writers[0], 8)
            loop(writers[1], 8)
            loop(writers[2], 8, reader=True)
            sim.run_while(lambda: len(done) < 3, limit=20.0)
            sim.set_network(duplicate=0.0, long_delay=0.0)
            sim.run_for(QUORUM_TIMEOUT)
            replies_from_before_a_restart(sim, *writers)
            if not any(op.ok for op in sim.history if op.input.get("op") == "write"):
                raise PropertyViolation(LOSSY_MAJORITY, "every node is up and connected and no "
                                        "message is lost, yet no write succeeded",
                                        time=sim.now)
            check_linearizable(sim)


def replies_from_before_a_restart(sim, coordinator: str, *paused: str) -> None:
    """``coordinator`` (just rebooted) writes while two replicas are paused, crashes right
    after, restarts and writes again. Once the second write is in its store phase, the other
    replicas pause, the paused ones resume and answer the first write, and then the links
    to them are cut (the new stores are lost): those replies belong to an earlier
    incarnation and must not count, so the second write cannot be acknowledged."""
    sim.restart(coordinator)
    for node in paused:
        sim.pause(node)
    first = write(sim, coordinator, "x", f"before-restart@{coordinator}")
    finish(sim, first)
    sim.crash(coordinator)
    sim.restart(coordinator)
    second = write(sim, coordinator, "x", f"after-restart@{coordinator}")
    marker = f'"{second.input["value"]}"'
    resumed = []

    def resume_when_storing(sim, ev) -> None:
        if not resumed and ev.kind == "send" and ev.node == coordinator and marker in ev.detail:
            resumed.append(sim.now)
            sim.note_fault(f"{coordinator} is storing {second.input['value']!r}: the others "
                           f"pause, and {', '.join(paused)} resume and answer what they held "
                           f"from {coordinator}'s previous incarnation; then the links from "
                           f"{coordinator} to them are cut")
            others = [n for n in NODES if n != coordinator and n not in paused]
            for node in others:
                sim.pause(node)                  # they hold the new stores, unanswered
            for node in paused:
                sim.resume(node)                 # they answer the old write at once...

            def cut() -> None:                   # ...then the new stores to them are lost
                for node in paused:
                    sim.cut(coordinator, node)
            sim.at(sim.now, cut)

    sim.subscribe(resume_when_storing)
    finish(sim, second)
    for node in NODES:
        sim.resume(node)
    sim.heal()
    sim.run_for(QUORUM_TIMEOUT)


@pytest.mark.points(5)
def test_crash_right_after_acknowledge(lab):
    """An acknowledged write survives crashes at the worst moments

    Four rounds: a random coordinator crashes right after it acknowledges a write of x, and
    another node crashes at its next storage write, before the write lands; both restart at
    once and the coordinator writes again while replies to its previous incarnation are still
    in flight (30% of messages delayed up to 0.2 s). A quorum read on a random node must then
    return the last acknowledged value; at the end all five nodes crash and restart together
    and every node must read it. The history must be linearizable. 16 seeds.
    Handout: sections 4.2 and 4.6."""
    for seed in CRASH_SEEDS:
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            sim.set_network(long_delay=LONG_DELAY, long_delay_max=LONG_DELAY_MAX)
            last = None
            for round in range(4):
                coordinator = rng.choice(NODES)
                replica = rng.choice([n for n in NODES if n != coordinator])
                sim.apply_schedule((CrashAfter(sim.now, coordinator, "reply"),
                                    CrashAtWrite(sim.now, replica)))
                w = write(sim, coordinator, "x", f"w{round}")
                finish(sim, w)
                for node in (coordinator, replica):
                    if not sim.is_up(node):
                        sim.restart(node)
                again = write(sim, coordinator, "x", f"w{round}-again")
                finish(sim, again)
                disarm(sim)                          # a trigger that did not fire goes now
                restart_crashed(sim)
                for op in (w, again):
                    if op.ok:
                        last = op
                if last is not None:
                    r = read(sim, rng.choice(NODES), "x")
                    finish(sim, r)
                    expect_last(r, last, f"{coordinator} crashed right after it acknowledged "
                                         f"x={w.input['value']!r} and {replica} at its next "
                                         f"storage write; both restarted")
                restart_crashed(sim)
            sim.set_network(long_delay=0.0)
            sim.run_for(QUORUM_TIMEOUT)
            for node in NODES:
                sim.crash(node)
            for node in NODES:
                sim.restart(node)
            if last is not None:
                for node in NODES:
                    r = read(sim, node, "x")
                    finish(sim, r)
                    expect_last(r, last, "then all five nodes crashed and restarted together")
            check_linearizable(sim)


def restart_crashed(sim) -> None:
    for node in NODES:
        if not sim.is_up(node):
            sim.restart(node)


def expect_last(op, last, why: str) -> None:
    value = last.input["value"]
    if op.ok and op.output.get("value") == value:
        return
    raise PropertyViolation(ACKED_KEPT, f"x={value!r} (op#{last.id}) is the last write "
                                        f"acknowledged (at t={last.ret:.3f}s, by {last.node}); "
                                        f"{why}; every node is up and connected, so a quorum "
                                        f"read must return {value!r}; {describe(op)}",
                            time=violation_time(op, QUORUM_TIMEOUT))
