"""Lab 3's own checks (tests/test_labs.py grades the reference, the starter and the buggy
variants of every lab): the grader harness itself, the history it hands the checker,
determinism, that the checker decides the reference's histories with a small fraction of its
budget, the bench, and the handout's rubric."""

from __future__ import annotations

import sys

import pytest

from graderun import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from graders.lab3_partitions import bench as lab3_bench  # noqa: E402
from graders.lab3_partitions import harness  # noqa: E402
from labkit.faults import (Crash, Cut, Network, Partition, Pause, RecoverAll,  # noqa: E402
                           Restart, Resume)
from labkit.linearizability import FAIL, OK, UNKNOWN  # noqa: E402
from instructor.testing import reference_lab  # noqa: E402

PACKAGE = "lab3_partitions"


# ----- the harness -------------------------------------------------------------------------------

def test_checker_ops_follow_the_handout():
    """ok writes stay ok; refused or unanswered writes become unknown; refused reads and local
    reads are dropped; position k is op#k."""
    ref = reference_lab(PACKAGE)
    sim = harness.cluster(ref, seed=3)
    sim.run_until(0.1)
    ops = [harness.write(sim, "n1", "x", "a")]
    harness.finish(sim, *ops)
    sim.partition(["n1", "n2", "n3"], ["n4", "n5"])
    ops += [harness.write(sim, "n4", "x", "b"), harness.read(sim, "n5", "x"),
            harness.local_read(sim, "n4", "x"), harness.read(sim, "n1", "x")]
    harness.finish(sim, *ops)
    sim.crash("n2")
    ops.append(harness.write(sim, "n2", "y", "c"))          # never delivered: unknown
    harness.finish(sim, *ops)
    converted = harness.checker_ops(sim.history)
    assert [op.status for op in converted] == [FAIL, OK, UNKNOWN, FAIL, FAIL, OK, UNKNOWN]
    assert converted[2].input == {"op": "put", "key": "x", "value": "b"}
    assert converted[2].ret is None
    assert converted[5].output == {"value": "a"} and converted[5].client == "n1"
    assert [op.id for op in sim.history] == list(range(1, 7))
    harness.check_linearizable(sim)


def run_workload(seed: int, schedule: tuple):
    ref = reference_lab(PACKAGE)
    sim = harness.cluster(ref, seed)
    sim.apply_schedule((*schedule, RecoverAll(2.0)))
    harness.Clients(sim, seed, clients=4, keys=("x", "y"), until=3.6).start(at=0.1)
    sim.run_until(4.7)
    return sim


HARSH = (
    (Network(0.2, loss=0.3, duplicate=0.3, long_delay=0.3), Partition(0.6, (("n1", "n2"),)),
     Pause(0.8, "n3"), Crash(1.0, "n4"), Cut(1.2, "n5", "n1", both_ways=True), Resume(1.5, "n3")),
    (Pause(0.3, "n1"), Pause(0.4, "n2"), Partition(0.9, (("n3",), ("n4", "n5"))),
     Restart(1.4, "n2"), Network(1.5, loss=0.3)),
    (Crash(0.2, "n1"), Crash(0.3, "n2"), Network(0.5, long_delay=0.3), Restart(1.0, "n1")),
)


@pytest.mark.parametrize("case", range(len(HARSH)))
def test_checker_decides_reference_histories_well_within_budget(case):
    harness.CHECK_STEPS.clear()
    sim = run_workload(case, HARSH[case])
    harness.check_linearizable(sim)
    unknown = sum(op.status == "unknown" or op.error == "no_quorum" for op in sim.history)
    assert unknown >= 3, "the schedule should leave some operations undecided"
    assert harness.CHECK_STEPS[-1] < harness.MAX_CHECK_STEPS // 20, harness.CHECK_STEPS


def test_same_seed_same_trace():
    digests = [run_workload(7, HARSH[0]).trace.digest() for _ in range(2)]
    assert digests[0] == digests[1]
    assert run_workload(8, HARSH[0]).trace.digest() != digests[0]


def test_bench_reports_every_figure(monkeypatch):
    monkeypatch.setattr(lab3_bench, "SIM_SECONDS", 0.5)
    figures = lab3_bench.bench()
    assert set(figures) >= {"lab3_abd_sim_seconds_per_wall_second",
                            "lab3_checker_ops_per_second_generated_1000_ops_10_keys"}
    assert all(value > 0 for value in figures.values()), figures


def test_handout_rubric_matches_the_graders():
    """Every graded test is in the handout's rubric with its exact name and points, and the
    points add up to 130."""
    import importlib

    handout = (REPO / "assignments" / "lab3-partitions.md").read_text()
    rubric = handout.split("## 5. Rubric", 1)[1].split("## 6.", 1)[0]
    rows = {}
    for line in rubric.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    graded = {}
    modules = sorted(p.stem for p in (REPO / "graders" / "lab3_partitions").glob("test_*.py"))
    for module in modules:
        mod = importlib.import_module(f"graders.lab3_partitions.{module}")
        for name in dir(mod):
            fn = getattr(mod, name)
            marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "points"]
            if name.startswith("test_") and marks:
                graded[fn.__doc__.strip().splitlines()[0]] = marks[0].args[0]
    assert graded == rows, (graded, rows)
    assert sum(graded.values()) == 130
