"""Part B under a lossy network and across restarts: strong operations whose home replicas are
all up must still succeed in time, because lost messages are sent again; and a reply counts
only for the operation it answers, even when it arrives after its coordinator restarted.
(Every run of every test also checks, at each strong acknowledgement and each strong read's
answer, that W = 2 distinct homes hold the entry: ``invariants.StrongWrites``.)
Handout: sections 4.2 and 4.3."""

from __future__ import annotations

import random

import pytest

from labkit import PropertyViolation
from labkit.grading.scenario import scenario

from .harness import (CACHE_NODES, SLACK, STRONG_TIMEOUT, check_linearizable, check_reply_shape,
                      cluster, delete, describe, expect_ok, expect_value, finish, get, homes,
                      put, when_delivered)

LOSS, DUPLICATE = 0.15, 0.3
UNDER_LOSS = "a strong operation succeeds under message loss when its homes are up"
OWN_REPLIES = "a reply counts only for the operation it answers, even after a restart"
SEEDS = range(8)
RESTART_SEEDS = range(8)


@pytest.mark.points(10)
def test_strong_ops_succeed_under_loss(lab):
    """With every home replica up, strong operations succeed within 0.5 s despite message loss

    Every node runs and every link is up, but 15% of messages are lost and 30% duplicated.
    Three clients each make 12 strong puts, gets and deletes of two keys, one at a time, on
    random nodes: every one must succeed within 0.5 s (resend every RETRY_INTERVAL what was not
    answered; count each home once), and the history must be linearizable. 8 seeds.
    Handout: sections 4.2 and 4.3."""
    for seed in SEEDS:
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            sim.set_network(loss=LOSS, duplicate=DUPLICATE)
            done: list[str] = []

            def loop(client: str, left: int) -> None:
                if left == 0:
                    done.append(client)
                    return
                node, key = rng.choice(CACHE_NODES), rng.choice(("x", "y"))
                kind = rng.choice(("put", "put", "get", "delete"))
                if kind == "put":
                    op = put(sim, node, key, f"{client}:{12 - left}", "strong", client=client)
                elif kind == "get":
                    op = get(sim, node, key, "strong", client=client)
                else:
                    op = delete(sim, node, key, "strong", client=client)
                op.then(lambda op: (expect_served(op), loop(client, left - 1)))

            for client in ("a1", "a2", "a3"):
                loop(client, 12)
            sim.run_while(lambda: len(done) < 3, limit=30.0)
            sim.set_network(loss=0.0, duplicate=0.0)
            sim.run_for(STRONG_TIMEOUT)
            check_linearizable(sim)


def expect_served(op) -> None:
    if op.ok and op.latency <= STRONG_TIMEOUT + SLACK:
        check_reply_shape(op)
        return
    raise PropertyViolation(UNDER_LOSS, f"every node runs and every link is up, but "
                                        f"{LOSS:.0%} of messages are lost and {DUPLICATE:.0%} "
                                        f"duplicated, so it must succeed within "
                                        f"{STRONG_TIMEOUT:g} s: resend to the homes that have "
                                        f"not answered; {describe(op)}",
                            time=op.ret if op.ret is not None else op.call + STRONG_TIMEOUT)


@pytest.mark.points(5)
def test_late_replies_after_restart(lab):
    """A reply that arrives after its coordinator restarted counts for no new operation

    Two keys a and b are written (strong) by one node, a last. Then another node, just
    restarted, does a strong get of a; right when two homes of a have its read message (their
    answers in flight), it crashes and restarts at once, and a strong get of b starts on it.
    The late answers about a are for an operation of the old incarnation: the get of b must
    return b's value (operation ids must not repeat across restarts; an answer is matched to
    its operation and key). Then the same with a strong put of b. 8 seeds.
    Handout: sections 4.2 and 5.4."""
    for seed in RESTART_SEEDS:
        rng = random.Random(seed)
        sim = cluster(lab, seed)
        key_a, key_b = f"late-a-{seed}", f"late-b-{seed}"
        writer, coordinator = rng.sample(CACHE_NODES, 2)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            for key, value in ((key_b, "B"), (key_a, "A")):
                w = put(sim, writer, key, value, "strong")
                finish(sim, w)
                expect_ok(w, OWN_REPLIES, "every node is up and connected")
            for round, kind in enumerate(("get", "put")):
                sim.crash(coordinator)           # a fresh incarnation with nothing in flight
                sim.restart(coordinator)
                struck: list[tuple[float, list[str]]] = []
                after: list = []

                def strike(got: list[str], kind=kind, round=round) -> None:
                    struck.append((sim.now, got))
                    sim.crash(coordinator)
                    sim.restart(coordinator)
                    if kind == "get":
                        after.append(get(sim, coordinator, key_b, "strong"))
                    else:
                        after.append(put(sim, coordinator, key_b, f"B{round}", "strong"))

                when_delivered(sim, coordinator, homes(lab, key_a), 2, strike)
                first = get(sim, coordinator, key_a, "strong")
                sim.run_for(0.1)
                if not after:
                    raise PropertyViolation(OWN_REPLIES, f"{coordinator} started a strong get "
                                                         f"of {key_a!r} with every node up, but "
                                                         f"within 0.1 s no two homes of it "
                                                         f"({', '.join(homes(lab, key_a))}) "
                                                         f"received a message from "
                                                         f"{coordinator}", time=sim.now)
                op = after[0]
                finish(sim, op)
                at, got = struck[0]
                why = (f"{coordinator} crashed and restarted at t={at:.3f}s, while the answers "
                       f"of {' and '.join(got)} to its strong get of {key_a!r} (op#{first.id}, "
                       f"from before the restart) were in flight; those answers are about "
                       f"{key_a!r} and an operation of the old incarnation")
                if kind == "get":
                    expect_value(op, "B", OWN_REPLIES,
                                 f"{why}, and {key_b}='B' is the last write of {key_b!r}")
                else:
                    expect_ok(op, OWN_REPLIES, f"{why}; every node is up and connected")
                    check = get(sim, writer, key_b, "strong")
                    finish(sim, check)
                    expect_value(check, f"B{round}", OWN_REPLIES,
                                 f"{why}; the strong put {key_b}='B{round}' (op#{op.id}) was "
                                 f"acknowledged at t={op.ret:.3f}s")
                sim.run_for(0.3)
            check_linearizable(sim)
