"""The grading plugin end to end, on a tiny fake lab graded in a temporary folder: scores and
the Gradescope report, bad submissions (syntax error, missing folder or class, a handler that
raises or loops forever, a hostile conftest.py), failure records, replay and the determinism
check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

pytestmark = pytest.mark.slow  # subprocesses: see the tiers in tests/conftest.py

REPO = Path(__file__).resolve().parents[1]

GOOD = """
from labkit import Node

class Counter(Node):
    def on_start(self):
        self.count = 0
        self.set_timer("tick", 0.1)

    def timer_tick(self):
        self.count += 1
        self.set_timer("tick", 0.1)
"""

IMPLS = {
    "good": GOOD,
    "starter": """
from labkit import Node

class Counter(Node):
    def on_start(self):
        raise NotImplementedError("Counter.on_start: start counting")
""",
    "syntax": GOOD.replace("def timer_tick(self):", "def timer_tick(self)"),
    "noclass": "from labkit import Node\n",
    "raises": GOOD.replace("self.count += 1", "self.count += {}['missing']"),
    "loops": GOOD.replace("self.count += 1", "while True:\n            pass"),
    # Restarts count down from zero: goes negative after a crash and restart.
    "negative": GOOD.replace("self.count = 0", "self.count = -1 if self.storage.get('booted') else 0\n"
                             "        self.storage.put('booted', True)"),
    # Hangs in on_start after a restart: only some generated schedules reach the loop.
    "hangs_after_restart": GOOD.replace(
        "self.count = 0", "self.count = 0\n        if self.storage.get('booted'):\n"
        "            while True:\n                pass\n        self.storage.put('booted', True)"),
    # Reads the wall clock: never reaches three, and every run logs a different time.
    "clock": "import time\n" + GOOD.replace("self.count += 1", "self.log(str(time.time()))"),
}

GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "max_score", "execution_time", "tests"],
    "properties": {
        "score": {"type": "number"}, "max_score": {"type": "number"},
        "execution_time": {"type": "number"}, "output": {"type": "string"},
        "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "number", "score", "max_score", "status", "output", "tags"],
            "properties": {
                "name": {"type": "string"}, "number": {"type": "string"},
                "score": {"type": "number"}, "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]}, "output": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
            }}},
    },
}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course folder with the real plugin hook-up and one fake lab (as lab1_cap)."""
    root = tmp_path_factory.mktemp("course")
    graders = root / "graders"
    (graders / "lab1_cap").mkdir(parents=True)
    shutil.copy(REPO / "graders" / "conftest.py", graders / "conftest.py")
    (graders / "__init__.py").write_text("")
    (graders / "lab1_cap" / "__init__.py").write_text("")
    (graders / "lab1_cap" / "conftest.py").write_text(
        "from labkit.grading import lab_fixture\nlab = lab_fixture('lab1_cap')\n")
    shutil.copy(REPO / "tests" / "fakelab" / "test_fake.py", graders / "lab1_cap" / "test_fake.py")
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p labkit.grading.plugin\ntimeout = 60\n"
                                     "timeout_method = signal\n")
    for name, source in IMPLS.items():
        pkg = root / "impls" / name / "lab1_cap"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(textwrap.dedent(source))
    hostile = root / "impls" / "good_with_conftest"
    shutil.copytree(root / "impls" / "good", hostile)
    (hostile / "conftest.py").write_text("raise SystemExit('a submission conftest ran')\n")
    (hostile / "lab1_cap" / "conftest.py").write_text("raise SystemExit('a submission conftest ran')\n")
    return root


def grade(course: Path, impl: str, *args: str, env: dict | None = None):
    reports = course / "reports" / impl
    shutil.rmtree(reports, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "graders", "--impl", str(course / "impls" / impl),
         "--report-dir", str(reports), "-q", *args],
        cwd=course, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0", **(env or {})})
    path = reports / "score.json"
    report = json.loads(path.read_text()) if path.exists() else None
    return proc, report, reports


def outputs(report):
    return {t["name"]: t["output"] for t in report["tests"]}


def test_full_marks_and_gradescope_schema(course):
    proc, report, reports = grade(course, "good", "--require-full-score")
    assert proc.returncode == 0, proc.stdout
    jsonschema.validate(report, GRADESCOPE_SCHEMA)
    assert report["score"] == report["max_score"] == 15
    assert report["score"] == sum(t["score"] for t in report["tests"])
    assert "Lab 1: CAP trade-offs" in proc.stdout and "TOTAL" in proc.stdout
    assert "**Total: 15 / 15**" in (reports / "score.md").read_text()
    numbers = [t["number"] for t in report["tests"]]
    assert len(set(numbers)) == 2 and all(n.startswith("1.") for n in numbers)
    _, alone, _ = grade(course, "good", "-k", "never_negative")   # numbers do not move
    assert [t["number"] for t in alone["tests"]] == numbers[1:]


def test_starter_scores_zero_with_not_implemented_notes(course):
    proc, report, _ = grade(course, "starter", "--require-full-score")
    assert proc.returncode == 1
    assert report["score"] == 0 and report["max_score"] == 15
    for out in outputs(report).values():
        assert out.startswith("not implemented yet: Counter.on_start"), out
        assert "Traceback" not in out and "labkit/" not in out


def test_syntax_error_names_file_and_line(course):
    proc, report, _ = grade(course, "syntax")
    assert report["score"] == 0
    first, second = report["tests"]
    assert "syntax error at" in first["output"] and "lab1_cap/__init__.py:9" in first["output"]
    assert "could not be loaded" in second["output"]


def test_missing_class_and_missing_folder(course, tmp_path):
    _, report, _ = grade(course, "noclass")
    assert "does not define the class Counter" in report["tests"][0]["output"]
    empty = course / "impls" / "empty"
    empty.mkdir(exist_ok=True)
    _, report, _ = grade(course, "empty")
    assert "has no folder lab1_cap/" in report["tests"][0]["output"]


def test_nonexistent_impl_is_a_usage_error(course):
    proc, report, _ = grade(course, "does-not-exist")
    assert proc.returncode == 4 and report is None
    assert "no such folder" in proc.stderr


def test_handler_exception_shows_student_file_and_line(course):
    _, report, _ = grade(course, "raises", "-k", "reaches_three")
    out = report["tests"][0]["output"]
    assert "raised KeyError: 'missing' while handling timer 'tick'" in out
    assert "lab1_cap/__init__.py:10" in out and "seed: 0" in out


def test_infinite_loop_times_out_and_the_report_is_still_written(course):
    proc, report, _ = grade(course, "loops", "-k", "reaches_three", "--timeout", "3")
    assert report is not None and report["score"] == 0
    out = report["tests"][0]["output"]
    assert out.startswith("this test ran out of time after 3 s"), out
    assert "not deterministic" not in out


def test_conftest_in_a_submission_is_never_loaded(course):
    proc, report, _ = grade(course, "good_with_conftest")
    assert "submission conftest ran" not in proc.stdout + proc.stderr
    assert report["score"] == 15


def test_failure_is_recorded_shrunk_and_replayable(course):
    proc, report, reports = grade(course, "negative")
    out = outputs(report)["The counter never goes negative, whatever crashes"]
    assert "counter is never negative violated" in out and "fault schedule:" in out
    schedule = out.split("fault schedule:")[1].split("\n", 1)[1].split("last")[0].strip().splitlines()
    assert len(schedule) <= 2, schedule                   # shrunk to (crash,) restart
    fid = out.split("failure id: ")[1].split()[0]
    assert f"nox -s replay -- {fid}" in proc.stdout       # the terminal table shows it too
    record = json.loads((reports / "failures" / f"{fid}.json").read_text())
    assert record["property"] == "counter is never negative" and record["trace"]
    html = (reports / "failures" / f"{fid}.html").read_text()
    assert "<script" in html and "http://" not in html.replace("http://www.w3.org", "")
    replay = subprocess.run([sys.executable, "-m", "labkit.replay", fid, "--report-dir",
                             str(reports), "--node", "n1"], cwd=course, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "same run, byte for byte" in replay.stdout and record["digest"][:16] in replay.stdout
    assert "no new search" in replay.stdout and record["hypothesis"]["blob"]


def test_a_hang_found_by_hypothesis_is_a_timeout_not_a_shrink(course):
    """pytest-timeout's own exception is caught by Hypothesis, which then shrinks the hang; the
    plugin's time limit is not, so the test stops once, at the limit, and says so."""
    proc, report, _ = grade(course, "hangs_after_restart", "-k", "never_negative",
                            "--timeout", "3")
    out = report["tests"][0]["output"]
    assert out.startswith("this test ran out of time after 3 s"), out
    assert "not deterministic" not in out and "internal error" not in out


def test_nondeterminism_is_diagnosed_and_wall_clock_import_warned(course):
    proc, report, _ = grade(course, "clock", "-k", "reaches_three")
    out = report["tests"][0]["output"]
    assert out.startswith("your implementation is not deterministic")
    assert "first run:" in out and "second run:" in out
    assert "imports time" in report["output"] and "imports time" in proc.stdout


def test_lab_names_translate_to_grader_folders():
    sys.path.insert(0, str(REPO))
    import noxfile

    args = noxfile._grader_args(["lab0", "--impl", "lab1", "-k", "x"])
    assert args[0] == "graders/lab0_resilience" and args[-4:] == ["--impl", "lab1", "-k", "x"]
    with pytest.raises(SystemExit, match="no lab called 'lab9'"):
        noxfile._grader_args(["lab9"])


def test_reference_times_live_with_each_lab():
    """The timeout message's "the reference needs M s" reads the lab's own grader folder."""
    from labkit.grading.labs import BY_NAME
    from labkit.grading.report import reference_seconds

    for lab in set(BY_NAME.values()):
        times = json.loads((lab.grader_dir / "reference_times.json").read_text())
        function, seconds = sorted(times.items())[0]
        assert reference_seconds(lab.package, function) == seconds
        assert reference_seconds(lab.package, "test_that_does_not_exist") is None
    assert reference_seconds("no_such_lab", "test_x") is None


def test_the_determinism_recheck_compares_the_same_example_only():
    """An @example that fails on the way to the re-checked generated example (the test runs its
    examples first) is another example: comparing its digest would say "not deterministic"
    of a deterministic submission."""
    from labkit.grading.failures import Capture
    from labkit.grading.plugin import _same_example

    def cap(key="m:test", explicit=False, seed=0, schedule=(), blob=""):
        return Capture(None, seed, schedule, "p", "e", "m", 0.0, hypothesis_key=key,
                       blob=blob, explicit=explicit)

    generated = cap(blob="AAA")
    assert _same_example(cap(blob="AAA"), generated)
    assert _same_example(cap(), generated)                  # the re-run has no blob of its own
    assert not _same_example(cap(explicit=True), generated)  # an @example met on the way
    assert not _same_example(cap(blob="BBB"), generated)
    assert not _same_example(cap(key="m:other"), generated)
    example = cap(explicit=True, seed=3, schedule=("crash n1",))
    assert _same_example(cap(explicit=True, seed=3, schedule=("crash n1",)), example)
    assert not _same_example(cap(explicit=True, seed=4, schedule=("crash n1",)), example)
    assert _same_example(cap(key=None, seed=9), cap(key=None, seed=2))   # scripted: its first
