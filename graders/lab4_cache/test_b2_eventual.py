"""Part B, eventual consistency: writes accepted by any running node, convergence after the faults
end, the sloppy quorum's hinted handoff, and read repair. Handout: sections 4.4 to 4.6."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given

from labkit import GraderBug, PropertyViolation
from labkit.faults import Crash, Pause, RecoverAll
from labkit.grading import require
from labkit.grading.scenario import scenario
from labkit.strategies import fault_schedules, grading_settings, seeds

from .harness import (CACHE_NODES, CONVERGENCE_DEADLINE, DELIVERY_DEADLINE,
                      EVENTUAL_WRITE_DEADLINE, HANDOFF_DEADLINE, N, PHASES, REPAIR_DEADLINE, SLACK,
                      VNODES, Clients,
                      check_converged, check_reply_shape, cluster, describe, expect_ok,
                      fallbacks, finish, get, homes, peek, put, running, show, stats, version,
                      watch_versions)

ACCEPTED = "a running node accepts every eventual write within 0.1 s"
HANDOFF = "a copy for a down replica goes to the next node and reaches the owner later"
REPAIRED = "a read repairs the stale replicas it heard"

BUSY_EVERY = 0.02          # test_hinted_handoff: the fallback coordinates a put this often
MANY_HINTS = 5             # test_hinted_handoff: hints one coordinator hands over at once

EVENTUAL_FAULTS = fault_schedules(CACHE_NODES, start=0.1, end=2.0, max_actions=8, max_down=2)


def eventual_run(lab, schedule, seed, *, mix):
    faults = (*schedule, RecoverAll(2.0))
    sim = cluster(lab, seed)
    sim.apply_schedule(faults)
    clients = Clients(sim, seed, consistency="eventual", until=2.0, keys=("a", "b", "c"),
                      mix=mix, think=0.02, usable=running)
    clients.start(0.1)
    return sim, faults, clients


@pytest.mark.points(8)
@grading_settings(max_examples=8, phases=PHASES)
@given(schedule=EVENTUAL_FAULTS, seed=seeds())
@example(schedule=(), seed=0)
def test_eventual_writes_always_accepted(lab, schedule, seed):
    """Eventual writes are accepted by any running node, whatever the network does

    Clients put and delete with consistency "eventual" on random running nodes while generated
    faults strike (partitions, one-way cuts, isolation, loss, up to two nodes crashed or
    paused). Every such write must be answered {"ok": true, ...} within 0.1 s, even by a node
    cut off from every other. Handout: 4.4."""
    sim, faults, _ = eventual_run(lab, schedule, seed, mix={"put": 0.8, "delete": 0.2})
    stops = [(a.node, a.at) for a in faults if isinstance(a, (Crash, Pause))]
    with scenario(sim, seed=seed, schedule=faults):
        sim.run_until(2.2)
        for op in sim.history:
            if any(node == op.node and op.call <= at <= op.call + EVENTUAL_WRITE_DEADLINE
                   for node, at in stops):
                continue              # the node stopped before it could answer: excused
            if not op.ok or op.latency > EVENTUAL_WRITE_DEADLINE + SLACK:
                raise PropertyViolation(ACCEPTED, f"{op.node} was running when the write "
                                                  f"arrived, so it must store it and answer "
                                                  f"within {EVENTUAL_WRITE_DEADLINE:g} s (W=1); "
                                                  f"{describe(op)}", time=op.ret or op.call)
            check_reply_shape(op)


@pytest.mark.points(10)
@grading_settings(max_examples=8, phases=PHASES)
@given(schedule=EVENTUAL_FAULTS, seed=seeds())
@example(schedule=(), seed=0)
def test_replicas_converge(lab, schedule, seed):
    """After the faults end, every key's home replicas agree and every hint is delivered

    Eventual puts, deletes and gets on three keys under generated faults until t=2 s; then every
    node restarts or resumes and the network heals. Within 2 s, the three home replicas of each
    key must hold the same version, no older than the newest acknowledged write, and no node
    may still hold a hint. Handout: 4.4 to 4.6."""
    sim, faults, clients = eventual_run(lab, schedule, seed,
                                        mix={"put": 0.6, "delete": 0.1, "get": 0.3})
    with scenario(sim, seed=seed, schedule=faults):
        sim.run_until(2.0 + CONVERGENCE_DEADLINE)
        acknowledged: dict[str, tuple] = {}
        for op in sim.history:
            if op.ok and op.input["op"] in ("put", "delete"):
                check_reply_shape(op)
                key = op.input["key"]
                v = tuple(op.output["version"])
                if key not in acknowledged or v > acknowledged[key][0]:
                    acknowledged[key] = (v, f"{op.input['op']} at version {list(v)} (op#{op.id})")
        check_converged(lab, sim, clients.keys, acknowledged, since=2.0)


@pytest.mark.points(10)
def test_hinted_handoff(lab):
    """A write for a down home replica is handed to the next node of the ring, then delivered

    One home replica of a key is crashed (or cut off) and another home takes an eventual put.
    Within 0.5 s the first fallback node (the next node on the ring after the homes) must hold
    the copy as a hint (stats: hints == 1) and the coordinator none. The fallback then crashes
    and restarts: it must still hold the hint (hints live in storage). When the owner is back,
    within 0.5 s it must hold the write, although the fallback coordinates an eventual put
    every 20 ms meanwhile; then no node may hold a hint. Last, the owner goes down again and
    the coordinator takes puts of five keys at once: within 0.5 s every copy must have left it
    for a fallback (one handoff round handles every hint), and reach the owner after it is
    back. Handout: 4.5."""
    for seed in range(4):
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        key = f"handoff-{seed}"
        home, spare = homes(lab, key), fallbacks(lab, key)
        owner, coordinator = rng.sample(home, 2)
        other = next(n for n in home if n not in (owner, coordinator))
        crash = seed % 2 == 0
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            sim.crash(owner) if crash else sim.isolate(owner)
            w = put(sim, coordinator, key, "hinted", "eventual")
            finish(sim, w)
            expect_ok(w, HANDOFF, f"{coordinator} is running")
            sim.run_until(w.call + HANDOFF_DEADLINE)
            outage = (f"{owner}, a home of {key!r} (homes {', '.join(home)}), is "
                      f"{'down' if crash else 'cut off'} since t=0.100s and {coordinator} "
                      f"acknowledged the put at t={w.ret:.3f}s")
            held = stats(sim, spare[0])["hints"]
            kept = stats(sim, coordinator)["hints"]
            if held != 1 or kept != 0:
                raise PropertyViolation(HANDOFF, f"{outage}; {HANDOFF_DEADLINE:g} s later the "
                                                 f"first fallback {spare[0]} (fallbacks in ring "
                                                 f"order: {', '.join(spare)}) must hold 1 hint "
                                                 f"and {coordinator} none, but they hold {held} "
                                                 f"and {kept}", time=sim.now)
            if version(peek(sim, other, key)) < tuple(w.output["version"]):
                raise PropertyViolation(HANDOFF, f"{outage}; the third home {other} is up, so "
                                                 f"it must hold the write by now, but it holds "
                                                 f"{show(peek(sim, other, key))}", time=sim.now)
            # Hints live in storage: the fallback crashes and restarts holding the copy.
            sim.crash(spare[0])
            sim.run_for(0.05)
            sim.restart(spare[0])
            sim.run_for(0.01)
            held = stats(sim, spare[0])["hints"]
            if held != 1:
                raise PropertyViolation(HANDOFF, f"{outage}; the first fallback {spare[0]} held "
                                                 f"the copy as a hint, crashed at "
                                                 f"t={sim.now - 0.06:.3f}s and restarted at "
                                                 f"t={sim.now - 0.01:.3f}s: a hint is kept in "
                                                 f"storage until its owner acknowledges it, so "
                                                 f"{spare[0]} must still hold 1 hint, but it "
                                                 f"holds {held}", time=sim.now)
            sim.run_for(0.24)
            back = sim.now
            sim.restart(owner) if crash else sim.heal()
            busy_puts(sim, spare[0], f"busy-{seed}", until=back + DELIVERY_DEADLINE)
            sim.run_for(DELIVERY_DEADLINE)
            copy = peek(sim, owner, key)
            if version(copy) < tuple(w.output["version"]):
                raise PropertyViolation(HANDOFF, f"{outage}; {owner} is back since "
                                                 f"t={back:.3f}s, so within {DELIVERY_DEADLINE:g} "
                                                 f"s it must hold the write (version "
                                                 f"{w.output['version']}), but it holds "
                                                 f"{show(copy)} (meanwhile {spare[0]} "
                                                 f"coordinated an eventual put every "
                                                 f"{BUSY_EVERY * 1000:g} ms: a busy node still "
                                                 f"sends its hints every HANDOFF_INTERVAL)",
                                        time=sim.now)
            sim.run_for(0.3)                     # the busy puts' own copies are delivered
            for node in CACHE_NODES:
                left = stats(sim, node)["hints"]
                if left:
                    raise PropertyViolation(HANDOFF, f"{outage}; {owner} is back since "
                                                     f"t={back:.3f}s and holds the write, but "
                                                     f"{node} still holds {left} hint(s)",
                                            time=sim.now)
            many_hints_at_once(lab, sim, seed, owner, coordinator, crash)


def many_hints_at_once(lab, sim, seed: int, owner: str, coordinator: str, crash: bool) -> None:
    """The owner goes down again and the coordinator takes eventual puts of MANY_HINTS keys
    that all have it as a home: every copy must go to a fallback within HANDOFF_DEADLINE (one
    handoff round handles every hint, not one hint per round) and reach the owner once back."""
    ring = require(lab, "HashRing")(list(CACHE_NODES), vnodes=VNODES)   # one ring, many keys
    pair = [k for k in (f"pair-{seed}-{i}" for i in range(2000))
            if {owner, coordinator} <= set(ring.preference_list(k, N))][:MANY_HINTS]
    if len(pair) < MANY_HINTS:
        raise GraderBug(f"grader bug: no {MANY_HINTS} keys with homes {owner} and {coordinator}")
    sim.crash(owner) if crash else sim.isolate(owner)
    down = sim.now
    writes = [put(sim, coordinator, k, f"pair-{i}", "eventual") for i, k in enumerate(pair)]
    finish(sim, *writes)
    for w in writes:
        expect_ok(w, HANDOFF, f"{coordinator} is running")
    sim.run_until(writes[-1].call + HANDOFF_DEADLINE)
    outage = (f"{owner}, a home of {', '.join(map(repr, pair))}, is "
              f"{'down' if crash else 'cut off'} since t={down:.3f}s and {coordinator} "
              f"acknowledged a put of each at t={writes[-1].ret:.3f}s")
    kept = stats(sim, coordinator)["hints"]
    if kept:
        raise PropertyViolation(HANDOFF, f"{outage}; {HANDOFF_DEADLINE:g} s later every copy "
                                         f"must be with a fallback node, but {coordinator} still "
                                         f"holds {kept} hint(s): every handoff round handles "
                                         f"every hint", time=sim.now)
    back = sim.now
    sim.restart(owner) if crash else sim.heal()
    sim.run_for(DELIVERY_DEADLINE)
    for w in writes:
        copy = peek(sim, owner, w.input["key"])
        if version(copy) < tuple(w.output["version"]):
            raise PropertyViolation(HANDOFF, f"{outage}; {owner} is back since t={back:.3f}s, "
                                             f"so within {DELIVERY_DEADLINE:g} s it must hold "
                                             f"{w.input['key']}={w.input['value']!r} (version "
                                             f"{w.output['version']}), but it holds "
                                             f"{show(copy)}", time=sim.now)


def busy_puts(sim, node: str, prefix: str, *, until: float) -> None:
    """``node`` coordinates an eventual put of a new key every BUSY_EVERY seconds until
    ``until`` (a timer re-armed on every write would then never fire)."""
    count = [0]

    def one() -> None:
        if sim.now < until - 1e-9:
            count[0] += 1
            put(sim, node, f"{prefix}-{count[0]}", "busy", "eventual")
            sim.after(BUSY_EVERY, one)
    one()


@pytest.mark.points(8)
def test_read_repair(lab):
    """A read repairs stale replicas, and never overwrites a newer version

    A home replica misses a strong put while cut off, then comes back stale. An eventual read
    on that replica (which may answer its own stale copy), and in a second round a strong read
    on another node, must bring every home replica it heard up to the newest version within
    0.5 s. Then six strong puts run while half the messages are duplicated and half delayed
    up to 0.5 s, so old entries reach replicas after newer ones. No replica's version of the
    key may ever go back. 3 seeds. Handout: 4.6."""
    for seed in range(3):
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        key = f"repair-{seed}"
        home = homes(lab, key)
        watch_versions(sim, [key], home)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            w = put(sim, home[0], key, "v0", "strong")
            finish(sim, w)
            expect_ok(w, REPAIRED, "every node is up and connected")
            sim.run_for(0.1)
            for round, level in enumerate(("eventual", "strong")):
                stale = rng.choice(home)
                writer = rng.choice([n for n in home if n != stale])
                sim.isolate(stale)
                w = put(sim, writer, key, f"v{round + 1}", "strong")
                finish(sim, w)
                expect_ok(w, REPAIRED, f"only {stale} of the homes {', '.join(home)} is cut off")
                sim.run_for(0.1)
                sim.heal()
                sim.run_for(0.05)
                if version(peek(sim, stale, key)) >= tuple(w.output["version"]):
                    raise AssertionError(
                        f"the grader needs {stale} to be stale: it was cut off during the "
                        f"strong put of {key!r} at t={w.call:.3f}s, yet it holds "
                        f"{show(peek(sim, stale, key))} before any read. A strong write stops "
                        f"once it has its W acknowledgements (handout 4.2); the third replica "
                        f"catches up through read repair.")
                reader = stale if level == "eventual" else rng.choice(
                    [n for n in CACHE_NODES if n not in home])
                r = get(sim, reader, key, level)
                finish(sim, r)
                expect_ok(r, REPAIRED, "every node is up and connected")
                sim.run_until(r.call + REPAIR_DEADLINE)
                for node in home:
                    copy = peek(sim, node, key)
                    if version(copy) < tuple(w.output["version"]):
                        raise PropertyViolation(
                            REPAIRED, f"{stale} missed the strong put {key}={w.input['value']!r} "
                                      f"(version {w.output['version']}); the {level} read "
                                      f"op#{r.id} on {reader} at t={r.call:.3f}s heard the "
                                      f"homes, so within {REPAIR_DEADLINE:g} s every home must "
                                      f"hold that version, but {node} holds {show(copy)}",
                            time=sim.now)
            # Late and duplicated writes: old entries arrive after newer ones; a replica that
            # takes them goes back (watch_versions fails the run at that event).
            sim.set_network(duplicate=0.5, long_delay=0.5)
            for i in range(6):
                w = put(sim, rng.choice(CACHE_NODES), key, f"late{i}", "strong")
                finish(sim, w)
            sim.set_network(duplicate=0.0, long_delay=0.0)
            sim.run_for(0.6)
