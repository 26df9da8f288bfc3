"""The grading plugin for pytest, loaded with ``-p labkit.grading.plugin`` (pyproject's addopts).

It is registered before the command line is parsed, so ``--impl PATH`` is always read as an
option: the submission folder is never mistaken for a test path, and no ``conftest.py`` inside
a submission is ever loaded. It only acts when the run collects a ``graders`` folder.

* ``@pytest.mark.points(n)``: what a test is worth; its docstring's first line is its name.
* ``--impl starter|reference|PATH``: the code under test (``PATH``: a folder like starter/).
* ``--report-dir DIR`` (default ``reports``): where score.json and score.md go.
* ``--require-full-score``: exit non-zero unless every point is earned (``nox -s reference``).

Each failure is turned into a message for the student (``failure_text``): the property and its
evidence as the grader wrote it, "not implemented yet" for untouched starter code, the file and
line of a student exception, a timeout sentence; an internal error is labelled as ours.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

import pytest

from ..errors import BudgetExceeded, PropertyViolation, StudentCodeError, SubmissionError
from ..simulator import display_path, is_student_file
from . import failures, lint, loader
from .labs import LABS, find_lab, lab_of_path
from .report import TestResult, number_tests, to_terminal, write_reports

_results: dict[str, TestResult] = {}
_shown_import_errors: set[str] = set()  # labs whose import error was shown
_started = 0.0
_active = False  # set at configure: is this a grading run?
NODE_LABS = {lab.package for lab in LABS if lab.has_nodes}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grading")
    group.addoption("--impl", default="starter",
                    help="code under test: starter, reference, or a folder laid out like starter/")
    group.addoption("--report-dir", default="reports", help="where to write score.json/score.md")
    group.addoption("--require-full-score", action="store_true",
                    help="exit non-zero unless the score is full (for the reference)")
    group.addoption("--sandbox", action="store_true",  # issue 8: labkit.sandbox
                    help="tamper-proof: run student code in a confined child process")


def _is_grading(config: pytest.Config) -> bool:
    """True when pytest was asked to run grader suites (a path inside a ``graders`` folder)."""
    return any("graders" in Path(str(arg).split("::")[0]).resolve().parts for arg in config.args)


def pytest_configure(config: pytest.Config) -> None:
    global _started, _active
    config.addinivalue_line("markers", "points(n): how many points the test is worth")
    _active = _is_grading(config)
    if not _active:
        return  # the project's own tests: no --impl, no score report
    _started = time.monotonic()
    try:
        path = loader.resolve_impl(config.getoption("--impl"))
    except SubmissionError as exc:
        raise pytest.UsageError(str(exc)) from None
    loader.use_impl(path)
    if config.getoption("--sandbox"):  # issue 8: tamper-proof grading (labkit.sandbox)
        from ..sandbox.pytest_hook import enable
        enable(config)
    _results.clear()
    _shown_import_errors.clear()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Register every selected test (after -k / -m deselection) with its points and name."""
    if not _active:
        return
    for item in session.items:
        lab = lab_of_path(str(item.path))
        marker = item.get_closest_marker("points")
        points = float(marker.args[0]) if marker and marker.args else 0.0
        doc = (getattr(item, "function", None).__doc__ or "").strip() if hasattr(item, "function") else ""
        name = doc.splitlines()[0].strip() if doc else item.name
        tags = [lab.short if lab else "other", Path(item.path).stem.removeprefix("test_")]
        _results[item.nodeid] = TestResult(nodeid=item.nodeid, lab=lab.package if lab else "other",
                                           name=name, max_score=points, tags=tags)
    number_tests(list(_results.values()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    if call.when == "setup" and _active:
        failures.reset()
    outcome = yield
    report = outcome.get_result()
    result = _results.get(item.nodeid)
    if result is None:
        return
    if call.when == "call" or (call.when == "setup" and report.outcome != "passed"):
        result.duration += call.duration
        if report.outcome == "passed" and call.when == "call":
            result.status, result.score, result.output = "passed", result.max_score, ""
        else:
            result.status, result.score = "failed", 0.0
            if report.skipped:
                result.output = f"skipped: {_skip_reason(report)}"
            else:
                result.output = failure_text(call.excinfo, result.lab)
                cap = failures.take() if call.when == "call" else None
                if cap is not None:
                    result.output = _record_failure(item, result, cap)
                report.longrepr = result.output
    elif call.when == "teardown" and report.outcome == "failed" and result.status == "passed":
        result.status, result.score = "failed", 0.0
        result.output = failure_text(call.excinfo, result.lab)


def _record_failure(item: pytest.Item, result: TestResult, cap: failures.Capture) -> str:
    """Check the failure is deterministic, write its record and trace page, say where."""
    note = ""
    if not os.environ.get("LABKIT_NO_RECHECK"):
        try:
            item.runtest()  # the same test again: derandomized, so the same final example
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # the failure we expect, or another: compared below
            pass
        again = failures.take()
        if again is None or again.digest != cap.digest:
            diff = failures.first_difference(cap.sim, again.sim) if again else \
                "the second run did not fail at all"
            note = ("your implementation is not deterministic: the same seed and fault schedule "
                    "gave a different run the second time. Usual causes: reading the wall clock "
                    "(time.time), the random module instead of self.rng, threads, or iterating "
                    "over a set of strings (its order changes between runs). The runs first "
                    f"differ at {diff}\n")
    lab = find_lab(result.lab)
    fid = failures.failure_id(lab.short, item.nodeid, cap)
    record = failures.to_record(cap, fid=fid, lab=result.lab, nodeid=item.nodeid,
                                name=result.name, impl=str(loader.impl_dir()))
    record["nondeterministic"] = note
    report_dir = Path(item.config.getoption("--report-dir"))
    _, html_path = failures.write(record, report_dir / "failures")
    return (f"{note}{result.output}\nfailure id: {fid}\n  replay: nox -s replay -- {fid}"
            f"\n  trace viewer: {display_path(str(html_path))}")


def failure_text(excinfo: pytest.ExceptionInfo | None, lab: str) -> str:
    """The message a student sees for a failed test."""
    if excinfo is None:
        return "failed"
    exc = excinfo.value
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # e.g. Hypothesis FlakyFailure
        flaky = type(exc).__name__.startswith("Flaky")
        inner = failure_text(pytest.ExceptionInfo.from_exception(exc.exceptions[0]), lab)
        if flaky:
            return ("your implementation is not deterministic: the same fault schedule and seed "
                    "gave different results when run again. Usual causes: reading the wall clock "
                    "(time.time), the global random module instead of self.rng, threads, or "
                    "iterating over a set of strings. First failure:\n" + inner)
        return inner
    notes = "\n".join(getattr(exc, "__notes__", []) or [])
    if isinstance(exc, SubmissionError):
        if lab in _shown_import_errors:
            return f"{lab} could not be loaded (see the first test of this lab for why)."
        _shown_import_errors.add(lab)
        return str(exc)
    nie = _find(exc, NotImplementedError)
    if nie is not None:
        what = str(nie) or "a method the starter leaves as TODO"
        return f"not implemented yet: {what}"
    text = str(exc)
    if type(exc).__name__ == "Failed" and "Timeout" in text:
        return (f"the test did not finish in time ({text.strip()}). Is there an infinite loop in "
                f"a handler? A handler must return quickly; use timers to wait.")
    if isinstance(exc, (PropertyViolation, BudgetExceeded, StudentCodeError, AssertionError)):
        return text + (f"\n{notes}" if notes else "")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if is_student_file(f.filename)
              and "/graders/" not in f.filename.replace("\\", "/")]
    if frames:
        last = frames[-1]
        return (f"your code raised {type(exc).__name__}: {text}\n  at "
                f"{display_path(last.filename)}:{last.lineno} in {last.name}: {last.line}"
                + (f"\n{notes}" if notes else ""))
    tb = "".join(traceback.format_exception(exc)[-6:])
    return (f"internal error in the grader (not your fault; please report it to the course "
            f"staff): {type(exc).__name__}: {text}\n{tb}")


def _find(exc: BaseException | None, kind: type) -> BaseException | None:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, kind):
            return exc
        if isinstance(exc, StudentCodeError) and isinstance(exc.cause, kind):
            return exc.cause
        exc = exc.__cause__ or exc.__context__
    return None


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    results = list(_results.values())
    if not results:
        return
    impl = str(loader.impl_dir())
    elapsed = time.monotonic() - _started
    warnings = _lint_warnings(results)
    json_path, md_path = write_reports(results, Path(config.getoption("--report-dir")), elapsed,
                                       display_path(impl), warnings)
    tr = terminalreporter
    tr.write_sep("=", f"score report ({display_path(impl)})")
    for line in to_terminal(results):
        tr.write_line(line)
    if warnings:
        tr.write_line("")
        tr.write_line("Warnings (no points taken; these usually break determinism):")
        for w in warnings:
            tr.write_line(f"  {w}")
    tr.write_line("")
    tr.write_line(f"Written: {display_path(str(json_path))}, {display_path(str(md_path))} "
                  f"(full messages for every failed test)")


def _lint_warnings(results: list[TestResult]) -> list[str]:
    """Determinism warnings for the node labs graded in this run (Lab 0 has no nodes)."""
    labs = sorted({r.lab for r in results} & NODE_LABS)
    root = loader.impl_dir()
    return [w for lab in labs if (root / lab).is_dir() for w in lint.scan(root / lab)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _active or not session.config.getoption("--require-full-score"):
        return
    results = list(_results.values())
    score = sum(r.score for r in results)
    max_score = sum(r.max_score for r in results)
    if not results or score < max_score:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
