"""A restarted node offers its writes again: a bug that survived mutation testing of the graders
(issue 13, `nox -s mutants -- lab1`). A node whose outbox dies in a crash, and which does not
put its keys back in it on restart, passed every other test: the write it acknowledged while
cut off never reached its peers. Handout: section 6."""

from __future__ import annotations

import pytest

from labkit import PropertyViolation
from labkit.grading.scenario import scenario

from .cluster import CATCH_UP_WITHIN, NODES, Cluster, acked

OFFERS_AGAIN = "a restarted node offers every key it holds to its peers again"


@pytest.mark.points(4)
def test_restarted_node_offers_its_writes_again(lab):
    """A restarted node offers its writes to its peers again

    A node cut off from both peers acknowledges an eventual write, crashes before any peer has
    it, and restarts with its links back: within 1 s both peers hold the write (its outbox was
    lost in the crash, so on_start must put every key it holds back in it). Handout: section 6."""
    for seed in range(3):
        c = Cluster(lab, seed)
        node = NODES[seed % 3]
        with scenario(c.sim, seed=seed):
            c.run_until(0.1)
            c.sim.isolate(node)
            write = c.call(c.set(node, "x", f"written-on-{node}"))
            if not acked(write):
                raise PropertyViolation(OFFERS_AGAIN, f"{write.describe()}: an eventual write is "
                                                      f"acknowledged at once, even cut off")
            c.run_until(c.now + 0.05)
            c.sim.crash(node)
            c.sim.heal()
            c.run_until(c.now + 0.3)
            c.sim.restart(node)
            c.run_until(c.now + CATCH_UP_WITHIN)
            held = c.read_replicas(["x"])["x"]
            missing = [n for n in NODES if held[n][1] != f"written-on-{node}"]
            if missing:
                raise PropertyViolation(
                    OFFERS_AGAIN, f"{node} acknowledged x={f'written-on-{node}'!r} while cut off, "
                                  f"crashed, and was restarted with its links back; "
                                  f"{CATCH_UP_WITHIN:g}s later {', '.join(missing)} still "
                                  f"hold{'s' if len(missing) == 1 else ''} "
                                  f"{', '.join(repr(held[n][1]) for n in missing)}. Its outbox "
                                  f"was lost in the crash: on_start must offer every key it "
                                  f"holds to every peer again", time=c.now)
