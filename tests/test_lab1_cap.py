"""Lab 1 (CAP trade-offs): the graders against reference/ (full marks), starter/ (zero, every
failure "not implemented yet"), and the known-bug variants in tests/buggy/lab1_cap/ (each caught
by the test named in CAUGHT); the handout's rubric against the graders; determinism.

The live tests in graders/lab1_cap/test_live.py are left out here (``-m "not live"``):
tests/test_live.py runs them."""

from __future__ import annotations

import re
import sys

import pytest

from graderun import BUGGY, REPO, grade, variants
from labkit import Simulation
from instructor.testing import reference_lab

PACKAGE = "lab1_cap"
NOT_LIVE = ("-m", "not live")

# variant folder -> (grader test that must fail, text its failure message must contain)
CAUGHT = {
    "rollback_deletes": ("test_refused_write_keeps_previous_value",
                         "a refused strong write"),
    "replicate_once": ("test_eventual_available_on_both_sides",
                       "replicas converge after the faults heal"),
    "ack_before_majority": ("test_strong_write_refused_in_minority",
                            "insufficient_replicas"),
    "minority_never_replies": ("test_strong_write_refused_in_minority",
                               "no reply at all"),
    "wall_clock_deadline": ("test_strong_write_refused_in_minority",
                            "your implementation is not deterministic"),
    "local_time_versions": ("test_concurrent_writes_one_winner",
                            "concurrent writes settle on one winner"),
    "no_lamport_max": ("test_later_write_wins",
                       "a write made after another was seen replaces it"),
    "ack_after_prepare": ("test_strong_write_acknowledged_only_with_majority",
                          "an acknowledged strong write is returned by every later strong read"),
    "local_strong_read": ("test_strong_read_needs_majority",
                          "a strong read answers from a majority"),
    "memory_only": ("test_restart_keeps_data_and_catches_up",
                    "a restarted node keeps its replica"),
    "unchecked_requests": ("test_bad_requests_get_errors", "KeyError"),
    "ignores_acks": ("test_replication_message_budget",
                     "eventual replication stays within its message budget"),
}


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    return grade(PACKAGE, "reference", tmp_path_factory.mktemp("ref"), *NOT_LIVE)


def test_reference_full_marks(reference_run):
    run = reference_run
    assert run.failed() == [], "\n\n".join(f"{t['name']}:\n{t['output']}" for t in run.failed())
    assert run.score == run.max_score == 100, (run.score, run.max_score)
    assert len(run.report["tests"]) >= 8


def test_starter_scores_zero_with_not_implemented_notes(tmp_path):
    run = grade(PACKAGE, "starter", tmp_path, *NOT_LIVE)
    assert run.score == 0
    assert len(run.failed()) == len(run.report["tests"]) >= 8
    for t in run.failed():
        assert t["output"].startswith("not implemented yet"), (t["name"], t["output"][:500])
        assert "Traceback" not in t["output"], (t["name"], t["output"][:2000])


def test_every_variant_is_in_the_table():
    folders = {p.name for p in variants(PACKAGE)}
    assert folders == set(CAUGHT), (f"not in CAUGHT: {sorted(folders - set(CAUGHT))}; "
                                    f"no folder: {sorted(set(CAUGHT) - folders)}")
    for name in folders:
        doc = (BUGGY / PACKAGE / name / PACKAGE / "__init__.py").read_text()
        assert f"Caught by: {CAUGHT[name][0]}" in doc, f"{name}: the docstring names another test"


@pytest.mark.parametrize("variant", sorted(CAUGHT))
def test_buggy_variant_is_caught(variant, tmp_path):
    test_name, evidence = CAUGHT[variant]
    run = grade(PACKAGE, BUGGY / PACKAGE / variant, tmp_path, "-k", test_name, *NOT_LIVE)
    result = run.test(test_name)
    assert result["status"] == "failed", f"{variant} passed {test_name}:\n{run.stdout[-3000:]}"
    assert evidence in result["output"], result["output"][:3000]
    assert not result["output"].startswith("internal error"), result["output"][:3000]


def test_handout_rubric_matches_graders(reference_run):
    """Every graded test appears in the handout's rubric table with the same points."""
    text = (REPO / "assignments" / "lab1-cap.md").read_text()
    rows = dict(re.findall(r"^\| (.+?) \| (\d+) \|", text, flags=re.MULTILINE))
    graded = {t["name"]: t["max_score"] for t in reference_run.report["tests"]}
    for name, points in graded.items():
        assert name in rows, f"the handout's rubric has no row for {name!r}"
        assert int(rows[name]) == points, (name, rows[name], points)
    assert sum(int(p) for p in rows.values() if p) == 100
    assert f"**{int(sum(graded.values()))} points**" in text


def test_handout_constants_match_the_graders_and_the_starter():
    sys.path.insert(0, str(REPO))
    from graders.lab1_cap import cluster
    text = (REPO / "assignments" / "lab1-cap.md").read_text()
    starter = (REPO / "starter" / PACKAGE / "kvnode.py").read_text()
    ref = reference_lab(PACKAGE)
    assert ref.RETRY_INTERVAL == cluster.RETRY_INTERVAL
    assert ref.STRONG_TIMEOUT == cluster.STRONG_TIMEOUT
    for name, value in (("RETRY_INTERVAL", cluster.RETRY_INTERVAL),
                        ("STRONG_TIMEOUT", cluster.STRONG_TIMEOUT)):
        assert f"| `{name}` | {value:g} s |" in text, name
        assert f"{name} = {value:g}" in starter, name
    assert f"| reply deadline | {cluster.REPLY_DEADLINE:g} s |" in text
    assert f"| convergence | {cluster.CONVERGE_WITHIN:g} s |" in text
    assert f"| catch-up | {cluster.CATCH_UP_WITHIN:g} s |" in text
    assert f"| client timeout | {cluster.CLIENT_TIMEOUT:g} s |" in text
    assert f"| budget | {cluster.MESSAGES_PER_WRITE} messages |" in text


def _busy_run(seed: int) -> Simulation:
    from labkit.faults import Crash, Network, Partition, RecoverAll, Restart
    ref = reference_lab(PACKAGE)
    sim = Simulation(ref.KVNode, 3, seed=seed)
    sim.apply_schedule((Partition(0.3, (("n1",), ("n2", "n3"))), Network(0.5, loss=0.2,
                        duplicate=0.2, long_delay=0.2), Crash(0.8, "n2"), Restart(1.2, "n2"),
                        RecoverAll(1.5)))
    for i in range(30):
        node = ("n1", "n2", "n3")[i % 3]
        body = {"op": "set" if i % 4 else "get", "key": f"k{i % 5}", "value": f"v{i}",
                "consistency": "strong" if i % 3 == 0 else "eventual"}
        sim.at(0.05 * i, lambda node=node, body=body: sim.request(node, body))
    sim.run_until(3.0)
    return sim


def test_reference_is_deterministic():
    a, b, c = _busy_run(5), _busy_run(5), _busy_run(6)
    assert a.trace.digest() == b.trace.digest()
    assert a.trace.digest() != c.trace.digest()
    assert a.delivered > 100


def test_reference_converges_and_goes_quiet():
    sim = _busy_run(1)
    sent = sim.sent
    sim.run_until(4.0)
    assert sim.sent == sent, "the reference keeps sending on an idle, healed cluster"
    held = {n: dict(sim.node(n).data) for n in sim.node_ids}
    assert held["n1"] == held["n2"] == held["n3"], held
