"""Part 1: leader election (handout: "Part 1: Election").

Every test runs the invariant checker after every event (election safety, one vote per term,
terms never decrease, log matching, leader completeness, state-machine safety, in-order
apply); the scenarios below add the liveness each part asks for.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given

from labkit import PropertyViolation, node_names
from labkit.strategies import fault_schedules, grading_settings, seeds

from .harness import (DUPLICATING, ELECTION_DEADLINE, LIVENESS, PHASES, Cluster,
                      ShrinkBudget, bipartite, run_generated, smoke_run)

SEEDS = range(10)
CHURN_SEEDS = range(3)
TIMEOUT_MIN, TIMEOUT_MAX = 0.150, 0.300   # the handout's election timeout range
ELECTION_TIMEOUT = "election timeout"


def first_stand(c: Cluster) -> None:
    """From boot: no node stands before 150 ms, and the first of five stands before 300 ms
    (each draws its election timeout from [150, 300) ms and hears nothing until then)."""
    c.sim.run_while(lambda: c.checker.max_term() == 0, TIMEOUT_MAX)
    at = c.sim.now
    early = at < TIMEOUT_MIN
    if not early and c.checker.max_term() > 0 and at < TIMEOUT_MAX:
        return
    who = [f"{n} (term {v.term}, {v.role})" for n, v in c.checker.views.items() if v.term > 0]
    what = (f"{', '.join(who)} had already started an election at t={at:.3f}s, before "
            f"{TIMEOUT_MIN * 1000:.0f} ms" if early else
            f"no node had started an election {TIMEOUT_MAX * 1000:.0f} ms after all five "
            f"booted (t=0) with empty logs")
    raise PropertyViolation(
        ELECTION_TIMEOUT, f"{what}. Each node draws its election timeout uniformly from "
        f"[ELECTION_TIMEOUT_MIN, ELECTION_TIMEOUT_MAX) = [150, 300) ms with self.rng when it "
        f"starts, and stands for election when it fires (handout: \"Timers and constants\"). "
        f"Nodes: {c.describe()}", time=at)


def stable(c: Cluster, leader: str, term: int, seconds: float) -> None:
    """Run ``seconds`` without faults; the leader and the term must not change."""
    c.sim.run_for(seconds)
    now = c.agreed_leader()
    if now != (leader, term) or c.checker.max_term() != term:
        raise PropertyViolation(
            "stable leader", f"{leader} led term {term}, but after {seconds:g} s without any "
            f"fault the cluster is at {now or 'no leader'} (highest term seen: "
            f"{c.checker.max_term()}). Nodes: {c.describe()}. With heartbeats every 50 ms no "
            f"follower should time out.", time=c.sim.now)


@pytest.mark.points(6)
def test_initial_election(lab):
    """Initial election

    Five nodes boot with empty logs; the first stands for election between 150 and 300 ms
    after boot; within 1 s one of them leads and the others follow it, and with no faults the
    same leader keeps the same term for 2 more seconds (10 seeds). Handout: Part 1."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            first_stand(c)
            leader, term = c.wait_agreement(why="the first election")
            stable(c, leader, term, 2.0)


@pytest.mark.points(5)
def test_reelection_after_crash(lab):
    """Re-election after the leader crashes

    The leader crashes: the other four elect a new leader (higher term) within 1 s; that
    one crashes too and the last three elect one within 1 s; both old leaders restart and
    rejoin as followers. Handout: Part 1."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            first, term1 = c.wait_leader(why="the first election")
            c.sim.crash(first)
            second, term2 = c.wait_leader(why=f"the leader {first} crashed")
            c.sim.crash(second)
            third, term3 = c.wait_leader(why=f"{first} and {second} crashed")
            if not term1 < term2 < term3:
                raise AssertionError(f"each new leader needs a higher term: {first} led term "
                                     f"{term1}, {second} term {term2}, {third} term {term3}")
            c.sim.restart(first)
            c.sim.restart(second)
            leader, term = c.wait_agreement(why=f"{first} and {second} restarted")
            stable(c, leader, term, 1.0)


@pytest.mark.points(5)
def test_reelection_after_cut_off(lab):
    """Re-election after the leader is cut off

    The leader is isolated: the other four elect a new leader within 1 s. When the old
    leader is reconnected it steps down: within 1 s all five nodes follow one leader in one
    term. Handout: Part 1."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            old, old_term = c.wait_leader(why="the first election")
            c.sim.isolate(old)
            rest = [n for n in c.nodes if n != old]
            c.wait_leader(among=rest, why=f"the leader {old} was isolated")
            c.sim.run_for(0.5)
            c.sim.heal()
            leader, term = c.wait_agreement(why=f"the old leader {old} was reconnected")
            stable(c, leader, term, 1.0)


@pytest.mark.points(5)
def test_deposed_leader_does_not_block_election(lab):
    """A deposed leader's heartbeats do not stop an election

    The old leader (cut off, so it still believes it leads an old term) can send to the
    others but hears nothing back. When the new leader crashes, the remaining three must
    still elect a leader within 1 s: messages from an old term must not reset anyone's
    election timer. Handout: Part 1, "Timers"."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            old, _ = c.wait_leader(why="the first election")
            c.sim.isolate(old)
            rest = [n for n in c.nodes if n != old]
            new, _ = c.wait_leader(among=rest, why=f"the leader {old} was isolated")
            c.sim.run_for(0.3)
            c.sim.crash(new)
            c.sim.heal()
            for n in rest:
                c.sim.cut(n, old)      # old -> others works, others -> old does not
            remaining = [n for n in rest if n != new]
            c.wait_leader(among=remaining, why=f"the leader {new} crashed while the deposed "
                          f"leader {old} kept sending heartbeats of its old term")


@pytest.mark.points(6)
def test_no_leader_in_minority(lab):
    """No leader in a minority

    The leader and one follower are cut off from the other three: the three elect a leader
    within 1 s, the two never elect one, and commands submitted on the minority side are
    never applied. Then a 2 | 2 | 1 split: no new leader anywhere. After the heal one
    leader serves everyone. Handout: Part 1."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            old, term = c.wait_leader(why="the first election")
            minority = [old, next(n for n in c.nodes if n != old)]
            majority = [n for n in c.nodes if n not in minority]
            c.sim.partition(minority, majority)
            cut_at = c.checker.max_term()
            c.wait_leader(among=majority, why=f"partition {minority} | {majority}")
            for k in range(3):
                c.submit(old, f"minority-{k}")
            c.sim.run_for(1.5)
            for t, (node, since) in sorted(c.checker.leaders.items()):
                if t > cut_at and node in minority:
                    raise PropertyViolation(
                        "no leader in a minority", f"{node} became leader of term {t} at "
                        f"t={since:.3f}s while cut off with only {', '.join(minority)} (2 of "
                        f"5 nodes); winning needs 3 votes", time=c.sim.now, nodes=(node,))
            c.never_applied([f"minority-{k}" for k in range(3)], "no commit without a majority",
                            f"it was submitted to {old}, cut off in a minority")
            groups = [majority[:2], majority[2:] + minority[:1], minority[1:]]
            c.sim.partition(*groups)
            split_at = c.checker.max_term()
            c.sim.run_for(1.5)
            late = [(t, n) for t, (n, _) in c.checker.leaders.items() if t > split_at]
            if late:
                t, node = min(late)
                raise PropertyViolation(
                    "no leader in a minority", f"{node} became leader of term {t} during the "
                    f"split {' | '.join(','.join(g) for g in groups)}, where no side has 3 of "
                    f"5 nodes", time=c.sim.now, nodes=(node,))
            c.sim.heal()
            c.submit_to_leader("after-heal", within=2 * ELECTION_DEADLINE)
            c.wait_applied(["after-heal"], within=1.0)


@pytest.mark.points(6)
def test_one_vote_per_term(lab):
    """A node votes at most once per term

    The network lets n1, n2 talk only to n3, n4, n5 and the other way round, so nodes on
    the same side cannot hear each other's elections: several candidates ask the same voters
    in the same term. A leader must still be elected, and no node may grant two votes in one
    term (that would allow two leaders). Handout: Part 1, "Voting"."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            bipartite(c, list(c.nodes[:2]), list(c.nodes[2:]))
            c.sim.run_for(1.5)
            if not c.checker.leaders:
                raise PropertyViolation(LIVENESS, f"no node became leader in 1.5 s, although "
                                        f"every candidate can reach 3 voters. Nodes: "
                                        f"{c.describe()}", time=c.sim.now)
            c.sim.heal()
            c.wait_leader(why="the network was healed")


@pytest.mark.points(6)
def test_stale_log_cannot_win(lab):
    """A candidate with a stale log cannot win

    Three nodes commit entries while two are cut off (and keep raising their terms). Then
    the two stale nodes are joined by one up-to-date node: only that node may win, since the
    others' logs lack committed entries. Handout: Part 1, "Voting" (up-to-date check)."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            leader, _ = c.wait_leader(why="the first election")
            others = [n for n in c.nodes if n != leader]
            keep, stale = others[:2], others[2:]
            c.sim.partition([leader, *keep], stale)
            for k in range(3):
                c.submit_to_leader(f"x{k}", among=[leader, *keep])
            c.wait_applied([f"x{k}" for k in range(3)], [leader, *keep])
            c.sim.run_for(0.6)
            c.sim.partition([keep[0], *stale], [leader, keep[1]])
            winner, _ = c.wait_leader(among=[keep[0], *stale], within=2 * ELECTION_DEADLINE,
                                      why=f"{keep[0]} joined the stale {', '.join(stale)}")
            if winner != keep[0]:
                raise AssertionError(f"{winner} won with a log lacking committed entries")
            c.submit_to_leader("y", among=[keep[0], *stale])
            c.wait_applied(["x0", "x1", "x2", "y"], [keep[0], *stale])


@pytest.mark.points(5)
def test_election_churn_7_nodes(lab):
    """Many elections with churn on 7 nodes

    For 4 s a seven-node cluster loses its leader every few hundred milliseconds (crashed,
    isolated, or split off with a minority) while crashed nodes come back. Every election
    must be safe; after the churn a leader is elected and a command commits on all seven.
    Handout: Part 1."""
    for seed in CHURN_SEEDS:
        c = Cluster(lab, 7, seed=seed)
        rng = random.Random(seed)
        log: list[str] = []

        def churn() -> None:
            if c.sim.now > 4.0:
                return
            leader = c.established_leader()
            down = [n for n in c.nodes if not c.sim.is_up(n)]
            if down and rng.random() < 0.5:
                node = rng.choice(down)
                c.sim.restart(node)
                log.append(f"t={c.sim.now:.3f}s restart {node}")
            elif leader is not None:
                node = leader[0]
                action = rng.choice(["crash", "isolate", "minority"])
                if action == "crash" and len(down) < 3:
                    c.sim.crash(node)
                elif action == "isolate":
                    c.sim.isolate(node)
                else:
                    others = [n for n in c.nodes if n != node]
                    rng.shuffle(others)
                    c.sim.partition([node, *others[:rng.randint(0, 2)]])
                    action = "minority"
                log.append(f"t={c.sim.now:.3f}s {action} {node} (leader of term {leader[1]})")
            else:
                c.sim.heal()
                log.append(f"t={c.sim.now:.3f}s heal")
            c.sim.after(rng.uniform(0.2, 0.5), churn)

        c.sim.at(0.5, churn)
        with c.scenario():
            c.sim.run_until(4.2)
            c.sim.heal()
            for n in c.nodes:
                if not c.sim.is_up(n):
                    c.sim.restart(n)
            elections = len(c.checker.leaders)
            if elections < 4:
                raise AssertionError(f"only {elections} leaders were elected during the churn "
                                     f"({'; '.join(log)}); every lost leader must be replaced")
            c.submit_to_leader("after-churn", within=2 * ELECTION_DEADLINE)
            c.wait_applied(["after-churn"], within=1.0)


@pytest.mark.points(6)
def test_election_generated(lab):
    """Elections under generated partitions and crashes

    110 generated schedules of partitions, one-way cuts, crashes and restarts over 2 s (no
    client load; 5 % of the messages duplicated): every invariant holds after every event,
    and within 2 s of everything being repaired a command commits on all five nodes.
    Handout: Part 1, "Generated schedules"."""
    smoke_run(lab, fault_end=2.0, workload=False)
    budget = ShrinkBudget()

    @grading_settings(max_examples=110, phases=PHASES)
    @given(schedule=fault_schedules(node_names(5), end=2.0,
                                    kinds=("partition", "isolate", "cut", "heal", "crash",
                                           "restart")),
           seed=seeds())
    def schedules(schedule, seed):
        run_generated(lab, schedule, seed, fault_end=2.0, workload=False, network=DUPLICATING,
                      budget=budget)

    schedules()
