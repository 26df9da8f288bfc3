"""Lab 2 benchmark (not graded): how fast the reference Raft cluster is checked under
generated fault schedules, the work the generated grader tests do.

    python -c "from graders.lab2_raft.bench import bench; print(bench())"

Runs ``schedules`` schedules of the replication test's kind (every fault kind over 3 s, a
client command every 100 ms, then RecoverAll and the liveness phase) through Hypothesis with
the grading profile, every invariant checked after every event, and reports:

* ``lab2_schedules_per_second``: generated schedules per wall second, Hypothesis included;
* ``lab2_sim_seconds_per_wall_second``: virtual seconds simulated per wall second of the runs;
* ``lab2_events_per_second``: simulator events (with the checks after each) per wall second;
* ``lab2_checker_share``: the fraction of the run time spent in the invariant checker.
"""

from __future__ import annotations

import time

from hypothesis import given

from labkit import node_names
from .invariants import RaftChecker
from labkit.strategies import fault_schedules, grading_settings, seeds
from instructor.testing import reference_lab

from . import harness

FAULT_END = 3.0


def bench(schedules: int = 200) -> dict[str, float]:
    lab = reference_lab("lab2_raft")
    totals = {"sim": 0.0, "wall": 0.0, "events": 0, "checker": 0.0}
    checker_calls = (RaftChecker._after_event, RaftChecker._on_apply)

    def timed(fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals["checker"] += time.perf_counter() - start
        return wrapper

    @grading_settings(max_examples=schedules, phases=harness.PHASES)
    @given(schedule=fault_schedules(node_names(5), end=FAULT_END), seed=seeds())
    def one(schedule, seed):
        start = time.perf_counter()
        cluster = harness.run_schedule(lab, schedule, seed, fault_end=FAULT_END)
        totals["wall"] += time.perf_counter() - start
        totals["sim"] += cluster.sim.now
        totals["events"] += cluster.sim.events

    RaftChecker._after_event, RaftChecker._on_apply = map(timed, checker_calls)
    try:
        start = time.perf_counter()
        one()
        elapsed = time.perf_counter() - start
    finally:
        RaftChecker._after_event, RaftChecker._on_apply = checker_calls
    return {
        "lab2_schedules_per_second": round(schedules / elapsed, 1),
        "lab2_sim_seconds_per_wall_second": round(totals["sim"] / totals["wall"], 1),
        "lab2_events_per_second": round(totals["events"] / totals["wall"]),
        "lab2_checker_share": round(totals["checker"] / totals["wall"], 3),
    }
