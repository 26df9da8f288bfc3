"""Crashes, bad input and cost: a restarted node keeps its replica and catches up, malformed
requests are refused without harm, and replication stays within its message budget.
Handout: sections 3, 6 and 7."""

from __future__ import annotations

import pytest

from labkit import PropertyViolation
from labkit.grading.scenario import scenario

from .cluster import (CATCH_UP_WITHIN, CONVERGE_WITHIN, MESSAGES_PER_WRITE, NODES, Cluster,
                      acked, describe_replicas)
from .properties import check_converged, check_reads_return_written_values

RESTART = "a restarted node keeps its replica and catches up"
BAD_REQUESTS = "a malformed request gets an error and changes nothing"
BUDGET = "eventual replication stays within its message budget"

BAD_BODIES = (
    {},                                                        # no op
    {"op": "delete", "key": "x"},                              # unknown op
    {"op": ["set"], "key": "x", "value": "v"},                 # op is not a string
    {"op": "get"},                                             # missing key
    {"op": "get", "key": ""},                                  # empty key
    {"op": "set", "key": 7, "value": "v"},                     # key is not a string
    {"op": "set", "key": "x"},                                 # missing value
    {"op": "set", "key": "x", "value": "v", "consistency": "linearizable"},
    {"op": "get", "key": "x", "consistency": "STRONG"},
)


@pytest.mark.points(6)
def test_restart_keeps_data_and_catches_up(lab):
    """A restarted node keeps its data and catches up

    n3 crashes, misses writes, and restarts cut off from its peers: its gets must return what
    it held before the crash (so the replica lives in storage). Once reconnected it holds
    what it missed within 1 s. Finally all three nodes crash and restart: every node still
    answers with the newest values at once. Handout: section 6."""
    for seed in range(3):
        c = Cluster(lab, seed)
        down = NODES[2 - seed % 3]
        up = [n for n in NODES if n != down]
        keys = ["k1", "k2", "k3", "k4"]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            for i, key in enumerate(keys):
                c.set(NODES[i % 3], key, f"{key}-before")
            c.run_until(0.6)
            before = c.read_replicas(keys)
            c.sim.crash(down)
            c.set(up[0], "k1", "k1-missed")
            c.set(up[1], "k5", "k5-missed", strong=True)
            c.run_until(1.2)
            c.sim.isolate(down)
            c.sim.restart(down)
            held = c.read_replicas(keys, nodes=[down])
            for key in keys:
                if held[key][down] != before[key][down]:
                    raise PropertyViolation(
                        RESTART, f"right after its restart {down} holds "
                                 f"{held[key][down][1]!r} for {key!r}; before the crash it held "
                                 f"{before[key][down][1]!r}. Keep the replica in self.storage "
                                 f"and load it in on_start", time=c.now)
            c.sim.heal()
            c.run_until(c.now + CATCH_UP_WITHIN)
            caught = c.read_replicas(["k1", "k5"], nodes=[down])
            for key, want in (("k1", "k1-missed"), ("k5", "k5-missed")):
                if caught[key][down][1] != want:
                    raise PropertyViolation(
                        RESTART, f"{CATCH_UP_WITHIN:g}s after {down} came back it holds "
                                 f"{caught[key][down][1]!r} for {key!r}, not {want!r}, which it "
                                 f"missed while down", time=c.now)
            latest = c.read_replicas(keys + ["k5"])
            for node in NODES:
                c.sim.crash(node)
            c.run_until(c.now + 0.1)
            for node in NODES:
                c.sim.restart(node)
            after = c.read_replicas(keys + ["k5"])
            for key in keys + ["k5"]:
                if after[key] != latest[key]:
                    raise PropertyViolation(
                        RESTART, f"after all three nodes crashed and restarted, key {key!r}: "
                                 f"{describe_replicas(after[key])}; before the crash: "
                                 f"{describe_replicas(latest[key])}", time=c.now)
            check_reads_return_written_values(c.node_ops())


@pytest.mark.points(4)
def test_bad_requests_get_errors(lab):
    """Malformed requests get an error and the node keeps serving

    Requests with no op or an unknown one, a missing, empty or non-string key, a set without
    a value, or an unknown consistency each get {"error": "bad_request", ...} and change
    nothing; the node then serves good requests as usual. Handout: section 3."""
    for seed in range(2):
        c = Cluster(lab, seed)
        node = NODES[seed % 3]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            for body in BAD_BODIES:
                op = c.call(c.sim.request(node, body))
                if op.error != "bad_request":
                    raise PropertyViolation(BAD_REQUESTS, f"{op.describe()}: expected "
                                                          f"{{'error': 'bad_request', 'reason': "
                                                          f"...}}", time=c.now)
            c.run_until(c.now + 0.5)
            untouched = c.read_replicas(["x"])["x"]
            if any(value is not None for _, value in untouched.values()):
                raise PropertyViolation(BAD_REQUESTS, f"only malformed requests touched key "
                                                      f"'x', yet {describe_replicas(untouched)}")
            good = c.call(c.set(node, "x", "fine"))
            if not acked(good):
                raise PropertyViolation(BAD_REQUESTS, f"after the malformed requests, "
                                                      f"{good.describe()} must succeed")
            c.run_until(c.now + CONVERGE_WITHIN)
            check_converged(c, ["x"])


@pytest.mark.points(5)
def test_replication_message_budget(lab):
    """Replication stays within its message budget

    On a healthy network, 40 eventual writes (spread over 4 s, on every node) must reach
    every node with at most 5 messages per write in total, and an idle cluster sends
    nothing: no messages in the last second once every replica agrees. Handout: section 7."""
    writes = 40
    for seed in range(3):
        c = Cluster(lab, seed)
        keys = ["a", "b", "c", "d", "e"]
        with scenario(c.sim, seed=seed):
            for i in range(writes):
                t = round(c.rng.uniform(0.1, 4.0), 3)
                node, key = c.rng.choice(NODES), c.rng.choice(keys)
                c.at(t, lambda node=node, key=key, i=i: c.set(node, key, f"{key}{i}"))
            c.run_until(5.0)
            sent_by_5 = c.sim.sent
            c.run_until(6.0)
            idle = c.sim.sent - sent_by_5
            by_type = ", ".join(f"{t}: {n}" for t, n in sorted(c.sim.sent_by_type.items()))
            # Idle traffic first: a node that never clears its outbox also blows the total,
            # and "stop resending once acknowledged" is then the fix, not the resend timing.
            if idle:
                raise PropertyViolation(
                    BUDGET, f"{idle} messages sent between t=5.0s and t=6.0s, when every write "
                            f"had long been acknowledged ({c.sim.sent} in the whole run: "
                            f"{by_type}): stop resending a write once every peer has "
                            f"acknowledged it (remove it from the outbox)", time=c.now)
            if c.sim.sent > MESSAGES_PER_WRITE * writes:
                raise PropertyViolation(
                    BUDGET, f"{c.sim.sent} messages for {writes} eventual writes on a healthy "
                            f"network ({by_type}); the budget is {MESSAGES_PER_WRITE} per write, "
                            f"{MESSAGES_PER_WRITE * writes} in all. One replicate and one "
                            f"acknowledgement per peer is 4; resend only after RETRY_INTERVAL",
                    time=c.now)
            check_converged(c, keys)
