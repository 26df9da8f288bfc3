"""A report, always: Lab 0 submissions that raise an ExceptionGroup (whose inner exceptions have
no traceback), raise KeyboardInterrupt from a handler, or hang, each get a full report
(score.json and score.md) with pytest's "tests failed" exit (which `nox -s grade` turns into 0),
every test of the lab runs, the failures name the submission's file and line or say the test
ran out of time, and in-process and ``--sandbox`` grading agree on the score and the kind of
message. Also: a ``-k`` that matches nothing exits 0 and lists the test names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graderun import REPO, grade

pytestmark = pytest.mark.slow  # subprocesses: see the tiers in tests/conftest.py

TRUST = REPO / "tests" / "trust"
PACKAGE = "lab0_resilience"
BREAKER_TESTS = ("test_breaker_starts_closed", "test_opens_after_consecutive_failures",
                 "test_half_open_admits_one_trial", "test_breaker_matches_model")
RETRY_TESTS = ("test_retry_attempts_and_last_error", "test_retry_only_retryable",
               "test_backoff_full_jitter_under_cap")
LAB_TESTS = {name for path in (REPO / "graders" / PACKAGE).glob("test_*.py")
             for name in re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE)}
# submission -> (what every failing breaker test's message says, where, extra pytest options)
CASES = {
    "lab0_exception_group": ("your code raised ExceptionGroup", "__init__.py:16", ()),
    "lab0_keyboard_interrupt": ("your code raised KeyboardInterrupt", "__init__.py:16", ()),
    "lab0_hang": ("this test ran out of time after", "", ("-o", "timeout=5")),
}


def _messages(run) -> dict[str, str]:
    ids = run.report["extra_data"]["nodeids"]
    return {nodeid.split("::")[-1]: t["output"] for t, nodeid in zip(run.report["tests"], ids)}


def _check(run, tmp_path: Path, says: str, where: str) -> dict[str, str]:
    assert run.returncode == 1, run.stdout[-3000:]          # "tests failed", not an error
    assert "INTERNALERROR" not in run.stdout
    assert (tmp_path / "reports" / "score.md").is_file()
    assert len(run.report["tests"]) == len(LAB_TESTS), run.report["tests"]  # every one ran
    messages = _messages(run)
    for name in RETRY_TESTS:
        assert run.test(name)["status"] == "passed", messages[name]
    for name in BREAKER_TESTS:
        out = messages[name]
        assert run.test(name)["status"] == "failed"
        assert "internal error" not in out and "not deterministic" not in out, out
    kinds = [messages[n] for n in BREAKER_TESTS if says in messages[n]]
    assert kinds, f"no breaker test says {says!r}: {messages}"
    for out in kinds:
        if where:
            assert f"tests/trust/" in out and where in out, out
    return messages


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", sorted(CASES))
def test_lab0_submission_gets_a_full_report(case, tmp_path):
    says, where, options = CASES[case]
    run = grade(PACKAGE, TRUST / case, tmp_path, *options)
    _check(run, tmp_path, says, where)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", sorted(CASES))
def test_lab0_submission_same_score_and_kind_of_message_sandboxed(case, tmp_path):
    from instructor.sample_class import vendored_variant

    says, _, options = CASES[case]
    if options:  # the hang: sandboxed calls are slower, give the passing tests room
        options = ("-o", "timeout=20")
    plain = grade(PACKAGE, TRUST / case, tmp_path / "plain", *options)
    submission = vendored_variant(TRUST / case, tmp_path / "submission")
    boxed = grade(PACKAGE, submission, tmp_path / "boxed", *options, "--sandbox")
    _check(boxed, tmp_path / "boxed", says, "")
    assert boxed.score == plain.score
    boxed_messages = _messages(boxed)
    for name, out in _messages(plain).items():   # the same kind of message for every test:
        # the same first line (one error, or "2 different errors:", each in the same words),
        # and the same number of distinct errors; the file named is the submission's copy
        boxed_out = boxed_messages[name].replace(str(submission),
                                                str((TRUST / case).relative_to(REPO)))
        assert _first_line(boxed_out) == _first_line(out), (name, out[:300], boxed_out[:600])
        assert boxed_out.count("your code raised") == out.count("your code raised"), \
            (name, out[:600], boxed_out[:600])


def _first_line(text: str) -> str:
    return " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""


def test_a_selection_that_matches_nothing_exits_0_and_lists_the_tests(tmp_path):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "graders/lab0_resilience", "--impl", "starter",
         "--report-dir", str(tmp_path), "-q", "--no-header", "-k", "no_such_test"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No graded test matches" in proc.stdout
    for name in BREAKER_TESTS + RETRY_TESTS:
        assert f"-k {name}" in proc.stdout


def test_grading_with_xdist_is_refused_before_any_test_runs(tmp_path):
    """``-n 2`` would split the tests over processes and the report (added up in one) would
    miss theirs: a clear error, no report, and without -n the same run scores full marks."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "graders/lab0_resilience", "--impl", "reference",
               "--report-dir", str(tmp_path), "-q", "--no-header", "-p", "no:cacheprovider"]
    proc = subprocess.run(command + ["-n", "2"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 4, proc.stdout + proc.stderr          # pytest's usage error
    assert "graded runs use one process" in proc.stderr + proc.stdout
    assert not (tmp_path / "score.json").exists()
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    report = json.loads((tmp_path / "score.json").read_text())
    assert proc.returncode == 0 and report["score"] == report["max_score"] > 0, proc.stdout


def test_nox_grade_with_a_selection_that_matches_nothing_exits_0_and_lists_lab2s_tests(tmp_path):
    """What ``nox -s grade -- lab2 -k no_such_test`` runs (noxfile's own arguments and its
    success codes; the session's virtualenv aside): exit 0, and every Lab 2 test function is
    listed with the ``-k`` to pass."""
    sys.path.insert(0, str(REPO))
    import noxfile

    args = noxfile._grader_args(["lab2", "-k", "no_such_test"])
    env = {**os.environ, **noxfile.ENV}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, "--report-dir", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr   # nox accepts 0 and 1; 0 it is
    assert "No graded test matches" in proc.stdout
    names = {name for path in (REPO / "graders" / "lab2_raft").glob("test_*.py")
             for name in re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE)}
    assert len(names) > 20
    missing = sorted(n for n in names if not re.search(rf"-k {n}\s", proc.stdout))
    assert not missing, (missing, proc.stdout[-3000:])
