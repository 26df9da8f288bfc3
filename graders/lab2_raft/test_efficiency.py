"""Part 5: efficiency (handout: "Part 5: Message budgets").

Raft is cheap when nothing fails: a handful of messages to elect, one round trip per
follower per command, one heartbeat round per interval when idle. These tests count the
messages the simulator carried (``sim.sent``, ``sim.sent_by_type``).
"""

from __future__ import annotations

import pytest

from labkit import PropertyViolation

from .harness import Cluster

ELECTION_BUDGET = 40      # messages from boot until all five follow one leader
ENTRY_BUDGET = 12.0       # messages per committed command, 50 commands 20 ms apart
IDLE_BUDGET = 200.0       # messages per second with a leader and no commands (5 nodes)
SEEDS = range(8)
BUSY_SEEDS = range(3)


@pytest.mark.points(6)
def test_first_election_messages(lab):
    """First election within a message budget

    From boot until all five nodes follow one leader, at most 40 messages in all (a round of
    votes is 8 messages, the new leader's first heartbeat round 8 more). Handout: Part 5."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            c.wait_agreement(why="the first election")
            if c.sim.sent > ELECTION_BUDGET:
                raise PropertyViolation(
                    "message budget", f"the first election took {c.sim.sent} messages "
                    f"(budget {ELECTION_BUDGET}); by type: {dict(c.sim.sent_by_type)}",
                    time=c.sim.now)


@pytest.mark.points(7)
def test_messages_per_entry(lab):
    """Messages per committed command

    With a leader in place, 50 commands arrive 20 ms apart. From the first submit until
    every node has applied all 50, the cluster sends at most 12 messages per command on
    average, heartbeats included. Handout: Part 5."""
    for seed in BUSY_SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            leader, _ = c.wait_agreement(why="the first election")
            c.sim.run_for(0.2)
            before, by_type = c.sim.sent, dict(c.sim.sent_by_type)
            commands = [f"e{k}" for k in range(50)]
            for k, command in enumerate(commands):
                c.sim.at(c.sim.now + 0.02 * k, lambda command=command: c.submit(leader, command))
            c.sim.run_for(0.02 * len(commands))
            c.wait_applied(commands, within=1.0)
            per_entry = (c.sim.sent - before) / len(commands)
            if per_entry > ENTRY_BUDGET:
                delta = {t: n - by_type.get(t, 0) for t, n in c.sim.sent_by_type.items()}
                raise PropertyViolation(
                    "message budget", f"{per_entry:.1f} messages per committed command "
                    f"(budget {ENTRY_BUDGET:g}); sent by type: {delta}", time=c.sim.now)


@pytest.mark.points(7)
def test_idle_messages(lab):
    """Idle cluster message rate

    A cluster with a leader and no commands sends at most 200 messages per second (a
    heartbeat round of 4 append_entries and 4 replies every 50 ms is 160), and the leader
    stays the same. Handout: Part 5."""
    for seed in BUSY_SEEDS:
        c = Cluster(lab, seed=seed)
        with c.scenario():
            leader = c.wait_agreement(why="the first election")
            c.sim.run_for(0.2)
            before, by_type = c.sim.sent, dict(c.sim.sent_by_type)
            c.sim.run_for(2.0)
            rate = (c.sim.sent - before) / 2.0
            if rate > IDLE_BUDGET:
                delta = {t: n - by_type.get(t, 0) for t, n in c.sim.sent_by_type.items()}
                raise PropertyViolation(
                    "message budget", f"an idle cluster sent {rate:.0f} messages per second "
                    f"(budget {IDLE_BUDGET:g}); in 2 s by type: {delta}", time=c.sim.now)
            if c.agreed_leader() != leader:
                raise AssertionError(f"{leader[0]} led term {leader[1]}, but after 2 idle "
                                     f"seconds: {c.describe()}")
