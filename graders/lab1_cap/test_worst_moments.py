"""Strong writes under late and duplicated acknowledgements, and a coordinator that crashes right
after it acknowledged one. (Every run also checks, at each strong acknowledgement, that a
majority holds the value in storage: ``invariants.StrongAcks``.) Handout: sections 4 and 6."""

from __future__ import annotations

import pytest

from labkit import PropertyViolation
from labkit.faults import CrashAfter, disarm
from labkit.grading.scenario import scenario

from .cluster import NODES, REPLY_DEADLINE, Cluster, acked, value_of
from .properties import check_acked_strong_writes_read, check_refused_invisible

LATE_ACKS = "an acknowledged strong write survives late acknowledgements and crashes"
SEEDS = range(12)


@pytest.mark.points(6)
def test_late_acks_and_crash_after_ack(lab):
    """A strong write counts only acknowledgements of its own version, and outlives its coordinator

    30% of messages are duplicated and 30% delayed up to 0.2 s. Six times, one node makes an
    eventual write of x and at once a strong write of x, so acknowledgements of the eventual
    version arrive while the strong write waits for its own: when it is acknowledged, a
    majority must hold it in storage. Then the node crashes right after it acknowledges one
    more strong write: a strong read on each other node, and on the node once it restarted,
    must return it. 12 seeds. Handout: sections 4 and 6."""
    for seed in SEEDS:
        c = Cluster(lab, seed)
        coordinator = NODES[seed % 3]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            c.sim.set_network(duplicate=0.3, long_delay=0.3, long_delay_max=0.2)
            for i in range(6):
                c.set(coordinator, "x", f"eventual-{i}")
                c.call(c.set(coordinator, "x", f"strong-{i}", strong=True))
            c.sim.set_network(duplicate=0.0, long_delay=0.0)
            c.run_until(c.now + 0.3)
            c.sim.apply_schedule((CrashAfter(c.now, coordinator, "reply"),))
            last = c.call(c.set(coordinator, "x", "last", strong=True))
            disarm(c.sim)
            if acked(last):
                why = (f"x='last' was acknowledged by {coordinator} at t={last.ret:.3f}s, which "
                       f"crashed right after it replied")
                for node in NODES:
                    if node == coordinator:
                        c.sim.restart(coordinator)
                        why += f"; {coordinator} restarted"
                    read = c.call(c.get(node, "x", strong=True))
                    if not acked(read) or value_of(read) != "last":
                        raise PropertyViolation(LATE_ACKS, f"{why}, so a strong read on {node} "
                                                           f"must return 'last' within "
                                                           f"{REPLY_DEADLINE:g} s; "
                                                           f"{read.describe()}",
                                                time=read.ret or read.call + REPLY_DEADLINE)
            check_acked_strong_writes_read(c.node_ops())
            check_refused_invisible(c.node_ops())
