"""Part B under a lossy network: strong operations whose home replicas are all up must still
succeed in time, because lost messages are sent again. (Every run of every test also checks,
at each strong acknowledgement, that W = 2 distinct homes hold the entry:
``invariants.StrongWrites``.) Handout: sections 4.2 and 4.3."""

from __future__ import annotations

import random

import pytest

from labkit import PropertyViolation
from labkit.grading.scenario import scenario

from .harness import (CACHE_NODES, SLACK, STRONG_TIMEOUT, check_linearizable, check_reply_shape,
                      cluster, delete, describe, finish, get, put)

LOSS, DUPLICATE = 0.15, 0.3
UNDER_LOSS = "a strong operation succeeds under message loss when its homes are up"
SEEDS = range(8)


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
