"""Part B, convergence: once the faults are over and the clients are quiet, every replica ends
up with the same version and value of every key. Handout: section 4.5."""

from __future__ import annotations

import pytest
from hypothesis import given

from labkit import PropertyViolation
from labkit.faults import RecoverAll
from labkit.grading.scenario import scenario
from labkit.strategies import aimed_schedules, grading_settings, seeds

from .harness import (CLIENT_TIMEOUT, CONVERGENCE_DEADLINE, NODES, PHASES, Clients, burst,
                      cluster, describe, local_read)

CONVERGED = "replicas converge after heal"
FAULTS_END = 2.0
KEYS = ("x", "y", "z")          # clients write x and y; only the bursts write z


@pytest.mark.points(10)
@grading_settings(max_examples=25, phases=PHASES)
@given(schedule=aimed_schedules(NODES, ("writer", "coordinator"), start=0.2, end=FAULTS_END,
                                max_actions=6), seed=seeds())
def test_replicas_converge_after_heal(lab, schedule, seed):
    """All replicas converge after heal

    Writers on random nodes, and bursts where all five nodes write the same key at the same
    instant (so they pick the same counter), run under generated faults until t=2 s (some
    aimed at a node writing right now or at the last acknowledged write's coordinator, and
    crashes right after a reply or send, or at a storage write); then
    everything recovers and one last burst runs. Once the last client operation has ended,
    every replica must hold the same version and value of every key within 1 s (local reads
    show them). Handout: section 4.5."""
    sim = cluster(lab, seed)
    schedule = (*schedule, RecoverAll(FAULTS_END))
    sim.apply_schedule(schedule)
    clients = Clients(sim, seed, clients=3, keys=KEYS[:2], until=FAULTS_END, write_share=1.0)
    for i, at in enumerate((0.15, 0.9, 1.7, FAULTS_END + 0.05)):
        burst(sim, at, "z", f"burst{i}")
    with scenario(sim, seed=seed, schedule=schedule):
        clients.start(at=0.1)
        sim.run_until(FAULTS_END + 0.05 + CLIENT_TIMEOUT)   # every operation has ended by now
        quiet = max([FAULTS_END] + [op.ret for op in sim.history if op.ret is not None]
                    + [op.call + op.timeout for op in sim.history if op.ret is None])
        sim.run_until(quiet + CONVERGENCE_DEADLINE)
        written = {op.input["value"] for op in sim.history if op.input.get("op") == "write"}
        acked = {op.input["key"] for op in sim.history if op.input.get("op") == "write" and op.ok}
        for key in KEYS:
            reads = [local_read(sim, node, key) for node in NODES]
            sim.run_for(0.0)
            check_agreement(sim, key, reads, written, key in acked, quiet)


def check_agreement(sim, key, reads, written, acked: bool, quiet: float) -> None:
    since = (f"the cluster has been whole and quiet since t={quiet:.3f}s, "
             f"{CONVERGENCE_DEADLINE:g} s ago")
    for op in reads:
        if not op.ok or "value" not in op.output or "version" not in op.output:
            raise PropertyViolation(CONVERGED, f"a local read answers at once with "
                                               f"{{'value': v, 'version': [counter, node]}}; "
                                               f"{describe(op)}", time=sim.now)
    seen = {}
    for op in reads:
        seen.setdefault((repr(op.output["version"]), repr(op.output["value"])), []).append(op.node)
    if len(seen) > 1:
        holdings = "; ".join(f"{', '.join(nodes)} {'hold' if len(nodes) > 1 else 'holds'} "
                             f"version {v} = {val}"
                             for (v, val), nodes in sorted(seen.items()))
        raise PropertyViolation(CONVERGED, f"{since}, but the replicas of {key!r} differ: "
                                           f"{holdings}", time=sim.now)
    value = reads[0].output["value"]
    if value is None and acked:
        raise PropertyViolation(CONVERGED, f"{since}; a write of {key!r} was acknowledged, yet "
                                           f"every replica holds no value", time=sim.now)
    if value is not None and value not in written:
        raise PropertyViolation(CONVERGED, f"every replica of {key!r} holds {value!r}, which no "
                                           f"client ever wrote", time=sim.now)
