"""Lab 1's own checks (tests/test_labs.py grades the reference, the starter and the buggy
variants of every lab): the handout's rubric and constants against the graders and the
starter; determinism and quiescence of the reference.

The live tests in graders/lab1_cap/test_live.py are left out of the reference run (``-m "not
live"``): tests/test_live.py runs them."""

from __future__ import annotations

import re
import sys

import pytest

import graderun
from graderun import REPO
from labkit import Simulation
from instructor.testing import reference_lab

PACKAGE = "lab1_cap"


@pytest.mark.slow
@pytest.mark.xdist_group(f"reference-{PACKAGE}")
def test_handout_rubric_matches_graders(tmp_path_factory):
    """Every graded test appears in the handout's rubric table with the same points."""
    reference_run = graderun.reference_run(PACKAGE, str(tmp_path_factory.getbasetemp()))
    text = (REPO / "assignments" / "lab1-cap.md").read_text()
    rows = dict(re.findall(r"^\| (.+?) \| (\d+) \|", text, flags=re.MULTILINE))
    graded = {t["name"]: t["max_score"] for t in reference_run.report["tests"]}
    for name, points in graded.items():
        assert name in rows, f"the handout's rubric has no row for {name!r}"
        assert int(rows[name]) == points, (name, rows[name], points)
    assert sum(int(p) for p in rows.values() if p) == 115
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
