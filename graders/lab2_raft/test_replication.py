"""Part 2: log replication and commitment (handout: "Part 2: Replication").

The invariant checker runs after every event; these scenarios add what must happen: which
commands commit, where, how fast, and which must never be applied.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from labkit import PropertyViolation, node_names
from labkit.events import SEND
from labkit.strategies import fault_schedules, grading_settings, seeds

from .harness import (DUPLICATING, ELECTION_DEADLINE, PHASES, Cluster, ShrinkBudget,
                      run_generated, smoke_run)

SEEDS = range(10)
EVEN_SEEDS = range(6)
BACKUP_BUDGET = 40   # messages among the three while two logs 50 entries off are repaired


@pytest.mark.points(7)
def test_basic_agreement(lab):
    """Basic agreement

    Ten commands submitted to the leader one after another get indices 1..10 in the
    leader's term, and every node applies all ten, in order, within 0.5 s of each submit. A
    follower answers a submit with not_leader and the leader's id. Handout: Part 2."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            leader, term = c.wait_agreement(why="the first election")
            c.sim.run_for(0.1)
            follower = next(n for n in c.nodes if n != leader)
            op = c.submit(follower, "to-a-follower")
            c.sim.run_until_done(op)
            if op.output != {"error": "not_leader", "leader": leader}:
                raise AssertionError(
                    f"follower {follower} answered a submit with {op.output or op.status}; "
                    f"expected {{'error': 'not_leader', 'leader': {leader!r}}} (it has heard "
                    f"{leader}'s heartbeats for term {term})")
            for k in range(1, 11):
                got_leader, index, got_term = c.submit_to_leader(f"cmd-{k}")
                if (got_leader, index, got_term) != (leader, k, term):
                    raise AssertionError(
                        f"submit #{k} went to {got_leader} and got index {index}, term "
                        f"{got_term}; expected index {k} in term {term} from {leader}")
                c.wait_applied([f"cmd-{k}"])
            c.never_applied(["to-a-follower"], "refused submits",
                            "a follower refused it")


@pytest.mark.points(6)
def test_agreement_despite_failed_follower(lab):
    """Agreement despite failed followers

    With one follower crashed, then two, commands still commit on the nodes that are up
    (three of five are enough). When both come back they catch up and apply every command.
    Handout: Part 2."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            leader, _ = c.wait_leader(why="the first election")
            followers = [n for n in c.nodes if n != leader]
            c.sim.crash(followers[0])
            c.submit_to_leader("a")
            c.wait_applied(["a"], [n for n in c.nodes if n != followers[0]])
            c.sim.crash(followers[1])
            up = [n for n in c.nodes if n not in followers[:2]]
            c.submit_to_leader("b", among=up)
            c.wait_applied(["b"], up)
            c.sim.restart(followers[0])
            c.sim.restart(followers[1])
            c.submit_to_leader("c")
            c.wait_applied(["a", "b", "c"], within=1.0)


@pytest.mark.points(7)
def test_no_commit_without_majority(lab):
    """No commit without a majority

    Three followers crash, leaving the leader with one follower: the leader accepts three
    commands (and answers with their index), but no node may commit or apply them. When the
    three come back, the commands commit on all five. Handout: Part 2, "Commitment"."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            leader = c.committed_start("before")
            followers = [n for n in c.nodes if n != leader]
            for n in followers[1:]:
                c.sim.crash(n)
            pending = [f"pending-{k}" for k in range(3)]
            for command in pending:
                op = c.submit(leader, command)
                c.sim.run_until_done(op)
                if not op.ok:
                    raise AssertionError(f"the leader {leader} refused {command!r} with "
                                         f"{op.output or op.status}; it must accept it (it "
                                         f"cannot know yet whether it will commit)")
            c.sim.run_for(1.0)
            c.never_applied(pending, "no commit without a majority",
                            f"only {leader} and {followers[0]} (2 of 5) stored it")
            top = max(c.state(n)["commit_index"] for n in (leader, followers[0]))
            if top > 1:
                raise PropertyViolation(
                    "no commit without a majority", f"commit index {top} with only {leader} "
                    f"and {followers[0]} up: entries 2..{top} are on 2 of 5 nodes",
                    time=c.sim.now)
            for n in followers[1:]:
                c.sim.restart(n)
            c.wait_applied(pending + ["before"], within=1.0,
                           why="the three crashed followers restarted")


@pytest.mark.points(4)
def test_even_cluster(lab):
    """An even cluster: a majority of four is three

    Four nodes (a majority is 3 of 4, more than half of all the nodes, the candidate or
    leader itself included). Two followers crash: the leader accepts a command but nobody
    may commit it with 2 of 4; they come back and it commits on all four. Then the cluster
    splits 2 | 2: the side without the leader must not elect one, nor commit; after the heal
    a command commits on all four (6 seeds). Handout: Part 1 and Part 2, "Commitment"."""
    for seed in EVEN_SEEDS:
        c = Cluster(lab, 4, seed=seed)
        with c.scenario():
            leader = c.committed_start("before", why="the first election (4 nodes)")
            followers = [n for n in c.nodes if n != leader]
            for n in followers[1:]:
                c.sim.crash(n)
            c.submit(leader, "two-of-four")
            c.sim.run_for(0.5)
            c.never_applied(["two-of-four"], "no commit without a majority",
                            f"only {leader} and {followers[0]} (2 of 4) were up; a majority "
                            f"of four is 3")
            for n in followers[1:]:
                c.sim.restart(n)
            c.wait_applied(["before", "two-of-four"], within=1.0,
                           why="the two crashed followers restarted")
            leader, term = c.wait_leader(why="after the restarts")
            side = [leader, followers[0]]
            other = [n for n in c.nodes if n not in side]
            c.sim.partition(side, other)
            c.submit(leader, "half")
            c.sim.run_for(1.5)
            c.checker.sync()
            for n in other:
                v = c.checker.views[n]
                if v.role == "leader":
                    raise PropertyViolation(
                        "no leader in a minority", f"{n} leads term {v.term} with only "
                        f"{', '.join(other)} (2 of 4) on its side of a 2 | 2 split; a leader "
                        f"needs votes from 3 of 4. Nodes: {c.describe()}", time=c.sim.now,
                        nodes=(n,))
            c.never_applied(["half"], "no commit without a majority",
                            f"{leader}'s side of the 2 | 2 split holds 2 of 4 nodes")
            c.sim.heal()
            c.submit_to_leader("after", within=2 * ELECTION_DEADLINE)
            c.wait_applied(["before", "two-of-four", "after"], within=1.0,
                           why="the 2 | 2 split healed")


@pytest.mark.points(5)
def test_concurrent_submits(lab):
    """Concurrent submits

    Twenty commands reach the leader at the same instant from five clients: each gets its
    own index (20 distinct consecutive indices), and every node applies all twenty in that
    index order. Handout: Part 2."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            leader, term = c.wait_leader(why="the first election")
            ops = [c.sim.request(leader, {"op": "submit", "command": f"c{k}"},
                                 client=f"client{k % 5}") for k in range(20)]
            c.sim.run_until_done(*ops)
            indices = sorted(op.output.get("index") for op in ops if op.ok and op.output)
            if indices != list(range(1, 21)):
                raise AssertionError(f"20 concurrent submits to {leader} got indices "
                                     f"{indices}; expected 1..20, one each")
            c.wait_applied([f"c{k}" for k in range(20)], within=1.0)
            order = {op.input["command"]: op.output["index"] for op in ops}
            for n in c.nodes:
                applied = c.checker.applied_by(n)
                wrong = [(i + 1, cmd) for i, cmd in enumerate(applied) if order[cmd] != i + 1]
                if wrong:
                    index, cmd = wrong[0]
                    raise AssertionError(f"{n} applied {cmd!r} at index {index}, but the leader "
                                         f"gave it index {order[cmd]}")


@pytest.mark.points(7)
def test_old_leader_rejoins(lab):
    """A partitioned old leader rejoins

    The leader is cut off and accepts three commands it can never commit; the others elect
    a new leader and commit a command; then the new leader is cut off and the old one comes
    back. The old leader's three entries are discarded everywhere (never applied), and all
    five nodes end with the same log. Handout: Part 2, "Conflicting entries"."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            old = c.committed_start("a")
            c.sim.isolate(old)
            doomed = ["b", "c", "d"]
            for command in doomed:
                c.submit(old, command)
            rest = [n for n in c.nodes if n != old]
            new, _, _ = c.submit_to_leader("e", among=rest)
            c.wait_applied(["e"], rest)
            c.sim.heal()
            c.sim.isolate(new)
            others = [n for n in c.nodes if n != new]
            c.submit_to_leader("f", among=others, within=2 * ELECTION_DEADLINE)
            c.wait_applied(["a", "e", "f"], others, within=1.0)
            c.sim.heal()
            c.submit_to_leader("g", within=2 * ELECTION_DEADLINE)
            c.wait_applied(["a", "e", "f", "g"], within=1.0)
            c.never_applied(doomed, "discarded entries",
                            f"it was only ever stored by {old} while cut off")
            logs = {n: [e["command"] for e in c.state(n)["log"]] for n in c.nodes}
            if len({tuple(log) for log in logs.values()}) != 1:
                raise AssertionError(f"after the heal the logs differ: {logs}")


def traffic(c: Cluster, group: list[str]) -> list[int]:
    """Count the messages sent between members of ``group`` from now on: ``[count]``."""
    count = [0]

    def sent(sim, ev) -> None:
        if ev.kind == SEND and ev.node in group and ev.peer in group:
            count[0] += 1
    c.sim.subscribe(sent)
    return count


@pytest.mark.points(7)
def test_backup_divergent_logs(lab):
    """Backing up over long divergent logs

    Two nodes hold 50 uncommitted entries that conflict with 50 entries the other three
    committed. One of the three then forms a majority with the two: it is elected and must
    bring both logs in line with its own, with at most 40 messages among the three (the
    election included): a rejection tells the leader how far to back up (the conflicting term
    and its first index), not one entry per round trip. Played twice per seed: the new
    leader holds entries of the two nodes' conflicting term, and it has never seen that term.
    After the heal everyone converges. Handout: Part 2, "Fast backup"."""
    for seed in SEEDS:
        for unseen in (False, True):
            c = Cluster(lab, seed=seed)
            with c.scenario():
                backup_divergent(c, unseen)


def backup_divergent(c: Cluster, unseen: bool) -> None:
    """Two nodes with 50 conflicting entries of one term; with ``unseen``, a term the leader
    that repairs them never saw (its only leader was cut off with one follower at once)."""
    leader1 = c.committed_start("start")
    f = [n for n in c.nodes if n != leader1]
    if unseen:
        # a second leader is elected without leader1, then cut off with one follower before
        # any entry of its term reaches the others: its term is unknown to their logs
        c.sim.isolate(leader1)
        lost_leader, _ = c.wait_leader(among=f, why=f"{leader1} was cut off")
        partner = next(n for n in f if n != lost_leader)
        pair = [lost_leader, partner]
    else:
        pair = [leader1, f[0]]
    three = [n for n in c.nodes if n not in pair]
    # the pair accepts 50 commands that can never commit
    c.sim.partition(pair, three)
    for k in range(50):
        c.submit(pair[0], f"lost-{k}")
    # the three elect a leader and commit 50 commands
    leader2, _, _ = c.submit_to_leader("mid-0", among=three, within=2 * ELECTION_DEADLINE)
    for k in range(1, 50):
        c.submit(leader2, f"mid-{k}")
    c.wait_applied([f"mid-{k}" for k in range(50)], three, within=1.0)
    # one of the three joins the pair: it wins and must repair both logs
    other = [n for n in three if n != leader2]
    group = [*pair, other[1]]
    c.sim.partition([leader2, other[0]], group)
    counted = traffic(c, group)
    views = [c.checker.views[n] for n in group]
    c.sim.run_while(lambda: not (views[0].ids == views[1].ids == views[2].ids), 2.0)
    used = counted[0]
    shape = (f"entries of a term {other[1]} never saw" if unseen else
             f"entries of a term {other[1]} also holds entries of")
    if not views[0].ids == views[1].ids == views[2].ids:
        raise PropertyViolation(
            "fast backup", f"2 s after {other[1]} joined {pair[0]} and {pair[1]} (50 "
            f"conflicting {shape}), their logs still differ. Nodes: {c.describe()}",
            time=c.sim.now)
    if used > BACKUP_BUDGET:
        hint = (" When the leader has no entry of conflict_term, it backs up to "
                "conflict_index, the follower's first index of that term" if unseen else
                " When the leader has entries of conflict_term, it backs up to just after "
                "its own last one")
        raise PropertyViolation(
            "fast backup", f"bringing the logs of {pair[0]} and {pair[1]} (50 conflicting "
            f"{shape}) in line with {other[1]}'s took {used} messages among the three "
            f"(budget {BACKUP_BUDGET}); reply with conflict_term and conflict_index so the "
            f"leader skips a whole term per round trip.{hint}.", time=c.sim.now)
    c.sim.heal()
    c.submit_to_leader("final", within=2 * ELECTION_DEADLINE)
    c.wait_applied(["start", "final"], within=1.0)
    c.never_applied([f"lost-{k}" for k in range(50)], "discarded entries",
                    f"only {pair[0]} and {pair[1]} ever stored it")


@pytest.mark.points(9)
def test_figure8(lab):
    """Figure 8: an old entry is not committed by counting replicas

    The scenario of the Raft paper's Figure 8: a leader of a later term finishes replicating
    an entry of an earlier term to a majority. It must not commit it (only entries of its own
    term commit by counting), because a node holding a different entry of a later term can
    still be elected and overwrite it. Handout: Part 2, "Commitment"."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            # (a) S1 leads and gets "x" onto S2 only.
            s1, _ = c.wait_leader(why="the first election")
            rest = [n for n in c.nodes if n != s1]
            s2 = rest[0]
            c.sim.partition([s1, s2], rest[1:])
            c.submit(s1, "x")
            # (b) S5 wins among S3, S4, S5, accepts "y" alone, and crashes.
            s5, _ = c.wait_leader(among=rest[1:], why=f"{s1}, {s2} were split off")
            s3, s4 = [n for n in rest[1:] if n != s5]
            c.sim.partition([s1, s2], [s3, s4], [s5])
            c.submit(s5, "y")
            c.sim.run_for(0.05)
            c.sim.crash(s5)
            # (c) S1 or S2 wins a later term with S3's vote, copies "x" to S3: a majority.
            c.sim.partition([s1, s2, s3], [s4])
            c.wait_leader(among=[s1, s2, s3], within=2 * ELECTION_DEADLINE,
                          why=f"{s5} crashed; {s3} joined {s1}, {s2}")
            c.sim.run_while(lambda: len(c.state(s3)["log"]) < 1, 0.5)
            c.sim.run_for(0.2)
            c.never_applied(["x"], "Figure 8: count replicas only for current-term entries",
                            "it is an entry of an earlier term, and no entry of the leader's "
                            "own term follows it yet")
            # (d) S5 comes back with S3, S4: it may win and overwrite "x".
            c.sim.crash(s1)
            c.sim.crash(s2)
            c.sim.restart(s5)
            c.sim.heal()
            c.submit_to_leader("z", among=[s3, s4, s5], within=3 * ELECTION_DEADLINE)
            c.wait_applied(["z"], [s3, s4, s5], within=1.0)
            c.sim.restart(s1)
            c.sim.restart(s2)
            c.wait_applied(["z"], within=1.0)


@pytest.mark.points(12)
def test_replication_generated(lab):
    """Replication under generated faults

    150 generated schedules over 3 s mixing partitions, one-way cuts, crashes, restarts,
    pauses and a lossy, duplicating, reordering network, while a client submits a command
    every 100 ms: every invariant holds after every event, and within 2 s of everything
    being repaired a new command commits on all five nodes. Handout: Part 2, "Generated
    schedules"."""
    smoke_run(lab, fault_end=3.0)
    budget = ShrinkBudget()

    @grading_settings(max_examples=150, phases=PHASES)
    @given(schedule=fault_schedules(node_names(5), end=3.0), seed=seeds())
    def schedules(schedule, seed):
        run_generated(lab, schedule, seed, fault_end=3.0, network=DUPLICATING, budget=budget)

    schedules()
