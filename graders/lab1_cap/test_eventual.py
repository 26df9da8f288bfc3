"""Eventual consistency, the AP side: writes are accepted everywhere at once, replicated in the
background, and every replica settles on the same winner. Handout: sections 3 and 5."""

from __future__ import annotations

import pytest
from hypothesis import given

from labkit import PropertyViolation
from labkit.faults import RecoverAll
from labkit.grading.scenario import scenario
from labkit.strategies import aimed_schedules, grading_settings, seeds

from .cluster import (CONVERGE_WITHIN, NODES, Cluster, acked, describe_replicas,
                      fail_fast_if_unfinished, show, value_of, version_of)
from .properties import (check_converged, check_reads_return_written_values,
                         check_refused_invisible)

ACK_AT_ONCE = "an eventual write is acknowledged at once, without waiting for any peer"
AVAILABLE = "eventual requests are served on both sides of a partition"
ONE_WINNER = "concurrent writes settle on one winner everywhere"
LATER_WINS = "a write made after another was seen replaces it"


def expect_acked_at_once(op, node: str) -> None:
    if not acked(op):
        raise PropertyViolation(ACK_AT_ONCE, f"{op.describe()}: expected {{'ok': true, "
                                             f"'version': [counter, {node!r}]}}")
    if op.ret != op.call:
        raise PropertyViolation(
            ACK_AT_ONCE, f"{op.describe()} was answered {op.latency * 1000:.1f} ms after the "
                         f"request; reply in the same handler, before any message comes back")
    version = version_of(op)
    if version is None or version[1] != node:
        raise PropertyViolation(
            ACK_AT_ONCE, f"{op.describe()} carries version {show(version)}; a write "
                         f"coordinated by {node} has version [counter, {node!r}]")


@pytest.mark.points(6)
def test_eventual_write_acknowledged_at_once(lab):
    """Eventual writes are acknowledged at once

    An eventual set is answered in the same instant it arrives, with a version
    [counter, node], on a healthy network, on a node cut off from both peers, and on a node
    whose peers are down; the node's own get returns it right away. Handout: section 3."""
    for seed in range(3):
        c = Cluster(lab, seed)
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            for i, node in enumerate(NODES):
                expect_acked_at_once(c.call(c.set(node, f"k{i}", f"healthy-{node}")), node)
            lonely = NODES[seed % 3]
            c.sim.isolate(lonely)
            expect_acked_at_once(c.call(c.set(lonely, "x", f"isolated-{lonely}")), lonely)
            c.sim.heal()
            for other in NODES:
                if other != lonely:
                    c.sim.crash(other)
            expect_acked_at_once(c.call(c.set(lonely, "x", f"alone-{lonely}")), lonely)
            got = c.call(c.get(lonely, "x"))
            if value_of(got) != f"alone-{lonely}":
                raise PropertyViolation(ACK_AT_ONCE, f"{got.describe()}: {lonely} just "
                                                     f"acknowledged 'alone-{lonely}'")


@pytest.mark.points(7)
def test_eventual_available_on_both_sides(lab):
    """Eventual writes stay available on both sides of a partition

    With the cluster split 2|1, every node accepts eventual writes at once, writes spread
    within each side while the partition lasts, and after the heal every node holds every
    side's writes. Handout: section 3."""
    for seed in range(3):
        c = Cluster(lab, seed)
        lonely = NODES[seed % 3]
        pair = [n for n in NODES if n != lonely]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            c.sim.partition(pair, [lonely])
            ops = {node: c.call(c.set(node, f"key-{node}", f"{node}-during")) for node in NODES}
            for node, op in ops.items():
                expect_acked_at_once(op, node)
            c.run_until(c.now + 1.0)
            side = c.read_replicas([f"key-{n}" for n in pair], nodes=pair)
            for key, held in side.items():
                if any(value is None for _, value in held.values()):
                    raise PropertyViolation(
                        AVAILABLE, f"1 s into the partition, key {key!r} written on "
                                   f"{', '.join(pair)}'s side is still missing there: "
                                   f"{describe_replicas(held)}", time=c.now)
            c.sim.heal()
            c.run_until(c.now + CONVERGE_WITHIN)
            check_converged(c, [f"key-{n}" for n in NODES])
            check_reads_return_written_values(c.node_ops())


@pytest.mark.points(12)
def test_replicas_converge_after_heal(lab):
    """Replicas converge after faults heal

    Generated partitions, one-way cuts, crashes, pauses, message loss, duplication and
    reordering while clients write (mostly eventual, some strong) on every node; then every
    fault heals at t=3.5 s. 2 s later every node holds the same value of every key, the
    newest acknowledged write (a write whose coordinator crashed later is excused).
    Handout: sections 3 and 6."""
    fail_fast_if_unfinished(lab)
    converge_after_heal(lab)


@grading_settings(max_examples=30)
@given(schedule=aimed_schedules(NODES, ("writer", "coordinator"), end=3.0, max_actions=8),
       seed=seeds())
def converge_after_heal(lab, schedule, seed):
    c = Cluster(lab, seed)
    keys = ["a", "b", "c"]
    schedule = tuple(schedule) + (RecoverAll(3.5),)
    with scenario(c.sim, seed=seed, schedule=schedule):
        c.sim.apply_schedule(schedule)
        for i in range(30):
            t = round(c.rng.uniform(0.05, 3.0), 3)
            node, key = c.rng.choice(NODES), c.rng.choice(keys)
            strong = c.rng.random() < 0.2
            c.at(t, lambda node=node, key=key, i=i, strong=strong:
                 c.set(node, key, f"{key}{i}", strong=strong))
        c.run_until(3.5 + CONVERGE_WITHIN)
        check_converged(c, keys, schedule=schedule)
        check_reads_return_written_values(c.node_ops())
        check_refused_invisible(c.node_ops())


@pytest.mark.points(7)
def test_concurrent_writes_one_winner(lab):
    """Concurrent writes settle on one winner

    All three nodes write the same key at the same instant (and again while split into three
    singletons); after the heal every node holds the value of the write with the highest
    version, so versions must be ordered the same way on every node. Handout: section 5."""
    for seed in range(4):
        c = Cluster(lab, seed)
        with scenario(c.sim, seed=seed):
            c.run_until(0.2)
            same_instant = [c.set(node, "k", f"k-{node}") for node in NODES]
            c.run_until(0.2 + CONVERGE_WITHIN)
            expect_winner(c, "k", same_instant, "written by all three nodes at t=0.200s")
            c.sim.partition(["n1"], ["n2"], ["n3"])
            split = []
            for t in (2.5, 2.6):
                for node in NODES:
                    c.at(t, lambda node=node, t=t: split.append(c.set(node, "s", f"s-{node}-{t}")))
            c.run_until(3.0)
            c.sim.heal()
            c.run_until(3.0 + CONVERGE_WITHIN)
            expect_winner(c, "s", split, "written on three sides of a partition")


def expect_winner(c: Cluster, key: str, writes: list, how: str) -> None:
    """Every node holds the value of the highest-versioned write in ``writes``."""
    for op in writes:
        if not acked(op):
            raise PropertyViolation(ONE_WINNER, f"{op.describe()}: an eventual write is "
                                                f"always acknowledged")
    best = max(writes, key=version_of)
    winner = best.input["value"]
    held = c.read_replicas([key])[key]
    if {value for _, value in held.values()} != {winner}:
        versions = ", ".join(f"{op.input['value']!r} {show(version_of(op))}" for op in writes)
        raise PropertyViolation(
            ONE_WINNER,
            f"key {key!r} {how}: the writes got versions {versions}; the highest is "
            f"{show(version_of(best))}, so every node must end with {winner!r}, but "
            f"{describe_replicas(held)}", time=c.now)


@pytest.mark.points(4)
def test_later_write_wins(lab):
    """A write made after another was seen replaces it

    n1 writes a key five times; once every node holds the fifth value, n2 writes it once,
    later n3 once. Each later write must win everywhere: a new version is higher than every
    version the node has seen (a Lamport clock, not a per-node count). Handout: section 5."""
    for seed in range(3):
        c = Cluster(lab, seed)
        with scenario(c.sim, seed=seed):
            for i in range(5):
                c.at(0.1 + 0.1 * i, lambda i=i: c.set("n1", "k", f"first-{i}"))
            c.run_until(1.0)
            for node, t in (("n2", 1.0), ("n3", 2.5)):
                held = c.read_replicas(["k"])["k"]
                before = {value for _, value in held.values()}
                late = c.call(c.set(node, "k", f"late-{node}"))
                c.run_until(t + 1.0)
                after = c.read_replicas(["k"])["k"]
                if {value for _, value in after.values()} != {f"late-{node}"}:
                    raise PropertyViolation(
                        LATER_WINS,
                        f"every node held {sorted(before)!r} when {late.describe()} was made, "
                        f"so it must replace it everywhere; 1 s later {describe_replicas(after)}",
                        time=c.now)
                c.run_until(t + 1.5)
