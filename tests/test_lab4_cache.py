"""Lab 4's own checks (tests/test_labs.py grades the reference, the starter and the buggy
variants of every lab): the variants' shared files, the grader harness itself, the history it
hands the checker, determinism, the checker's budget, the bench, and the handout's rubric."""

from __future__ import annotations

import importlib
import re
import sys

import pytest

from graderun import REPO, variants

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from graders.lab4_cache import bench as lab4_bench  # noqa: E402
from graders.lab4_cache import harness  # noqa: E402
from labkit.faults import Crash, Isolate, Network, Pause, RecoverAll, Restart, Resume  # noqa: E402
from labkit.linearizability import FAIL, OK, UNKNOWN  # noqa: E402

PACKAGE = "lab4_cache"
# The total the handout states ("**N points**"), which the rubric rows must add up to.
TOTAL = int(re.search(r"\*\*(\d+) points\.?\*\*",
                      (REPO / "assignments" / "lab4-cache.md").read_text()).group(1))
GRADER_MODULES = ("test_a_ring", "test_b1_strong", "test_b2_eventual", "test_b3_local",
                  "test_c_balancer", "test_d_faults")

def test_every_variant_ships_the_lab0_breaker():
    """Lab 4's balancer uses Lab 0's breaker: each variant carries a copy of lab0_resilience."""
    for path in variants(PACKAGE):
        assert (path / "lab0_resilience" / "__init__.py").is_file(), path


# ----- the harness -------------------------------------------------------------------------------

def reference():
    return lab4_bench.reference()


def test_checker_ops_follow_the_handout():
    """ok strong ops stay ok; refused or unanswered strong puts/deletes become unknown; refused
    gets, eventual ops and stats are dropped; position k is op#k."""
    ref = reference()
    sim = harness.cluster(ref, seed=3)
    sim.run_until(0.1)
    home = harness.homes(ref, "x")
    ops = [harness.put(sim, home[0], "x", "a", "strong")]
    harness.finish(sim, *ops)
    sim.crash(home[1])
    sim.crash(home[2])
    ops += [harness.put(sim, home[0], "x", "b", "strong"), harness.get(sim, home[0], "x", "strong"),
            harness.delete(sim, home[0], "x", "strong"),
            harness.put(sim, home[0], "z", "e", "eventual")]
    harness.finish(sim, *ops)
    sim.restart(home[1])
    sim.restart(home[2])
    sim.run_for(0.05)
    ops.append(harness.get(sim, home[1], "x", "strong"))
    harness.finish(sim, *ops)
    stats = sim.call(home[0], {"op": "stats"})
    converted = harness.checker_ops(sim.history)
    assert [op.status for op in converted] == [FAIL, OK, UNKNOWN, FAIL, UNKNOWN, FAIL, OK, FAIL]
    assert converted[2].input == {"op": "put", "key": "x", "value": "b"}
    assert converted[2].ret is None
    assert converted[4].input == {"op": "delete", "key": "x"}
    assert converted[6].output == {"value": sim.history[5].output["value"]}
    assert [op.id for op in sim.history] == list(range(1, 8)) and stats.ok
    harness.check_linearizable(sim)


def run_strong_workload(seed: int, schedule: tuple):
    ref = reference()
    sim = harness.cluster(ref, seed)
    sim.apply_schedule((*schedule, RecoverAll(2.5)))
    harness.Clients(sim, seed, consistency="strong", until=2.7, clients=4,
                    usable=harness.running).start(0.1)
    sim.run_until(3.8)
    return sim


HARSH = (
    (Network(0.2, loss=0.3, duplicate=0.3, long_delay=0.3), Isolate(0.6, "c1"),
     Pause(0.8, "c3"), Resume(1.4, "c3"), Crash(1.6, "c4"), Isolate(1.8, "c5")),
    (Crash(0.3, "c2"), Restart(0.9, "c2"), Crash(1.0, "c6"), Network(1.2, loss=0.3),
     Restart(1.8, "c6"), Pause(2.0, "c1")),
    (Isolate(0.2, "c3"), Isolate(0.4, "c4"), Network(0.5, long_delay=0.3, duplicate=0.3),
     Crash(1.1, "c5")),
)


@pytest.mark.parametrize("case", range(len(HARSH)))
def test_checker_decides_reference_histories_well_within_budget(case):
    harness.CHECK_STEPS.clear()
    sim = run_strong_workload(case, HARSH[case])
    harness.check_linearizable(sim)
    undecided = sum(op.status == "unknown" or (op.status == "fail" and op.input["op"] != "get")
                    for op in sim.history)
    assert undecided >= 2, "the schedule should leave some writes undecided"
    assert harness.CHECK_STEPS[-1] < harness.MAX_CHECK_STEPS // 20, harness.CHECK_STEPS


def test_same_seed_same_trace():
    digests = [run_strong_workload(7, HARSH[0]).trace.digest() for _ in range(2)]
    assert digests[0] == digests[1]
    assert run_strong_workload(8, HARSH[0]).trace.digest() != digests[0]


def test_bench_reports_every_figure(monkeypatch):
    monkeypatch.setattr(lab4_bench, "LOOKUPS", 2_000)
    monkeypatch.setattr(lab4_bench, "SIM_SECONDS", 0.5)
    monkeypatch.setattr(lab4_bench, "CHECK_SECONDS", 1.5)
    figures = lab4_bench.bench()
    assert set(figures) >= {"lab4_ring_lookups_per_second",
                            "lab4_cluster_sim_seconds_per_wall_second",
                            "lab4_checker_seconds_largest_history"}
    assert all(value > 0 for value in figures.values()), figures


def test_handout_rubric_matches_the_graders():
    """Every graded test is in the handout's rubric with its exact name and points, in the order
    the report lists them, and the points add up to 170."""
    handout = (REPO / "assignments" / "lab4-cache.md").read_text()
    rubric = handout.split("## 9. Rubric", 1)[1].split("## 10.", 1)[0]
    rows = []
    for line in rubric.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1].isdigit():
            rows.append((cells[0], int(cells[1])))
    graded = []
    for module in GRADER_MODULES:
        mod = importlib.import_module(f"graders.lab4_cache.{module}")
        tests = [getattr(mod, name) for name in vars(mod) if name.startswith("test_")]
        for fn in tests:
            marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "points"]
            if marks:
                graded.append((fn.__doc__.strip().splitlines()[0], marks[0].args[0]))
    assert graded == rows, (graded, rows)
    assert sum(points for _, points in graded) == TOTAL
