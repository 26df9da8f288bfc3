"""Strong requests when the first messages are lost, and several at once on one node: bugs that
survived mutation testing of the graders (issue 13, `nox -s mutants -- lab1`). A prepare or a
read sent once and never resent, a deadline that fires at the first retry, and one operation id
for every write of a node all passed every other test. Handout: section 4."""

from __future__ import annotations

import pytest

from labkit import PropertyViolation
from labkit.grading.scenario import scenario

from .cluster import NODES, RETRY_INTERVAL, Cluster, value_of, version_of
from .test_strong import MAJORITY_SIDE, READ_MAJORITY, expect_acked

RESENDS = "strong requests resend to the silent peers every RETRY_INTERVAL"
OVERLAP = "strong requests running at the same time on one node are each answered"
AT_ONCE = ("a strong request sends its prepares or reads at once: on a healthy network it is "
           "answered before the first resend is due (RETRY_INTERVAL)")
LOST_FOR = RETRY_INTERVAL / 2   # the links are cut this long: the first try is lost, not the next


def _lose_first_messages(c: Cluster, node: str, *, outgoing: bool) -> None:
    """Cut ``node``'s links to (or from) both peers now, and heal them LOST_FOR later."""
    for peer in NODES:
        if peer != node:
            c.sim.cut(node, peer) if outgoing else c.sim.cut(peer, node)
    c.at(c.now + LOST_FOR, c.sim.heal)


@pytest.mark.points(5)
def test_strong_requests_resend_and_overlap(lab):
    """Strong requests resend lost messages and can overlap on one node

    On a healthy network a strong write and a strong read are answered within 0.1 s (before a
    resend is due: the first prepares and reads go out at once). The coordinator's first
    prepares are lost (its links to both peers are cut for 50 ms),
    then the peers' first answers, then its first strong-read requests: each strong request
    must still be acknowledged within 0.6 s, the read with the value written. Then two strong
    writes and two strong reads start at the same instant on one node: each gets its own
    answer (its own version, the right value). Handout: section 4."""
    for seed in range(3):
        c = Cluster(lab, seed)
        node = NODES[seed % 3]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            for op in (c.call(c.set(node, "x", "healthy", strong=True)),
                       c.call(c.get(node, "x", strong=True))):
                expect_acked(op, MAJORITY_SIDE)
                if op.latency >= RETRY_INTERVAL:
                    raise PropertyViolation(AT_ONCE, f"{op.describe()}: answered after "
                                                     f"{op.latency:.3f}s on a healthy network "
                                                     f"(every message takes at most 10 ms)",
                                            time=op.ret)
            _lose_first_messages(c, node, outgoing=True)
            expect_acked(c.call(c.set(node, "x", "lost-prepare", strong=True)), RESENDS)
            c.run_until(c.now + RETRY_INTERVAL)
            _lose_first_messages(c, node, outgoing=False)
            expect_acked(c.call(c.set(node, "x", "lost-answer", strong=True)), RESENDS)
            c.run_until(c.now + RETRY_INTERVAL)
            _lose_first_messages(c, node, outgoing=True)
            read = c.call(c.get(node, "x", strong=True))
            expect_acked(read, RESENDS)
            if value_of(read) != "lost-answer":
                raise PropertyViolation(READ_MAJORITY, f"{read.describe()}: the last "
                                                       f"acknowledged write was 'lost-answer'")
            c.run_until(c.now + RETRY_INTERVAL)
            writes = [c.set(node, key, f"both-{key}", strong=True) for key in ("a", "b")]
            c.sim.run_until_done(*writes)
            for op in writes:
                expect_acked(op, OVERLAP)
            if version_of(writes[0]) == version_of(writes[1]):
                raise PropertyViolation(OVERLAP, f"{writes[0].describe()} and "
                                                 f"{writes[1].describe()} got the same version")
            reads = [c.get(node, key, strong=True) for key in ("a", "b")]
            c.sim.run_until_done(*reads)
            for key, op in zip(("a", "b"), reads):
                expect_acked(op, OVERLAP)
                if value_of(op) != f"both-{key}":
                    raise PropertyViolation(OVERLAP, f"{op.describe()}: expected 'both-{key}', "
                                                     f"acknowledged just before")
            expect_acked(c.call(c.set(NODES[(seed + 1) % 3], "x", "after", strong=True)),
                         MAJORITY_SIDE)
