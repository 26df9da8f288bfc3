"""Part 4: an unreliable network (handout: "Part 4: Unreliable network").

Messages are lost, duplicated and delivered out of order; nodes crash and partitions come and
go. Safety is checked after every event; progress is required once the faults stop.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given

from labkit import NetworkConfig, node_names
from labkit.faults import RecoverAll
from labkit.strategies import fault_schedules, grading_settings, seeds

from .harness import DUPLICATING, PHASES, Cluster, ShrinkBudget, run_generated, smoke_run

LOSSY = NetworkConfig(loss=0.2, duplicate=0.2, long_delay=0.2, long_delay_max=0.3)
LOSSY_DEADLINE = 4.0   # all 20 commands applied on every node, from the first submit
SEEDS = range(6)


@pytest.mark.points(10)
def test_agreement_lossy_network(lab):
    """Agreement over a lossy, duplicating, reordering network

    Every message is lost with probability 0.2, duplicated with probability 0.2 and held
    back up to 300 ms (reordered) with probability 0.2. A client submits 20 commands to the
    leader, 50 ms apart, resubmitting a command to the current leader if it has not committed
    within 1 s. Within 4 s every node applies all 20, each once or more, and in one order.
    Handout: Part 4."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed, network=LOSSY)
        commands = [f"m{k}" for k in range(20)]
        with c.scenario():
            c.wait_leader(within=2.0, why="the first election, on a lossy network")
            sent_at: dict[str, float] = {}

            def client() -> None:
                for command in commands:
                    if len(c.applied_ever(command)) >= c.majority:
                        continue
                    if command in sent_at and c.sim.now - sent_at[command] < 1.0:
                        continue
                    leader = c.checker.leader()
                    if leader is not None:
                        c.submit(leader[0], command)
                        sent_at[command] = c.sim.now
                    break  # one new submit per tick
                c.sim.after(0.05, client)

            client()
            c.wait_applied(commands, within=LOSSY_DEADLINE,
                           why="20 commands over a lossy network")
            orders = {tuple(dict.fromkeys(c.checker.applied_by(n))) for n in c.nodes}
            if len(orders) != 1:
                raise AssertionError(f"the nodes applied the commands in different orders: "
                                     f"{sorted(orders)}")


@pytest.mark.points(10)
def test_churn_crashes_partitions(lab):
    """Churn with crashes and partitions

    For 5 s, every 200-400 ms something breaks or heals: a node crashes or restarts (at
    most two down), the network splits at random or heals, a node is isolated; 10 % of the
    messages are lost and a client submits a command every 100 ms. Safety holds throughout,
    and within 2 s of the end a new command commits on all five. Handout: Part 4."""
    for seed in SEEDS:
        c = Cluster(lab, seed=seed, network=NetworkConfig(loss=0.1))
        rng = random.Random(f"churn/{seed}")
        history: list[str] = []

        def churn() -> None:
            if c.sim.now > 5.0:
                return
            down = [n for n in c.nodes if not c.sim.is_up(n)]
            action = rng.choice(["crash", "restart", "partition", "heal", "isolate"])
            if action == "crash" and len(down) < 2:
                node = rng.choice([n for n in c.nodes if c.sim.is_up(n)])
                c.sim.crash(node)
                history.append(f"t={c.sim.now:.3f}s crash {node}")
            elif action == "restart" and down:
                node = rng.choice(down)
                c.sim.restart(node)
                history.append(f"t={c.sim.now:.3f}s restart {node}")
            elif action == "partition":
                sides = [rng.randint(0, 1) for _ in c.nodes]
                groups = [[n for n, s in zip(c.nodes, sides) if s == k] for k in (0, 1)]
                c.sim.partition(*[g for g in groups if g])
                history.append(f"t={c.sim.now:.3f}s partition {groups}")
            elif action == "isolate":
                node = rng.choice(c.nodes)
                c.sim.isolate(node)
                history.append(f"t={c.sim.now:.3f}s isolate {node}")
            else:
                c.sim.heal()
                history.append(f"t={c.sim.now:.3f}s heal")
            c.sim.after(rng.uniform(0.2, 0.4), churn)

        c.sim.at(0.4, churn)
        c.workload(0.3, 5.0)
        with c.scenario():
            c.sim.run_until(5.2)
            RecoverAll(c.sim.now).apply(c.sim)
            c.await_recovery()
            if c.checker.commit_index() < 5:
                raise AssertionError(f"only {c.checker.commit_index()} entries committed in 5 s "
                                     f"of churn: {'; '.join(history)}")


@pytest.mark.points(15)
def test_unreliable_generated(lab):
    """Safety under generated network faults

    130 generated schedules over 3 s of message loss, duplication and reordering, one-way
    cuts, isolated nodes, partitions and paused nodes (a paused node wakes up to a backlog of
    old messages and timers) while a client submits a command every 100 ms: every invariant
    holds after every event, and within 2 s of everything being repaired a new command
    commits on all five nodes. Handout: Part 4, "Generated schedules"."""
    smoke_run(lab, fault_end=3.0)
    budget = ShrinkBudget()

    @grading_settings(max_examples=130, phases=PHASES)
    @given(schedule=fault_schedules(node_names(5), end=3.0,
                                    kinds=("network", "cut", "isolate", "partition", "heal",
                                           "pause", "resume")),
           seed=seeds())
    def schedules(schedule, seed):
        run_generated(lab, schedule, seed, fault_end=3.0, network=DUPLICATING, budget=budget)

    schedules()
