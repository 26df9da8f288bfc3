"""Run a grader suite in a subprocess, the way a student or instructor would, and read back
``score.json``; read what each buggy variant says about how it is caught. Used by the tests
that check graders against reference/, starter/ and the buggy variants under tests/buggy/.

A buggy variant ``tests/buggy/<package>/<name>/<package>/__init__.py`` says in its docstring
which grader tests catch it and what their failure messages must contain::

    Caught by: test_first (free text), and test_second.
    Evidence: a fragment the failure message of test_first must contain
    Evidence (test_second): a fragment for test_second's message
    Evidence matching: a regular expression test_first's message must match

Every test named on the ``Caught by:`` line (it may run on into the next lines of its
paragraph) must fail; ``Evidence`` lines without a test name are about the first one.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
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
          timeout: float = 1800) -> GradeRun:
    """``python -m pytest graders/<package> --impl <impl>`` with the report in ``tmp_path``."""
    report_dir = tmp_path / "reports"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [sys.executable, "-m", "pytest", f"graders/{package}", "--impl", str(impl),
           "--report-dir", str(report_dir), "-q", "--no-header", "-p", "no:cacheprovider",
           "-o", "timeout=600", *pytest_args]   # load must not fake a timeout (conftest.py)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    path = report_dir / "score.json"
    assert path.exists(), f"no score.json; exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return GradeRun(proc.returncode, proc.stdout + proc.stderr, json.loads(path.read_text()))


@functools.cache
def reference_run(package: str, tmp_root: str) -> GradeRun:
    """The graders on reference/ (live tests left out), run once per process and lab."""
    return grade(package, "reference", Path(tmp_root) / f"reference-{package}", "-m", "not live")


@dataclass
class Caught:
    """How a buggy variant is caught: the tests that must fail and, per test, the fragments
    (``evidence``) and regular expressions (``patterns``) their messages must contain."""

    tests: list[str]
    evidence: dict[str, list[str]] = field(default_factory=dict)
    patterns: dict[str, list[str]] = field(default_factory=dict)


CAUGHT_BY = re.compile(r"Caught by:(.*(?:\n(?!\n|[A-Z][a-z ]*(?: \(\w+\))?:).*)*)")
EVIDENCE = re.compile(r"^Evidence(?: \((test_\w+)\))?( matching)?: (.*\S)\s*$", re.MULTILINE)


def caught_by(variant: Path, package: str) -> Caught:
    """What the docstring of ``variant``'s ``package/__init__.py`` says (see the module doc);
    an AssertionError that says what to add when it says nothing usable."""
    source = variant / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(source.read_text())) or ""
    found = CAUGHT_BY.search(doc)
    tests = list(dict.fromkeys(re.findall(r"\btest_\w+", found.group(1)))) if found else []
    assert tests, f"{source}: the docstring needs a line 'Caught by: test_<name>'"
    caught = Caught(tests)
    for test, regex, text in EVIDENCE.findall(doc):
        test = test or tests[0]
        assert test in tests, f"{source}: 'Evidence ({test})' names a test not on 'Caught by:'"
        (caught.patterns if regex else caught.evidence).setdefault(test, []).append(text)
    assert caught.evidence.get(tests[0]), (
        f"{source}: the docstring needs a line 'Evidence: <text>', a fragment of the failure "
        f"message of {tests[0]} that shows the bug was caught for the right reason")
    return caught


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
