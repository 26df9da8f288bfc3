"""Run a grader suite in a subprocess, the way a student or instructor would, and read back
``score.json``. Used by the tests that check graders against reference/, starter/ and the buggy
variants under tests/buggy/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUGGY = REPO / "tests" / "buggy"


@dataclass
class GradeRun:
    returncode: int
    stdout: str
    report: dict

    @property
    def score(self) -> float:
        return self.report["score"]

    @property
    def max_score(self) -> float:
        return self.report["max_score"]

    def test(self, fragment: str) -> dict:
        """The report entry of the one test whose name or pytest id contains ``fragment``."""
        ids = self.report["extra_data"]["nodeids"]
        hits = [t for t, nodeid in zip(self.report["tests"], ids)
                if fragment in t["name"] or fragment in nodeid]
        assert len(hits) == 1, f"{len(hits)} tests match {fragment!r}: {[t['name'] for t in hits]}"
        return hits[0]

    def failed(self) -> list[dict]:
        return [t for t in self.report["tests"] if t["status"] != "passed"]


def grade(package: str, impl: str | Path, tmp_path: Path, *pytest_args: str,
          timeout: float = 600) -> GradeRun:
    """``python -m pytest graders/<package> --impl <impl>`` with the report in ``tmp_path``."""
    report_dir = tmp_path / "reports"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [sys.executable, "-m", "pytest", f"graders/{package}", "--impl", str(impl),
           "--report-dir", str(report_dir), "-q", "--no-header", "-p", "no:cacheprovider",
           *pytest_args]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    path = report_dir / "score.json"
    assert path.exists(), f"no score.json; exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return GradeRun(proc.returncode, proc.stdout + proc.stderr, json.loads(path.read_text()))


def variants(package: str) -> list[Path]:
    """The buggy variant folders of a lab, sorted (each laid out like starter/)."""
    root = BUGGY / package
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")) \
        if root.is_dir() else []


def assert_full_marks(run: GradeRun, total: float, tests: int) -> None:
    """Every test passed and the lab's total is ``total`` over ``tests`` tests."""
    failed = [(t["name"], t["output"][:800]) for t in run.failed()]
    assert not failed, f"the reference lost points: {failed}"
    assert run.score == run.max_score == total, (run.score, run.max_score)
    assert len(run.report["tests"]) == tests


def assert_all_not_implemented(run: GradeRun) -> None:
    """Score 0, and every test says "not implemented yet" without a traceback."""
    assert run.score == 0, f"the starter scored {run.score}"
    for test in run.report["tests"]:
        assert test["status"] == "failed", test["name"]
        assert test["output"].startswith("not implemented yet"), (test["name"], test["output"])
        assert "Traceback" not in test["output"], (test["name"], test["output"])


def assert_variant_table(package: str, caught: dict) -> None:
    """Every buggy variant folder of ``package`` is in ``caught`` and vice versa (at least 5)."""
    names = {path.name for path in variants(package)}
    assert names == set(caught), (f"not in CAUGHT: {sorted(names - set(caught))}; "
                                  f"no such folder: {sorted(set(caught) - names)}")
    assert len(names) >= 5
