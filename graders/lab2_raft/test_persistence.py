"""Part 3: persistence (handout: "Part 3: Persistence").

A crash throws the node object away; only ``storage`` survives. These scenarios crash nodes
at the moments where forgetting the term, the vote or the log breaks safety.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given

from labkit import PropertyViolation, node_names
from labkit.strategies import fault_schedules, grading_settings, seeds

from .harness import (DUPLICATING, PHASES, Cluster, ShrinkBudget, bipartite, run_generated,
                      smoke_run)

SEEDS = range(10)
VOTE_SEEDS = range(16)     # the race this test needs shows up on some seeds only
ROLLING_SEEDS = range(3)


@pytest.mark.points(10)
def test_restart_all(lab):
    """Crash and restart of all nodes

    Five commands commit; then all five nodes crash and restart. They elect a leader whose
    log still holds the five commands, a sixth command commits, and every node applies all
    six again from index 1, in order (lastApplied is volatile). Terms never go down.
    Handout: Part 3."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            c.wait_leader(why="the first election")
            before = [f"p{k}" for k in range(5)]
            for command in before:
                c.submit_to_leader(command)
            c.wait_applied(before)
            for n in c.nodes:
                c.sim.crash(n)
            c.sim.run_for(0.1)
            for n in c.nodes:
                c.sim.restart(n)
            leader, _ = c.wait_agreement(why="all five nodes restarted")
            kept = [e.get("command") for e in c.state(leader)["log"]][:5]
            if kept != before:
                raise PropertyViolation(
                    "leader completeness", f"after the restart the leader {leader}'s log starts "
                    f"with {kept}; the committed {before} must survive (save the log in "
                    f"storage, read it back in on_start)", time=c.sim.now, nodes=(leader,))
            c.submit_to_leader("after")
            c.wait_applied(before + ["after"], within=1.0)
            for n in c.nodes:
                if c.checker.applied_by(n) != before + ["after"]:
                    raise AssertionError(f"after its restart {n} applied "
                                         f"{c.checker.applied_by(n)}; expected "
                                         f"{before + ['after']}")


@pytest.mark.points(8)
def test_vote_survives_restart(lab):
    """A vote survives a restart

    As in "A node votes at most once per term", n1, n2 hear only n3, n4, n5 and vice versa.
    The moment a leader is elected, the nodes that voted for it crash and restart; candidates
    that did not hear the election then ask them for their vote in the same term. A restarted
    node must remember whom it voted for. Handout: Part 3 (voted_for is persistent)."""
    for seed in VOTE_SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            left, right = list(c.nodes[:2]), list(c.nodes[2:])
            bipartite(c, left, right)
            c.sim.run_while(lambda: not c.checker.leaders, 1.5)
            if not c.checker.leaders:
                raise PropertyViolation("liveness", f"no leader within 1.5 s. Nodes: "
                                        f"{c.describe()}", time=c.sim.now)
            (term, (winner, _)), = c.checker.leaders.items()
            voters = right if winner in left else left
            for n in voters:
                c.sim.restart(n)
            c.sim.run_for(1.0)
            c.sim.heal()
            c.wait_agreement(why="the network was healed")


@pytest.mark.points(7)
def test_rolling_restarts(lab):
    """Crash and restart one node at a time

    For 3 s a node crashes every 300 ms and the one crashed before it restarts (the leader
    too, now and then) while a client submits a command every 50 ms. Committed entries must
    survive every restart; afterwards a command commits on all five within 2 s.
    Handout: Part 3."""
    for seed in ROLLING_SEEDS:
        c = Cluster(lab, seed=seed)
        rng = random.Random(seed)
        down: list[str] = []

        def roll() -> None:
            if c.sim.now > 3.0:
                return
            leader = c.checker.leader()
            pick = leader[0] if leader and rng.random() < 0.4 else rng.choice(c.nodes)
            if down:
                c.sim.restart(down.pop())
            if c.sim.is_up(pick):
                c.sim.crash(pick)
                down.append(pick)
            c.sim.after(0.3, roll)

        c.sim.at(0.5, roll)
        c.workload(0.3, 3.0, period=0.05)
        with c.scenario():
            c.sim.run_until(3.1)
            for n in down:
                c.sim.restart(n)
            c.await_recovery(2.0)
            if c.checker.commit_index() < 10:
                raise AssertionError(f"only {c.checker.commit_index()} entries committed in "
                                     f"3 s of rolling restarts (at most one node down at a "
                                     f"time, so a majority was always up)")


@pytest.mark.points(10)
def test_persistence_generated(lab):
    """Persistence under generated crashes and pauses

    120 generated schedules over 3 s of crashes, restarts, pauses and partitions (any
    number of nodes may be down; 5 % of the messages duplicated) while a client submits a
    command every 100 ms: every
    invariant holds after every event, and within 2 s of everything being repaired a new
    command commits on all five nodes. Handout: Part 3, "Generated schedules"."""
    smoke_run(lab, fault_end=3.0)
    budget = ShrinkBudget()

    @grading_settings(max_examples=120, phases=PHASES)
    @given(schedule=fault_schedules(node_names(5), end=3.0,
                                    kinds=("crash", "restart", "pause", "resume", "partition",
                                           "heal")),
           seed=seeds())
    def schedules(schedule, seed):
        run_generated(lab, schedule, seed, fault_end=3.0, network=DUPLICATING, budget=budget)

    schedules()
