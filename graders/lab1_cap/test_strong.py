"""Strong consistency, the CP side: a strong write needs a majority or is refused in time
with no effect; an acknowledged one is seen by every later strong read. Handout: section 4."""

from __future__ import annotations

import pytest
from hypothesis import given

from labkit import NetworkConfig, PropertyViolation
from labkit.faults import RecoverAll
from labkit.grading.scenario import scenario
from labkit.strategies import aimed_schedules, grading_settings, seeds

from .cluster import (NODES, REPLY_DEADLINE, Cluster, acked, describe_replicas,
                      fail_fast_if_unfinished, outcome, refused, show, value_of, version_of)
from .properties import (check_acked_strong_writes_read, check_converged,
                         check_reads_return_written_values, check_refused_invisible)

MAJORITY_SIDE = "strong requests succeed where a majority is reachable"
MINORITY_REFUSES = "a strong write without a majority is refused within the timeout"
PREVIOUS_STAYS = "a refused strong write leaves the previous value in place"
ONLY_WITH_MAJORITY = "a strong write is acknowledged only once a majority holds it"
READ_MAJORITY = "a strong read answers from a majority, or refuses in time"


def expect_in_time(op, prop: str) -> None:
    """A strong operation must be answered within STRONG_TIMEOUT + slack."""
    if op.ret is None or op.latency > REPLY_DEADLINE + 1e-9:
        when = "no reply at all" if op.ret is None else f"a reply after {op.latency:.3f}s"
        raise PropertyViolation(prop, f"{op.describe()}: {when}; a strong request must be "
                                      f"answered within {REPLY_DEADLINE:g}s (STRONG_TIMEOUT "
                                      f"0.5 s + 0.1 s slack), refused if need be", time=op.call)


def expect_acked(op, prop: str) -> None:
    expect_in_time(op, prop)
    if not acked(op):
        raise PropertyViolation(prop, f"{op.describe()}: a majority was reachable, so this "
                                      f"must succeed ({outcome(op)} instead)", time=op.ret)
    version = version_of(op)
    if op.input["op"] == "set" and (version is None or version[1] != op.node):
        raise PropertyViolation(prop, f"{op.describe()} carries version {show(version)}; a "
                                      f"write coordinated by {op.node} has version "
                                      f"[counter, {op.node!r}]", time=op.ret)


def expect_refused(op, prop: str) -> None:
    expect_in_time(op, prop)
    if not refused(op):
        raise PropertyViolation(prop, f"{op.describe()}: {op.node} could not reach a majority, "
                                      f"so the reply must be {{'error': "
                                      f"'insufficient_replicas'}} ({outcome(op)} instead)",
                                time=op.ret)


@pytest.mark.points(7)
def test_strong_write_succeeds_on_majority_side(lab):
    """Strong writes succeed on the majority side

    Strong writes are acknowledged (within 0.6 s) on a healthy cluster, on both nodes of the
    majority side of a 2|1 partition, and with one node crashed; a strong read on the majority
    side then returns the last of them. Handout: section 4."""
    for seed in range(3):
        c = Cluster(lab, seed)
        lonely = NODES[seed % 3]
        pair = [n for n in NODES if n != lonely]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            for node in NODES:
                expect_acked(c.call(c.set(node, "x", f"healthy-{node}", strong=True)),
                             MAJORITY_SIDE)
            c.sim.partition(pair, [lonely])
            for node in pair:
                expect_acked(c.call(c.set(node, "x", f"split-{node}", strong=True)),
                             MAJORITY_SIDE)
            read = c.call(c.get(pair[0], "x", strong=True))
            expect_acked(read, MAJORITY_SIDE)
            if value_of(read) != f"split-{pair[1]}":
                raise PropertyViolation(MAJORITY_SIDE, f"{read.describe()}: the last strong "
                                                       f"write was 'split-{pair[1]}'")
            c.sim.heal()
            c.sim.crash(lonely)
            expect_acked(c.call(c.set(pair[1], "y", "one-down", strong=True)), MAJORITY_SIDE)
            check_reads_return_written_values(c.node_ops())


@pytest.mark.points(9)
def test_strong_write_refused_in_minority(lab):
    """Strong writes are refused in the minority, in time

    Once the majority side has accepted a strong write, the same request on the lonely node
    gets {"error": "insufficient_replicas"} within 0.6 s: when partitioned away, when both
    peers are down, and when it can send but not receive; meanwhile 20% of messages are lost,
    50% duplicated and 30% delayed up to 0.3 s (a duplicated answer counts once). Never a
    hang. 12 seeds. Handout: section 4."""
    for seed in range(12):
        c = Cluster(lab, seed)
        lonely = NODES[seed % 3]
        pair = [n for n in NODES if n != lonely]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            c.sim.partition(pair, [lonely])
            expect_acked(c.call(c.set(pair[0], "x", "majority", strong=True)), MAJORITY_SIDE)
            c.sim.set_network(loss=0.2, duplicate=0.5, long_delay=0.3, long_delay_max=0.3)
            expect_refused(c.call(c.set(lonely, "x", "partitioned", strong=True)),
                           MINORITY_REFUSES)
            c.sim.heal()
            for other in pair:
                c.sim.cut(other, lonely)           # lonely can talk, but hears nothing
            expect_refused(c.call(c.set(lonely, "x", "deaf", strong=True)), MINORITY_REFUSES)
            c.sim.heal()
            for other in pair:
                c.sim.crash(other)
            expect_refused(c.call(c.set(lonely, "x", "alone", strong=True)), MINORITY_REFUSES)


@pytest.mark.points(7)
def test_refused_write_keeps_previous_value(lab):
    """A refused strong write keeps the previous value

    A key holds an old value everywhere; a node that cannot reach a majority (isolated, or
    able to send but not to receive) tries a strong write of a new value. The write is
    refused, no node ever shows the new value (reads every 50 ms), and the old value stays
    on every node, also after the heal. Handout: section 4."""
    for seed in range(3):
        c = Cluster(lab, seed)
        lonely = NODES[seed % 3]
        others = [n for n in NODES if n != lonely]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            expect_acked(c.call(c.set(others[0], "x", "old", strong=True)), MAJORITY_SIDE)
            c.run_until(0.5)
            expect_everywhere(c, "x", "old", "after the first strong write")
            for attempt, cut_off in (("new-isolated", lambda: c.sim.isolate(lonely)),
                                     ("new-deaf", lambda: [c.sim.cut(o, lonely) for o in others])):
                cut_off()
                write = c.set(lonely, "x", attempt, strong=True)
                poll_until_done(c, write)
                expect_refused(write, MINORITY_REFUSES)
                check_refused_invisible(c.node_ops())
                expect_everywhere(c, "x", "old", f"after the refused write of {attempt!r}")
                c.sim.heal()
                c.run_until(c.now + 1.0)
                check_refused_invisible(c.node_ops())
                expect_everywhere(c, "x", "old", f"1 s after the heal that followed the refused "
                                                 f"write of {attempt!r}")
            read = c.call(c.get(lonely, "x", strong=True))
            expect_acked(read, MAJORITY_SIDE)
            if value_of(read) != "old":
                raise PropertyViolation(PREVIOUS_STAYS, f"{read.describe()}: expected 'old'")


def poll_until_done(c: Cluster, op, every: float = 0.05) -> None:
    """Read the key on every node every ``every`` seconds until ``op`` completes."""
    key = op.input["key"]
    while not op.done:
        for node in NODES:
            c.get(node, key)
        c.sim.run_while(lambda: not op.done, every)


def expect_everywhere(c: Cluster, key: str, value: str, when: str) -> None:
    held = c.read_replicas([key])[key]
    if any(v != value for _, v in held.values()):
        raise PropertyViolation(PREVIOUS_STAYS, f"{when}, every node must hold {value!r} for "
                                                f"key {key!r}: {describe_replicas(held)}",
                                time=c.now)


@pytest.mark.points(7)
def test_refused_write_never_visible(lab):
    """Refused strong writes are never visible

    Generated partitions, cuts, crashes, pauses and message loss while clients issue strong
    and eventual writes and read every node every 0.1 s: no read, eventual or strong, before
    or after the heal at t=3.5 s, ever returns the value of a write that was refused with
    insufficient_replicas. Handout: section 4."""
    fail_fast_if_unfinished(lab)
    refused_never_visible(lab)


@grading_settings(max_examples=25)
@given(schedule=aimed_schedules(NODES, ("writer", "coordinator"), end=3.0, max_actions=8),
       seed=seeds())
def refused_never_visible(lab, schedule, seed):
    c = Cluster(lab, seed)
    keys = ["a", "b"]
    schedule = tuple(schedule) + (RecoverAll(3.5),)
    with scenario(c.sim, seed=seed, schedule=schedule):
        c.sim.apply_schedule(schedule)
        for i in range(24):
            t = round(c.rng.uniform(0.05, 3.0), 3)
            node, key = c.rng.choice(NODES), c.rng.choice(keys)
            strong = c.rng.random() < 0.75
            c.at(t, lambda node=node, key=key, i=i, strong=strong:
                 c.set(node, key, f"{key}{i}", strong=strong))
        for step in range(1, 50):
            strong = step % 5 == 0
            c.at(step * 0.1, lambda strong=strong: [c.get(n, k, strong=strong)
                                                    for n in NODES for k in keys])
        c.run_until(6.0)
        check_refused_invisible(c.node_ops())
        check_reads_return_written_values(c.node_ops())


@pytest.mark.points(5)
def test_strong_write_acknowledged_only_with_majority(lab):
    """A strong write is acknowledged only once a majority holds it

    n1 gets its prepares answered, then loses its outgoing links before the value reaches a
    peer. The write is decided (n1 shows it), but no majority holds it: the reply must not be
    ok (a strong read on n2 and n3 cannot see it) nor insufficient_replicas (it is visible),
    and it must come within 0.6 s. After the heal, every node holds it. Handout: section 4."""
    for latency, cut_at in ((0.005, 0.007), (0.003, 0.004)):
        c = Cluster(lab, 0, network=NetworkConfig(min_latency=latency, max_latency=latency))
        with scenario(c.sim, seed=0):
            c.run_until(0.1)
            expect_acked(c.call(c.set("n2", "x", "x0", strong=True)), MAJORITY_SIDE)
            c.run_until(1.0)
            write = c.set("n1", "x", "x1", strong=True)
            c.at(1.0 + cut_at, lambda: [c.sim.cut("n1", "n2"), c.sim.cut("n1", "n3")])
            poll_until_done(c, write)
            expect_in_time(write, ONLY_WITH_MAJORITY)
            c.run_until(1.0 + REPLY_DEADLINE)
            read = c.call(c.get("n2", "x", strong=True))
            expect_acked(read, READ_MAJORITY)
            check_acked_strong_writes_read(c.node_ops())
            c.sim.heal()
            c.run_until(c.now + 2.0)
            check_refused_invisible(c.node_ops())
            check_converged(c, ["x"])


@pytest.mark.points(8)
def test_acked_strong_write_is_read(lab):
    """Acknowledged strong writes are seen by every later strong read

    Generated partitions, cuts, crashes, pauses and message loss while clients issue strong
    writes and strong reads on every node; every strong read that starts after a strong
    write was acknowledged returns that write's version or a newer one. After the heal at
    t=3.5 s, strong reads succeed on every node. Handout: section 4."""
    fail_fast_if_unfinished(lab)
    acked_strong_write_is_read(lab)


@grading_settings(max_examples=25)
@given(schedule=aimed_schedules(NODES, ("writer", "coordinator"), end=3.0, max_actions=8),
       seed=seeds())
def acked_strong_write_is_read(lab, schedule, seed):
    c = Cluster(lab, seed)
    keys = ["a", "b"]
    schedule = tuple(schedule) + (RecoverAll(3.5),)
    with scenario(c.sim, seed=seed, schedule=schedule):
        c.sim.apply_schedule(schedule)
        for i in range(40):
            t = round(c.rng.uniform(0.05, 3.0), 3)
            node, key = c.rng.choice(NODES), c.rng.choice(keys)
            if c.rng.random() < 0.5:
                c.at(t, lambda node=node, key=key, i=i: c.set(node, key, f"{key}{i}",
                                                               strong=True))
            else:
                c.at(t, lambda node=node, key=key: c.get(node, key, strong=True))
        c.run_until(4.0)
        final = [c.get(n, k, strong=True) for n in NODES for k in keys]
        c.sim.run_until_done(*final)
        for op in final:
            expect_acked(op, READ_MAJORITY)
        check_acked_strong_writes_read(c.node_ops())
        check_reads_return_written_values(c.node_ops())


@pytest.mark.points(6)
def test_strong_read_needs_majority(lab):
    """Strong reads need a majority

    A strong read returns the newest value held by a majority, even on a node whose own
    replica is stale (it missed a strong write made while it was partitioned away), and a
    node cut off from both peers refuses with insufficient_replicas within 0.6 s.
    Handout: section 4."""
    for seed in range(3):
        c = Cluster(lab, seed)
        stale = NODES[seed % 3]
        a, b = [n for n in NODES if n != stale]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            expect_acked(c.call(c.set(a, "x", "first", strong=True)), MAJORITY_SIDE)
            for node in NODES:
                read = c.call(c.get(node, "x", strong=True))
                expect_acked(read, READ_MAJORITY)
                if value_of(read) != "first":
                    raise PropertyViolation(READ_MAJORITY, f"{read.describe()}: expected "
                                                           f"'first'")
            c.sim.partition([a, b], [stale])
            expect_acked(c.call(c.set(a, "x", "second", strong=True)), MAJORITY_SIDE)
            c.sim.partition([a], [b, stale])
            read = c.call(c.get(stale, "x", strong=True))
            expect_acked(read, READ_MAJORITY)
            if value_of(read) != "second":
                raise PropertyViolation(
                    READ_MAJORITY, f"{read.describe()}: {b} holds 'second' (acknowledged "
                                   f"while {stale} was partitioned away), and {stale} can reach "
                                   f"{b}: a majority read must return it")
            lonely = c.call(c.get(a, "x", strong=True))
            expect_in_time(lonely, READ_MAJORITY)
            if not refused(lonely):
                raise PropertyViolation(READ_MAJORITY, f"{lonely.describe()}: {a} is cut off "
                                                       f"from both peers, so the reply must be "
                                                       f"insufficient_replicas")
