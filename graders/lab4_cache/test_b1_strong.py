"""Part B, strong consistency: basic operations, strict quorums (R=2, W=2 of N=3 home replicas),
linearizability under generated single failures, and clean refusal without a quorum.
Handout: sections 4.1-4.3."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given

from labkit import PropertyViolation
from labkit.faults import Heal, RecoverAll
from labkit.grading.scenario import scenario
from labkit.strategies import aimed_schedules, grading_settings, seeds

from .harness import (CACHE_NODES, PHASES, SLACK, STRONG_TIMEOUT, Clients, check_linearizable,
                      check_reply_shape, cluster, delete, describe, expect_ok, expect_value,
                      finish, get, homes, put, running, when_heard)
from .invariants import IsolateWriter

BASICS = "put, get and delete work on every node"
MALFORMED = "a malformed request is answered {'error': 'bad_request'}"
# Requests the contract refuses (handout section 4.1): (body, what is wrong with it).
BAD_REQUESTS = (
    ({"op": "put", "key": "k", "consistency": "strong"}, "a put without a value"),
    ({"op": "put", "key": "k", "value": "v", "ttl": 0}, "a ttl of 0 (a ttl is a number > 0)"),
    ({"op": "put", "key": "k", "value": "v", "ttl": -1}, "a negative ttl"),
    ({"op": "put", "key": "k", "value": "v", "ttl": "5"}, "a ttl that is a string"),
    ({"op": "put", "key": "k", "value": "v", "ttl": True}, "a ttl that is a boolean"),
    ({"op": "get", "key": 7, "consistency": "strong"}, "a key that is not a string"),
    ({"op": "get", "key": "k", "consistency": "linear"}, "an unknown consistency"),
    ({"op": "frobnicate", "key": "k"}, "an unknown op"),
)
LAST_WRITE = "a strong read sees the last acknowledged strong write"
RECOVERS = "strong operations succeed again once the faults end"
REFUSES = "a strong operation without its quorum is refused within 0.5 s"
WRITE_BACK = "a value a strong read returned is seen by every later strong read"
QUORUM_OK = "a strong operation with its quorum succeeds within 0.5 s"
DUPLICATE = 0.3             # share of messages delivered twice in test_strong_refuses_...
# Half-done puts for the clients' strong reads to overlap: six times, the next strong put
# whose entry reached one home (its coordinator not a home) is cut off, then healed.
OVERLAP = tuple(a for k in range(6) for a in (IsolateWriter(0.3 + 0.35 * k, within=0.25),
                                              Heal(0.6 + 0.35 * k)))


@pytest.mark.points(8)
def test_basic_operations(lab):
    """Put, get and delete work on every node, at both consistency levels

    No faults. A put at one node is read back at all six (at once for strong, after 0.2 s for
    eventual), an overwrite from another node replaces it, a delete makes every node read None,
    and a key never written reads None. Replies follow the contract's shapes, and malformed
    requests (no value, a ttl that is not a number > 0, a key that is not a string, an unknown
    consistency or op) are answered {"error": "bad_request"}. Handout: 4.1."""
    for seed in range(2):
        sim = cluster(lab, seed)
        rng = random.Random(seed)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            for level in ("strong", "eventual"):
                key = f"{level}-key"
                settle = 0.0 if level == "strong" else 0.2
                for round, value in enumerate(("v1", "v2")):
                    writer = rng.choice(CACHE_NODES)
                    w = put(sim, writer, key, value, level)
                    finish(sim, w)
                    expect_ok(w, BASICS, "every node is up and connected")
                    sim.run_for(settle)
                    read_everywhere(sim, key, level, value,
                                    f"{key}={value!r} was acknowledged by {writer} at "
                                    f"t={w.ret:.3f}s" + (f" and {settle:g} s have passed"
                                                         if settle else ""))
                d = delete(sim, rng.choice(CACHE_NODES), key, level)
                finish(sim, d)
                expect_ok(d, BASICS, "every node is up and connected")
                sim.run_for(settle)
                read_everywhere(sim, key, level, None,
                                f"{key} was deleted by {d.node} at t={d.ret:.3f}s")
                read_everywhere(sim, f"{level}-never-written", level, None,
                                "that key was never written")
            for body, wrong in BAD_REQUESTS:
                node = rng.choice(CACHE_NODES)
                op = sim.request(node, body)
                finish(sim, op)
                if not op.done or not isinstance(op.output, dict) \
                        or op.output.get("error") != "bad_request":
                    raise PropertyViolation(MALFORMED, f"{body!r} is {wrong}, so {node} must "
                                                       f"answer {{'error': 'bad_request', "
                                                       f"'detail': ...}} at once; "
                                                       f"{describe(op)}", time=op.ret or op.call)


def read_everywhere(sim, key: str, level: str, value, why: str) -> None:
    for node in CACHE_NODES:
        r = get(sim, node, key, level)
        finish(sim, r)
        expect_value(r, value, BASICS, why)


@pytest.mark.points(8)
def test_strong_read_sees_last_write(lab):
    """A strong read sees the last strong write, even when one replica missed it

    For each home replica of a key in turn: that replica is cut off (or crashed), a strong put
    succeeds on the other two, the replica comes back stale, and then all six nodes do a strong
    read at the same instant: every read must return the new value (R=2 meets W=2).
    Handout: 4.2."""
    for seed in range(3):
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        key = f"shared-{seed}"
        home = homes(lab, key)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            first = put(sim, home[0], key, "v0", "strong")
            finish(sim, first)
            expect_ok(first, LAST_WRITE, "every node is up and connected")
            for round, stale in enumerate(home):
                crash = (round + seed) % 2 == 1
                sim.crash(stale) if crash else sim.isolate(stale)
                writer = rng.choice([n for n in CACHE_NODES if n != stale])
                value = f"v{round + 1}"
                w = put(sim, writer, key, value, "strong")
                finish(sim, w)
                outage = f"{stale} ({'crashed' if crash else 'cut off'}) is one of the homes "
                expect_ok(w, QUORUM_OK, f"{outage}{', '.join(home)} of {key!r}; the other two "
                                        f"answer")
                sim.run_for(0.05)
                sim.restart(stale) if crash else sim.heal()
                reads = [get(sim, node, key, "strong") for node in CACHE_NODES]
                finish(sim, *reads)
                for r in reads:
                    expect_value(r, value, LAST_WRITE,
                                 f"{key}={value!r} was acknowledged at t={w.ret:.3f}s while "
                                 f"{stale} was {'down' if crash else 'cut off'}; {stale} is back "
                                 f"(stale) and this read started later")


@pytest.mark.points(6)
def test_strong_read_writes_back(lab):
    """A value a strong read returned is seen by every later strong read (write-back)

    A strong put reaches one home only: right after its version query, its coordinator loses
    its links to the two homes that answered, and crashes. A strong read that hears the home
    with the new value and a stale one, then a strong read that hears the two stale homes: if
    the first returned the new value, so must the second. R+W>N alone is not enough: the first
    read must write the value back to W homes before it answers. Handout: 4.2."""
    for seed in range(3):
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        key = f"inversion-{seed}"
        home = homes(lab, key)
        writer, reader1, reader2 = rng.sample([n for n in CACHE_NODES if n not in home], 3)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            w = put(sim, home[0], key, "old", "strong")
            finish(sim, w)
            expect_ok(w, WRITE_BACK, "every node is up and connected")
            sim.run_for(0.6)
            struck: list[str] = []

            def strike(answered: list[str]) -> None:
                struck.extend(answered)
                for node in answered:
                    sim.cut(writer, node)
                sim.crash(writer)

            when_heard(sim, writer, home, 2, strike)
            half = put(sim, writer, key, "new", "strong")
            sim.run_for(0.05)
            if len(struck) != 2:
                raise PropertyViolation(WRITE_BACK, f"{writer} coordinated a strong put of "
                                                    f"{key!r} with every node up, but did not "
                                                    f"hear from two homes within 0.05 s",
                                        time=sim.now)
            fresh = next(n for n in home if n not in struck)
            sim.cut(reader1, struck[1])          # reader1 hears fresh and struck[0]
            sim.cut(reader2, fresh)              # reader2 hears struck[0] and struck[1]
            first = get(sim, reader1, key, "strong")
            finish(sim, first)
            second = get(sim, reader2, key, "strong")
            finish(sim, second)
            for r in (first, second):
                expect_ok(r, WRITE_BACK, f"{r.node} can reach two homes of {key!r}")
            if first.output["value"] == "new" and second.output["value"] != "new":
                raise PropertyViolation(
                    WRITE_BACK, f"the strong put {key}='new' (op#{half.id}) reached only "
                                f"{fresh}; op#{first.id} on {reader1} read {fresh} and "
                                f"{struck[0]} and returned 'new' at t={first.ret:.3f}s; op#"
                                f"{second.id} on {reader2} started after that, read "
                                f"{struck[0]} and {struck[1]}, and returned "
                                f"{second.output['value']!r}: time went backwards. A strong "
                                f"read must write the newest value back to W homes before "
                                f"it answers", time=second.ret)
            sim.heal()
            sim.restart(writer)
            sim.run_for(1.0)
            check_linearizable(sim)


@pytest.mark.points(16)
@grading_settings(max_examples=20, phases=PHASES)
@given(schedule=aimed_schedules(CACHE_NODES, ("writer", "coordinator"), start=0.1, end=2.4,
                                max_actions=6,
                                kinds=("crash", "restart", "pause", "resume", "isolate", "heal",
                                       "network", "crash_after", "crash_at_write"), max_down=1),
       seed=seeds())
@example(schedule=(), seed=0)
@example(schedule=OVERLAP, seed=1)
@example(schedule=OVERLAP, seed=2)
@example(schedule=OVERLAP, seed=3)
def test_strong_linearizable(lab, schedule, seed):
    """Strong operations are linearizable under crashes, pauses, isolation and loss

    Four clients put, get and delete two keys with consistency "strong" on random running
    nodes while generated faults strike (at most one node down at a time; any node may be cut
    off; messages may be lost, duplicated or delayed; a fault may aim at a node coordinating a
    strong write right now or at the one that acknowledged the last, and a node may crash right
    after its next reply, send or storage write, or at its next storage write). The history must be linearizable per key
    (a failed or unanswered put/delete counts as unknown). After the faults end, a strong read
    of each key on every node must succeed. Three more runs cut off, six times, a strong
    writer whose entry reached one home only, so reads overlap half-done puts (a read must
    write back what it returns before it answers). Handout: 4.2 and 4.3."""
    recover = RecoverAll(2.5)
    faults = (*schedule, recover)
    sim = cluster(lab, seed)
    sim.apply_schedule(faults)
    clients = Clients(sim, seed, consistency="strong", until=2.7, clients=4, think=0.02,
                      usable=running)
    clients.start(0.1)
    with scenario(sim, seed=seed, schedule=faults):
        sim.run_until(3.8)
        finals = [get(sim, node, key, "strong") for key in clients.keys for node in CACHE_NODES]
        finish(sim, *finals)
        for r in finals:
            expect_ok(r, RECOVERS, f"every node runs and every link is up since t={recover.at:g}s")
        check_linearizable(sim)


@pytest.mark.points(10)
def test_strong_refuses_without_quorum(lab):
    """Without 2 reachable home replicas, strong operations are refused within 0.5 s

    With one home replica of a key down, a strong put and get succeed within 0.5 s. With two
    down (crashed or cut off), a strong put, get and delete on a running node must each answer
    an error within 0.5 s, never "ok", also while messages are lost, duplicated and delayed
    (30% of messages are duplicated throughout: an acknowledgement counts once). Once the
    replicas are back, strong operations succeed again. Last, the two homes that answer a
    strong put's version query crash at once: the put cannot reach W homes and must be refused
    within 0.5 s too. Handout: 4.3."""
    for seed in range(4):
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        key = f"guarded-{seed}"
        home = homes(lab, key)
        down = sorted(rng.sample(home, 2))
        crash = seed % 2 == 0
        coordinator = rng.choice([n for n in CACHE_NODES if n not in down])
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            sim.set_network(duplicate=DUPLICATE)    # a duplicated reply counts once
            take_down(sim, down[0], crash)
            ops = [put(sim, coordinator, key, "one-down", "strong")]
            finish(sim, *ops)
            ops.append(get(sim, coordinator, key, "strong"))
            finish(sim, *ops)
            why = (f"only {down[0]} of the homes {', '.join(home)} of {key!r} is "
                   f"{'down' if crash else 'cut off'}")
            for op in ops:
                expect_fast_ok(op, why)
            take_down(sim, down[1], crash)
            sim.set_network(duplicate=DUPLICATE, loss=0.2, long_delay=0.3)
            refused = [put(sim, coordinator, key, "two-down", "strong"),
                       get(sim, coordinator, key, "strong"),
                       delete(sim, coordinator, key, "strong")]
            finish(sim, *refused)
            why = (f"{down[0]} and {down[1]}, two of the homes {', '.join(home)} of {key!r}, "
                   f"are {'down' if crash else 'cut off'}, so {coordinator} cannot reach 2 "
                   f"of them")
            for op in refused:
                if op.status != "fail" or op.latency > STRONG_TIMEOUT + SLACK:
                    raise PropertyViolation(REFUSES, f"{why}; it must answer an error within "
                                                     f"{STRONG_TIMEOUT:g} s, but "
                                                     f"{describe(op)}", time=op.ret or op.call)
            sim.set_network(duplicate=DUPLICATE, loss=0.0, long_delay=0.0)
            for node in down:
                sim.restart(node) if crash else None
            sim.heal()
            sim.run_for(0.05)
            w = put(sim, coordinator, key, "back", "strong")
            finish(sim, w)
            expect_fast_ok(w, "every home replica is back", prop=RECOVERS)
            r = get(sim, rng.choice(CACHE_NODES), key, "strong")
            finish(sim, r)
            expect_value(r, "back", RECOVERS, f"{key}='back' was acknowledged at t={w.ret:.3f}s")
            sim.run_for(0.6)
            writer = rng.choice([n for n in CACHE_NODES if n not in home])
            struck: list[str] = []
            struck_at: list[float] = []

            def strike(answered: list[str]) -> None:
                struck.extend(answered)
                struck_at.append(sim.now)
                for node in answered:
                    sim.crash(node)

            when_heard(sim, writer, home, 2, strike)
            w = put(sim, writer, key, "mid-write", "strong")
            finish(sim, w)
            if w.status != "fail" or w.latency > STRONG_TIMEOUT + SLACK:
                when = f"t={struck_at[0]:.3f}s" if struck_at else "(never: it heard no 2 homes)"
                raise PropertyViolation(REFUSES, f"{' and '.join(struck) or 'two homes'} "
                                                 f"answered {writer}'s version query for {key!r} "
                                                 f"and crashed at once, at {when}, so the write "
                                                 f"cannot reach 2 homes; it must answer an error "
                                                 f"within {STRONG_TIMEOUT:g} s, but "
                                                 f"{describe(w)}", time=w.ret or w.call)


def take_down(sim, node: str, crash: bool) -> None:
    if crash:
        sim.crash(node)
    else:
        sim.isolate(node)


def expect_fast_ok(op, why: str, prop: str = QUORUM_OK) -> None:
    expect_ok(op, prop, why)
    if op.latency > STRONG_TIMEOUT + SLACK:
        raise PropertyViolation(prop, f"{why}, so it must succeed within {STRONG_TIMEOUT:g} s; "
                                      f"{describe(op)}", time=op.ret)
    check_reply_shape(op)
