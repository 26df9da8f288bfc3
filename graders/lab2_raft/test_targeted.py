"""Part 6: faults aimed at the leader (handout: "Part 6: Faults aimed at the leader").

The faults here pick their victim when they fire: the current leader (``@leader``), one of its
followers (``@follower``), the follower with the shortest log (``@lagging``); and they strike
at chosen moments: right after a node acknowledged something (a vote, entries, a client's
submit), or at its next storage write. Safety is checked after every event throughout.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given

from labkit import NetworkConfig, PropertyViolation, node_names
from labkit.faults import CrashAfter, CrashAtWrite, RecoverAll
from labkit.strategies import aimed_schedules, grading_settings, seeds

from .harness import (ELECTION_DEADLINE, PHASES, Cluster, ShrinkBudget, run_generated,
                      smoke_run)

ACK_SEEDS = range(12)
LINK_SEEDS = range(12)
LINK_CUT_TIME = 2.0          # virtual seconds with one link of the leader cut
STEP_DOWN_DEADLINE = 0.3     # a leader that hears a newer term steps down within this (6 heartbeats)
STALE_LEADER = "stale leader steps down"
RETURN_SEEDS = range(10)
CHURN_SEEDS = range(3)
CHURN_TIME = 30.0            # virtual seconds of leader churn per seed
UNRELIABLE = NetworkConfig(loss=0.1, duplicate=0.1, long_delay=0.1, long_delay_max=0.5)
TARGETS = ("leader", "follower", "lagging")
TRIGGERS = ("reply", "apply", "send:request_vote_reply", "send:append_entries_reply",
            "send:request_vote", "send:append_entries")


def restart_soon(c: Cluster, node: str, delay: float = 0.05) -> None:
    """Restart ``node`` ``delay`` s from now if it is down then."""
    c.sim.after(delay, lambda: None if c.sim.is_up(node) else c.sim.restart(node))


@pytest.mark.points(8)
def test_crash_right_after_acknowledging(lab):
    """Crashes right after acknowledging

    Nodes crash in the middle of a handler, right after they acknowledged something, and
    restart 50 ms later: followers right after answering append_entries, the leader right
    after answering a submit, voters right after answering a vote request, and nodes at
    their next storage write (before it lands). Whatever a node acknowledged (a term, a
    vote, entries) must still be there after the restart; afterwards a command commits on
    all five (12 seeds). Handout: Part 6 and Part 3 ("Storage")."""
    for seed in ACK_SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            leader, _ = c.wait_leader(why="the first election")
            # followers crash right after acknowledging entries
            for node in c.nodes:
                if node != leader:
                    CrashAfter(c.sim.now, node, "send:append_entries_reply").apply(c.sim)
            c.submit(leader, "a1")
            c.sim.run_for(0.03)
            for node in c.nodes:
                restart_soon(c, node, 0.02)
            c.sim.run_for(0.3)
            # the leader crashes right after answering a submit
            leader, _, _ = c.submit_to_leader("a2", within=2 * ELECTION_DEADLINE)
            CrashAfter(c.sim.now, leader, "reply").apply(c.sim)
            c.submit(leader, "a3")
            c.sim.run_for(0.01)
            restart_soon(c, leader)
            # voters crash right after answering a vote request, or at their next write
            c.wait_leader(within=2 * ELECTION_DEADLINE, why=f"{leader} crashed and restarted")
            for k, node in enumerate(c.nodes):
                if k % 2 == seed % 2:
                    CrashAfter(c.sim.now, node, "send:request_vote_reply").apply(c.sim)
                else:
                    CrashAtWrite(c.sim.now, node).apply(c.sim)
            now = c.checker.leader()
            if now is not None:
                c.sim.isolate(now[0])        # an election now, with the triggers armed
            for _ in range(8):
                c.sim.run_for(0.1)
                for node in c.nodes:
                    restart_soon(c, node)
            RecoverAll(c.sim.now).apply(c.sim)
            c.submit_to_leader("a4", within=2 * ELECTION_DEADLINE)
            c.wait_applied(["a1", "a2", "a4"], within=1.0,
                           why="after the crashes right after acknowledging")


@pytest.mark.points(4)
def test_leader_loses_one_link(lab):
    """The leader loses one link: it steps down when its followers move to a newer term

    One link between the leader L and one follower F is cut both ways; every other link
    works. F hears no heartbeat and starts elections: the three others move to F's newer
    term, and answer L's append_entries in it. A reply carries a term like any message, so
    within 0.3 s of its followers moving on, a leader of an older term must step down (Figure
    2, "All servers"), whoever wins the newer term; after 2 s the link is repaired and a
    command commits on all five within 2 s (12 seeds). Handout: Part 6."""
    for seed in LINK_SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            L = c.committed_start("a")
            k = c.nodes.index(L)
            F = (c.nodes[k + 1:] + c.nodes[:k])[0]
            c.sim.cut(L, F, both_ways=True)
            stale: dict[tuple[str, int], float] = {}   # (leader, term) -> when it went stale
            end = c.sim.now + LINK_CUT_TIME
            while c.sim.now < end:
                c.sim.run_for(0.01)
                views = c.checker.views
                for node, term in c.checker.current_leaders():
                    newer = sorted(n for n in c.nodes if c.sim.is_up(n)
                                   and views[n].term > term and {node, n} != {L, F})
                    if not newer:
                        stale.pop((node, term), None)
                        continue
                    since = stale.setdefault((node, term), c.sim.now)
                    if c.sim.now - since > STEP_DOWN_DEADLINE:
                        seen = ", ".join(f"{n} (term {views[n].term})" for n in newer)
                        raise PropertyViolation(
                            STALE_LEADER,
                            f"{node} was still leader of term {term} at t={c.sim.now:.3f}s, "
                            f"though {seen} had been in a newer term since t={since:.3f}s or "
                            f"earlier, and their links with {node} work (only the link "
                            f"{L}<->{F} is cut): they answer its append_entries with their "
                            f"term. A node that sees a newer term in any message, a reply "
                            f"included, adopts it and becomes a follower. Nodes: "
                            f"{c.describe()}", time=c.sim.now, nodes=(node,))
            RecoverAll(c.sim.now).apply(c.sim)
            c.await_recovery()


@pytest.mark.points(7)
def test_leader_returns_to_changed_logs(lab):
    """The same node leads twice, with its followers' logs changed in between

    L leads and replicates entries to one follower F only (they cannot commit). A new leader
    elected by the other three overwrites L's and F's logs, then hands one more entry to L
    alone and crashes, so that L wins the next election among {L, F, G}. L must start its new
    term from what its followers hold now, not from what they held when it led before
    (nextIndex and matchIndex are reset on every election): no commit without a real majority
    (10 seeds). Handout: Part 6 and Part 2 ("Commitment")."""
    for seed in RETURN_SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            L = c.committed_start("a")
            F, *rest = [n for n in c.nodes if n != L]
            c.sim.partition([L, F], rest)
            for k in range(5):
                c.submit(L, f"x{k}")                 # on L and F only: never committed
            c.sim.run_while(lambda: len(c.checker.views[F].ids) < 6, 0.5)
            M, _, _ = c.submit_to_leader("y1", among=rest, within=2 * ELECTION_DEADLINE)
            c.wait_applied(["y1"], rest)
            c.sim.heal()                              # M brings L and F in line with it
            c.sim.run_while(lambda: not (c.checker.views[L].ids == c.checker.views[F].ids
                                         == c.checker.views[M].ids), 1.0)
            if c.checker.views[L].ids != c.checker.views[M].ids:
                raise PropertyViolation("liveness", f"1 s after the heal {L}'s log is not "
                                        f"{M}'s. Nodes: {c.describe()}", time=c.sim.now)
            others = [n for n in c.nodes if n not in (L, M)]
            c.sim.partition([M, L], others)           # y2 reaches L only
            c.submit(M, "y2")
            c.sim.run_while(lambda: len(c.checker.views[L].ids) < 3, 0.2)
            c.sim.crash(M)
            G = next(n for n in rest if n != M)
            c.sim.partition([L, F, G], [n for n in c.nodes if n not in (L, F, G)])
            again, _ = c.wait_leader(among=[L, F, G], within=2 * ELECTION_DEADLINE,
                                     why=f"{M} crashed; only {L} holds y2")
            if again != L:
                continue                             # y2 did not reach L in time: no test
            c.submit(L, "z")
            c.sim.run_for(0.5)
            c.sim.heal()
            c.sim.restart(M)
            c.submit_to_leader("after", within=2 * ELECTION_DEADLINE)
            c.wait_applied(["a", "y1", "after"], within=1.0)


@pytest.mark.points(10)
def test_leader_churn_unreliable(lab):
    """Leader churn on an unreliable network (Figure 8, unreliable)

    For 30 s per seed, whenever a leader is followed by a majority it is crashed, isolated
    or split off with one more node after holding on for 0-200 ms (some 130 leaders lost
    per seed, 400 in all) while a client submits a command every 20 ms; messages are lost
    (10 %), duplicated (10 %) and held back up to 500 ms (10 %), so votes and append_entries
    replies arrive late, twice, and from older terms. Crashed and cut-off nodes come back at
    random, and whenever fewer than three nodes are up and connected. Safety holds after
    every event; then everything is repaired and a command commits on all five within 2 s
    (3 seeds). Handout: Part 6."""
    for seed in CHURN_SEEDS:
        c = Cluster(lab, seed=seed, network=UNRELIABLE, max_time=CHURN_TIME + 10)
        rng = random.Random(f"figure8-unreliable/{seed}")
        cut: set[str] = set()
        state = {"lost": 0, "leader": None, "until": 0.0}

        def churn() -> None:
            if c.sim.now >= CHURN_TIME:
                return
            before = set(cut)
            leader = c.established_leader()
            if leader is not None and leader != state["leader"]:
                state["leader"], state["until"] = leader, c.sim.now + rng.uniform(0.0, 0.2)
            elif leader is not None and c.sim.now >= state["until"]:
                node = leader[0]
                how = rng.choice(("crash", "isolate", "minority"))
                if how == "crash":
                    c.sim.crash(node)
                else:
                    cut.add(node)
                    if how == "minority":
                        cut.add(rng.choice([n for n in c.nodes if n != node]))
                state["lost"] += 1
            away = [n for n in c.nodes if not c.sim.is_up(n) or n in cut]
            while away and (len(away) > 2 or rng.random() < 0.02):
                back = away.pop(rng.randrange(len(away)))
                if not c.sim.is_up(back):
                    c.sim.restart(back)
                cut.discard(back)
            if cut != before:
                if cut:
                    c.sim.partition(sorted(cut), [n for n in c.nodes if n not in cut])
                else:
                    c.sim.heal()
            c.sim.after(0.02, churn)

        c.sim.at(0.5, churn)
        c.workload(0.3, CHURN_TIME, period=0.02)
        with c.scenario():
            c.sim.run_until(CHURN_TIME + 0.1)
            RecoverAll(c.sim.now).apply(c.sim)
            c.await_recovery()
            lost = state["lost"]
            if lost < 20 or c.checker.commit_index() < 20:
                raise AssertionError(f"{lost} leaders were lost and {c.checker.commit_index()} "
                                     f"entries committed in {CHURN_TIME:g} s of churn; expected "
                                     f"a new leader after each loss and commits in between")


@pytest.mark.points(15)
def test_aimed_generated(lab):
    """Safety under generated faults aimed at the leader

    120 generated schedules over 3 s whose faults pick their victim when they fire (the
    leader, one of its followers, the most lagging follower) among crashes, restarts,
    pauses, isolations, one-way and two-way cuts of one link, minorities around the leader,
    crashes right after a node acknowledged something or at its next storage write, and a
    network that loses, duplicates and delays messages (some duplication and long delays
    always), while a client submits a command every 100 ms: every invariant holds after every
    event, and within 2 s of everything being repaired a new command commits on all five
    nodes. Handout: Part 6, "Generated schedules"."""
    network = NetworkConfig(duplicate=0.05, long_delay=0.05, long_delay_max=0.4)
    smoke_run(lab, fault_end=3.0)
    budget = ShrinkBudget()

    @grading_settings(max_examples=120, phases=PHASES)
    @given(schedule=aimed_schedules(node_names(5), TARGETS, end=3.0, events=TRIGGERS),
           seed=seeds())
    def schedules(schedule, seed):
        run_generated(lab, schedule, seed, fault_end=3.0, network=network, budget=budget)

    schedules()
