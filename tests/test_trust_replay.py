"""Replays that replay the recorded run: for every buggy variant under tests/buggy/ that fails a
generated (Hypothesis) test, one such test is graded (the one its docstring names, else the
first by name) and every failure it shows is replayed with ``python -m labkit.replay <id>``
(what ``nox -s replay`` runs): the recorded example alone, no new search, the same violated
property and the same trace digest. Every variant, not "most"; one test each keeps the suite's
time bounded (70 variants, where all their generated failures would be about 190 gradings)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graderun import REPO, caught_by, grade, variants

TABLE = REPO / "tests" / "data" / "scores.json"
LABS = ("lab1_cap", "lab2_raft", "lab3_partitions", "lab4_cache")


def generated_tests(package: str) -> set[str]:
    """The grader tests of a lab that draw their runs from Hypothesis (``@given`` on the test,
    on a function nested inside it, or on a module-level helper it calls)."""
    import importlib
    import inspect

    names = set()
    for path in sorted((REPO / "graders" / package).glob("test_*.py")):
        module = importlib.import_module(f"graders.{package}.{path.stem}")
        helpers = [name for name, fn in vars(module).items()
                   if getattr(fn, "is_hypothesis_test", False) and not name.startswith("test_")]
        for name, fn in vars(module).items():
            if not name.startswith("test_") or not callable(fn):
                continue
            if getattr(fn, "is_hypothesis_test", False):
                names.add(name)
                continue
            try:
                source = inspect.getsource(fn)
            except (OSError, TypeError):
                continue
            if re.search(r"@given\(", source) or any(re.search(rf"\b{h}\(", source)
                                                    for h in helpers):
                names.add(name)
    return names


def cases() -> list[tuple[str, Path, list[str]]]:
    """(lab, variant, [the generated test to grade]): of the generated tests the variant fails
    in the score table (tests/data/scores.json), or, for a variant newer than the table, of
    those its docstring names ("Caught by:", which tests/test_labs.py checks it fails), the
    one its docstring names if there is one, else the first by name."""
    table = json.loads(TABLE.read_text()) if TABLE.exists() else {}
    out = []
    for package in LABS:
        generated = generated_tests(package)
        for variant in variants(package):
            named = caught_by(variant, package).tests
            failed = table.get(package, {}).get(variant.name, {}).get("failed", named)
            wanted = sorted(generated & set(failed))
            if wanted:
                first = [t for t in wanted if t in named] or wanted
                out.append((package, variant, first[:1]))
    return out


CASES = cases()


def test_some_variants_fail_generated_tests():
    assert len(CASES) >= 10, CASES


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("package,variant,tests", CASES,
                         ids=[f"{p}-{v.name}" for p, v, _ in CASES])
def test_every_generated_failure_replays_exactly(package, variant, tests, tmp_path):
    run = grade(package, variant, tmp_path, "-m", "not live", "-k", " or ".join(tests),
                "-o", "timeout=900", timeout=1800)
    report_dir = tmp_path / "reports"
    if not run.failed():
        pytest.skip(f"{variant.name} passes {tests} now (see the score table)")
    shown = [fid for t in run.failed() for fid in re.findall(r"failure id: (\S+)", t["output"])]
    records = {fid: json.loads((report_dir / "failures" / f"{fid}.json").read_text())
               for fid in shown}                         # every failure shown has its record
    if not records:  # e.g. a ring property: a failure with no simulation to replay
        pytest.skip(f"{variant.name} fails {tests} without a simulation run to replay")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTEST_ADDOPTS", None)
    for record in records.values():     # generated ones, and scripted smoke runs alike
        spec = record.get("hypothesis")
        searched = bool(spec) and not spec.get("explicit")
        if searched:
            assert spec["blob"], record["id"]
        replay = subprocess.run([sys.executable, "-m", "labkit.replay", record["id"],
                                 "--report-dir", str(report_dir)], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=900)
        assert replay.returncode == 0, (record["id"], replay.stdout[-3000:], replay.stderr[-2000:])
        if searched:
            assert "no new search" in replay.stdout
        assert "same run, byte for byte" in replay.stdout
        assert record["digest"][:16] in replay.stdout
        again = json.loads((report_dir / "failures" / f"{record['id']}.json").read_text())
        assert (again["property"], again["digest"]) == (record["property"], record["digest"])
