"""The grading plugin for pytest, loaded with ``-p labkit.grading.plugin`` (pyproject's addopts).

It is registered before the command line is parsed, so ``--impl PATH`` is always read as an
option: the submission folder is never mistaken for a test path, and no ``conftest.py`` inside
a submission is ever loaded. It only acts when the run collects a ``graders`` folder.

* ``@pytest.mark.points(n)``: what a test is worth; its docstring's first line is its name, and
  its number comes from the handout's rubric (the same under ``-k`` and ``-m``).
* ``--impl starter|reference|PATH``: the code under test (``PATH``: a folder like starter/).
* ``--report-dir DIR`` (default ``reports``): where score.json and score.md go; the reports of
  an earlier run are removed when a run starts, so an old report never passes for a new one.
* ``--require-full-score``: exit non-zero unless every point is earned (``nox -s reference``).

Rules this plugin keeps:

1. It never raises into pytest. Whatever a test raised (exception groups, nested or not,
   exceptions without a traceback, ``KeyboardInterrupt``, ``SystemExit`` or a custom
   ``BaseException`` from student code) becomes a message for the student (``failure_text``)
   with their file and line; a fault of labkit or of a grader (``GraderBug``) is said to be ours.
2. The per-test time limit (pytest-timeout's ``timeout``) is enforced by this plugin: it raises
   ``OutOfTime``, which Hypothesis does not catch (so it cannot shrink or replay a hang), and it
   fires again every second until the test gives up. A timeout is reported as a timeout.
3. Every failure shown has its own record (one per distinct failure Hypothesis reports), and the
   determinism re-check runs *that* example again (``hypothesis.reproduce_failure`` with the
   blob Hypothesis printed), never a new search; when it cannot, it says nothing.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
import uuid
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

import pytest

from .. import strategies
from ..errors import (BudgetExceeded, GraderBug, PropertyViolation, StudentCodeError,
                      SubmissionError)
from ..simulator import display_path, is_student_file
from . import failures, lint, loader, scenario
from .labs import LABS, find_lab, lab_of_path
from .report import (TestResult, number_tests, reference_seconds, to_terminal, write_reports)

_results: dict[str, TestResult] = {}
_collected: list[pytest.Item] = []   # every test collected, before -k / -m deselection
_shown_import_errors: set[str] = set()  # labs whose import error was shown
_started = 0.0
_run = {"id": "", "time": ""}
_active = False  # set at configure: is this a grading run?
_nothing_selected = False
NODE_LABS = {lab.package for lab in LABS if lab.has_nodes}


class OutOfTime(BaseException):
    """The per-test time limit passed. A BaseException, so that neither Hypothesis nor student
    code that catches ``Exception`` can take it for a failure to shrink or to swallow."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"the time limit of {limit:g} s passed")
        self.limit = limit


class StudentInterrupt(Exception):
    """Student code raised ``KeyboardInterrupt`` (or pytest's ``Exit``): a failure of that
    test, not a reason to stop grading. The original is the ``__cause__``."""


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
    global _started, _active, _nothing_selected
    config.addinivalue_line("markers", "points(n): how many points the test is worth")
    _active = _is_grading(config)
    if not _active:
        return  # the project's own tests: no --impl, no score report
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        raise pytest.UsageError(
            "graded runs use one process: the score is added up in it as the tests finish, "
            "and with -n (pytest-xdist) the report would miss the tests other processes ran. "
            "Leave out -n; to grade faster, grade labs or students side by side instead "
            "(grade_class --jobs N).")
    _started = time.monotonic()
    scenario.RUN_OPTIONS[:] = scenario.run_options(config.invocation_params.args)
    _run["id"] = uuid.uuid4().hex[:8]
    _run["time"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    try:
        path = loader.resolve_impl(config.getoption("--impl"))
    except SubmissionError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("--sandbox"):  # issue 14: the sandbox is imported first and the
        import inspect                                # folder never goes on sys.path

        from ..sandbox.pytest_hook import enable
        if len(inspect.signature(enable).parameters) > 1:
            enable(config, path)
        else:  # the sandbox hook before issue 14 (takes the folder from the loader)
            loader.use_impl(path)
            enable(config)
    else:
        loader.use_impl(path)
    _results.clear()
    _collected.clear()
    _shown_import_errors.clear()
    _nothing_selected = False
    _clear_old_reports(Path(config.getoption("--report-dir")))
    _watch_for_ctrl_c()


def _clear_old_reports(report_dir: Path) -> None:
    """Remove what an earlier run wrote (only the files this plugin writes)."""
    for name in ("score.json", "score.md"):
        (report_dir / name).unlink(missing_ok=True)
    folder = report_dir / "failures"
    if folder.is_dir():
        for path in folder.iterdir():
            if path.suffix in (".json", ".html") and path.is_file():
                path.unlink(missing_ok=True)


# ----- Ctrl-C from the keyboard vs KeyboardInterrupt raised by student code --------------------
_real_ctrl_c = False


def _watch_for_ctrl_c() -> None:
    global _real_ctrl_c
    _real_ctrl_c = False
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        def on_sigint(signum, frame):
            global _real_ctrl_c
            _real_ctrl_c = True
            raise KeyboardInterrupt
        signal.signal(signal.SIGINT, on_sigint)


# ----- the per-test time limit ---------------------------------------------------------------
_guard = {"depth": 0, "limit": 0.0, "armed": False, "fired": False}


@contextmanager
def _guarded():
    """Code under the time limit: the test's setup and call, the determinism re-check."""
    _guard["depth"] += 1
    try:
        yield
    finally:
        _guard["depth"] -= 1


def _on_alarm(signum, frame):
    if not _guard["armed"]:
        return
    signal.setitimer(signal.ITIMER_REAL, 1.0)  # again in 1 s if this one is swallowed
    if _guard["depth"] > 0:
        _guard["fired"] = True  # whatever the test raises now, it ran out of time
        raise OutOfTime(_guard["limit"])


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings) -> bool | None:
    """Take pytest-timeout's timer over for graded tests (its own ``Failed: Timeout`` is caught
    by Hypothesis, which then shrinks a hang, running it again and again)."""
    if not _active or threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "SIGALRM"):
        return None
    _guard.update(limit=float(settings.timeout), armed=True, fired=False)
    previous = signal.signal(signal.SIGALRM, _on_alarm)

    def cancel():
        _guard["armed"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)

    item.cancel_timeout = cancel  # pytest-timeout's cancel hook calls it
    signal.setitimer(signal.ITIMER_REAL, float(settings.timeout))
    return True


def _contain(exc: BaseException) -> BaseException:
    """A KeyboardInterrupt (or pytest.exit) that did not come from the keyboard is the
    student's: turn it into an ordinary failure so the other tests still run."""
    if isinstance(exc, (KeyboardInterrupt, pytest.exit.Exception)) and not _real_ctrl_c:
        new = StudentInterrupt(f"{type(exc).__name__}: {exc}")
        new.__cause__ = exc
        return new
    return exc


def _contained_phase():
    """The body of the set-up and call wrappers: run the phase under the time guard and turn
    a student's interrupt into an ordinary failure (``_contain``)."""
    if not _active:
        return (yield)
    with _guarded():
        try:
            return (yield)
        except BaseException as exc:
            contained = _contain(exc)
            if contained is exc:
                raise
            raise contained from exc


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    return (yield from _contained_phase())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    return (yield from _contained_phase())


# ----- collection: names, points, numbers ------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    """Remember every collected test before -k / -m deselect some (for the numbering)."""
    if _active:
        _collected[:] = list(items)


def _describe(item: pytest.Item) -> TestResult:
    lab = lab_of_path(str(item.path))
    marker = item.get_closest_marker("points")
    points = float(marker.args[0]) if marker and marker.args else 0.0
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    name = doc.splitlines()[0].strip() if doc else item.name
    tags = [lab.short if lab else "other", Path(item.path).stem.removeprefix("test_")]
    return TestResult(nodeid=item.nodeid, lab=lab.package if lab else "other", name=name,
                      max_score=points, tags=tags, function=item.name.split("[")[0])


def pytest_collection_finish(session: pytest.Session) -> None:
    """Register every selected test (after -k / -m deselection) with its points and name."""
    global _nothing_selected
    if not _active:
        return
    everything = [_describe(item) for item in (_collected or session.items)]
    for item in session.items:
        _results[item.nodeid] = _describe(item)
    try:
        number_tests(list(_results.values()), everything)
    except Exception:  # noqa: BLE001 - rule 1: an unreadable rubric costs the numbers only
        for i, r in enumerate(everything, 1):
            if r.nodeid in _results:
                _results[r.nodeid].number = f"{i}"
    if not session.items and everything:
        _nothing_selected = True
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["No graded test matches this selection (-k / -m). The tests are:"]
        for r in everything:
            lines.append(f"  {r.number:<6} -k {r.function:<48} {r.name}")
        lines.append("Pass one of the names after -k (a part of a name works too), e.g. "
                     f"-k {everything[0].function}")
        for line in lines:
            tr.write_line(line) if tr else print(line)


# ----- outcomes --------------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    try:
        report = outcome.get_result()
    except Exception as exc:  # noqa: BLE001 - pytest could not format the traceback (rule 1)
        if not _active:
            raise
        report = _plain_report(item, call, exc)
        outcome.force_result(report)
    try:
        _score(item, call, report)
    except (KeyboardInterrupt, OutOfTime) as exc:
        if isinstance(exc, KeyboardInterrupt) and _real_ctrl_c:
            raise
        _as_failure(item, f"grading was interrupted while reporting this test ({exc})")
    except Exception as exc:  # rule 1: never raise into pytest
        _as_failure(item, _ours(exc, "while reporting this test"))


def _plain_report(item: pytest.Item, call: pytest.CallInfo, why: BaseException) -> pytest.TestReport:
    """The report pytest would have made, without its rendering of the traceback (which fails
    on some tracebacks, e.g. a frame whose line number Python does not know)."""
    failed = call.excinfo is not None
    skipped = failed and call.excinfo.errisinstance(pytest.skip.Exception)
    outcome = "skipped" if skipped else "failed" if failed else "passed"
    longrepr = None
    if skipped:
        longrepr = (str(item.path), item.location[1] or 0, str(call.excinfo.value))
    elif failed:
        longrepr = f"{call.excinfo.typename}: {_safe_str(call.excinfo.value)}"
    return pytest.TestReport(item.nodeid, item.location, {k: 1 for k in item.keywords}, outcome,
                             longrepr, call.when, [], call.duration, call.start, call.stop,
                             user_properties=item.user_properties)


def _as_failure(item: pytest.Item, text: str) -> None:
    result = _results.get(item.nodeid)
    if result is not None:
        result.status, result.score, result.output = "failed", 0.0, text


def _score(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    result = _results.get(item.nodeid)
    if result is None:
        return
    if call.when == "call" or (call.when == "setup" and report.outcome != "passed"):
        result.duration += call.duration
        if report.outcome == "passed" and call.when == "call":
            result.status, result.score, result.output = "passed", result.max_score, ""
            return
        result.status, result.score = "failed", 0.0
        if report.skipped:
            result.output = f"skipped: {_skip_reason(report)}"
        elif _guard["fired"]:
            # Out of time, whatever the test raised then (grader code or the sandbox may have
            # caught the OutOfTime and raised something else): never a verdict on the code.
            result.output = _timeout_text(_guard["limit"], result)
        else:
            exc = call.excinfo.value if call.excinfo is not None else None
            result.output = failure_text(exc, result.lab, result=result)
            found = failures.captures_in(exc) if exc is not None and call.when == "call" else []
            if found:
                result.output = _record_failures(item, result, exc, found)
        report.longrepr = result.output
    elif call.when == "teardown" and report.outcome == "failed" and result.status == "passed":
        result.status, result.score = "failed", 0.0
        exc = call.excinfo.value if call.excinfo is not None else None
        result.output = failure_text(exc, result.lab, result=result)


def _record_failures(item: pytest.Item, result: TestResult, exc: BaseException,
                     found: list[failures.Found]) -> str:
    """One record (json + trace page) per failure shown, each checked for determinism by
    running the same example again."""
    lab = lab_of_path(str(item.path))  # None for a test outside a lab's folder
    report_dir = Path(item.config.getoption("--report-dir"))
    parts = []
    for f in found:
        cap = f.capture
        note = _recheck(item, f)
        fid = failures.failure_id(lab.short if lab else result.lab, item.nodeid, cap)
        record = failures.to_record(cap, fid=fid, lab=result.lab, nodeid=item.nodeid,
                                    name=result.name, impl=str(loader.impl_dir()))
        record["nondeterministic"] = note
        record["run"] = dict(_run)
        _, html_path = failures.write(record, report_dir / "failures")
        text = failure_text(f.exception, result.lab, result=result)
        parts.append(f"{note}{text}\nfailure id: {fid}\n  replay: nox -s replay -- {fid}"
                     f"\n  trace viewer (open it in your browser): "
                     f"{Path(html_path).resolve().as_uri()}")
    if len(parts) == 1:
        return parts[0]
    head = (f"{len(parts)} different failures were found; each has its own failure id and "
            f"replay command.")
    return head + "".join(f"\n\n--- failure {i} of {len(parts)} ---\n{p}"
                          for i, p in enumerate(parts, 1))


def _same_example(again: failures.Capture, first: failures.Capture) -> bool:
    """Whether a run of the re-check is the run of the example being checked, not another
    one that failed on the way (the test runs its @examples first: when one of them fails
    too, the generated example being re-checked never runs, and nothing is compared)."""
    if first.hypothesis_key is None:   # a scripted test: its first failure again
        return again.hypothesis_key is None
    if again.hypothesis_key != first.hypothesis_key or again.explicit != first.explicit:
        return False
    if first.explicit:                 # which @example: the same inputs
        return (again.seed, again.schedule) == (first.seed, first.schedule)
    return not (again.blob and first.blob) or again.blob == first.blob


def _recheck(item: pytest.Item, found: failures.Found) -> str:
    """Run the same example again and compare trace digests. Returns a note for the student
    when the second run differs, and "" when it is the same or could not be run."""
    if os.environ.get("LABKIT_NO_RECHECK"):
        return ""
    cap = found.capture
    if cap.hypothesis_key is not None and not cap.explicit:
        if not cap.blob:
            return ""  # a generated example we cannot run alone: say nothing
        same_example = strategies.reproducing(cap.hypothesis_key, cap.hypothesis_version,
                                              cap.blob.encode())
    else:  # a scripted test, or an @example (run first): running it again is the same run
        same_example = nullcontext()
    again = None
    passed = False
    with _guarded():
        try:
            with same_example:
                item.runtest()
            passed = True
        except OutOfTime:
            return ""  # out of time: nothing can be said about determinism
        except BaseException as exc:  # noqa: BLE001 - the failure we expect, or another
            contained = _contain(exc)
            if contained is exc and isinstance(exc, KeyboardInterrupt):
                raise
            if type(exc).__name__ == "DidNotReproduce":
                passed = "completed successfully" in str(exc)
            else:
                mine = [g for g in failures.captures_in(exc) if _same_example(g.capture, cap)]
                again = mine[0].capture if mine else None
    if again is not None and again.digest == cap.digest:
        return ""
    if again is None and not passed:
        return ""  # it failed some other way (not a run we can compare): say nothing
    diff = failures.first_difference(cap.sim, again.sim) if again else \
        "the second run did not fail at all"
    return ("your implementation is not deterministic: the same seed and fault schedule "
            "gave a different run the second time. Usual causes: reading the wall clock "
            "(time.time), the random module instead of self.rng, threads, or iterating "
            "over a set of strings (its order changes between runs). The runs first "
            f"differ at {diff}\n")


# ----- the message a student sees --------------------------------------------------------------

def failure_text(excinfo, lab: str, *, result: TestResult | None = None) -> str:
    """The message a student sees for a failed test (``excinfo``: an exception or pytest's
    ExceptionInfo). Never raises."""
    try:
        exc = getattr(excinfo, "value", excinfo) if excinfo is not None else None
        if exc is None:
            return "failed"
        return _text(exc, lab, result, inherited_tb=None)
    except Exception as bug:  # noqa: BLE001 - rule 1
        return _ours(bug, "while describing this test's failure")


def _leaves(exc: BaseException, tb=None) -> list[tuple[BaseException, object]]:
    """The exceptions inside (nested) groups, each with the traceback to blame it by: its own,
    or the innermost group's one when it was never raised (no traceback of its own)."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions \
            and not _raised_by_student(exc, exc.__traceback__ or tb):
        out = []
        for inner in exc.exceptions:
            out += _leaves(inner, exc.__traceback__ or tb)
        return out
    return [(exc, exc.__traceback__ or tb)]


def _frames(tb) -> list[traceback.FrameSummary]:
    """The frames of a traceback, also when Python does not know a frame's line number (then
    the frame's current line is used): ``traceback.extract_tb`` fails on those."""
    import linecache

    out = []
    while tb is not None:
        code = tb.tb_frame.f_code
        lineno = tb.tb_lineno if tb.tb_lineno is not None else (tb.tb_frame.f_lineno or 0)
        line = linecache.getline(code.co_filename, lineno).strip() if lineno else ""
        out.append(traceback.FrameSummary(code.co_filename, lineno, code.co_name,
                                          lookup_line=False, line=line))
        tb = tb.tb_next
    return out


def _raised_by_student(exc: BaseException, tb) -> bool:
    """Was ``exc`` raised in a student file (its innermost frame is theirs)?"""
    frames = _frames(tb)
    return bool(frames) and is_student_file(frames[-1].filename) \
        and "/graders/" not in frames[-1].filename.replace("\\", "/")


def _text(exc: BaseException, lab: str, result: TestResult | None, inherited_tb) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions \
            and not _raised_by_student(exc, exc.__traceback__ or inherited_tb):
        leaves = _leaves(exc, inherited_tb)
        texts = []
        for leaf, tb in leaves:
            text = _text(leaf, lab, result, tb)
            if text not in texts:
                texts.append(text)
        if len(texts) == 1:
            return texts[0]
        return (f"{len(texts)} different errors:\n" +
                "\n".join(f"{i}. {t}" for i, t in enumerate(texts, 1)))
    notes = "\n".join(n for n in (getattr(exc, "__notes__", None) or [])
                      if isinstance(n, str) and not _hypothesis_note(n))
    if isinstance(exc, GraderBug) and not made_by_submission(exc, exc.__traceback__
                                                             or inherited_tb):
        return _ours(exc, "")
    if isinstance(exc, OutOfTime):
        return _timeout_text(exc.limit, result)
    if isinstance(exc, SubmissionError):
        if lab in _shown_import_errors:
            return f"{lab} could not be loaded (see the first test of this lab for why)."
        _shown_import_errors.add(lab)
        return str(exc)
    if isinstance(exc, StudentInterrupt) and exc.__cause__ is not None:
        return _student_raised(exc.__cause__, exc.__cause__.__traceback__ or inherited_tb,
                               notes, lab) or _ours(exc, "")
    nie = _find(exc, NotImplementedError)
    if nie is not None:
        what = str(nie) or "a method the starter leaves as TODO"
        return f"not implemented yet: {what}"
    text = _safe_str(exc)
    if type(exc).__name__ == "Failed" and "Timeout" in text:
        return _timeout_text(_guard["limit"] or None, result)
    if isinstance(exc, (PropertyViolation, BudgetExceeded, StudentCodeError, AssertionError)):
        return text + (f"\n{notes}" if notes else "")
    return (_student_raised(exc, exc.__traceback__ or inherited_tb, notes, lab)
            or _from_sandbox(exc, notes) or _ours(exc, ""))


def made_by_submission(exc: BaseException, tb) -> bool:
    """Did the submission raise ``exc``? Yes if it came back from the sandbox (everything
    there is the submission's doing, whatever frames it reports) or was raised in a student
    file. So an error that only claims to be the grader's (a ``GraderBug`` raised by student
    code) is reported as the student's, never as "not your fault"."""
    return getattr(exc, "_lk_cref", None) is not None or _raised_by_student(exc, tb)


def _from_sandbox(exc: BaseException, notes: str) -> str:
    """"your code raised ..." for an exception of the sandboxed child that names no line of
    the submission (its frames were all elsewhere, or it hid them); "" for any other."""
    if getattr(exc, "_lk_cref", None) is None:
        return ""
    return (f"your code raised {type(exc).__name__}: {_safe_str(exc)}\n  (the sandboxed "
            f"process reported no line of your files for it)" + (f"\n{notes}" if notes else ""))


def _student_raised(exc: BaseException, tb, notes: str, lab: str) -> str:
    """"your code raised ..." at the innermost student frame, or "" if no frame is theirs."""
    frames = [f for f in _frames(tb) if is_student_file(f.filename)
              and "/graders/" not in f.filename.replace("\\", "/")]
    if not frames:
        return ""
    last = frames[-1]
    text = _safe_str(exc)
    kind = type(exc).__name__
    group = ""
    if isinstance(exc, BaseExceptionGroup):
        inner = ", ".join(f"{type(e).__name__}: {_safe_str(e)}" for e in exc.exceptions)
        group = f" (inside: {inner})"
    return (f"your code raised {kind}: {text}{group}\n  at "
            f"{display_path(last.filename)}:{last.lineno} in {last.name}: {last.line}"
            + (f"\n{notes}" if notes else ""))


def _timeout_text(limit: float | None, result: TestResult | None) -> str:
    spent = ""
    if limit:
        spent = f" after {limit:g} s"  # the limit it was stopped at
    elif result is not None and result.started:
        spent = f" after {time.monotonic() - result.started:.0f} s"
    ref = reference_seconds(result.lab, result.function) if result is not None else None
    needs = f" (the reference needs {ref:.1f} s)" if ref is not None else ""
    return (f"this test ran out of time{spent}{needs}. Your code is much slower than needed "
            f"here, or never returns: look for an infinite loop (in a handler or in a method "
            f"the test calls), a message storm, or work that grows much faster than the input "
            f"(a ring lookup that scans every key). A handler must return quickly; use timers "
            f"to wait. (On a busy machine, try again with a longer limit: -o timeout=300.)")


def _ours(exc: BaseException, doing: str) -> str:
    try:
        tb = "".join(traceback.format_exception(exc)[-6:])
    except Exception:  # noqa: BLE001
        tb = ""
    where = f" {doing}" if doing else ""
    return (f"internal error in the grader{where} (not your fault; please report it to the "
            f"course staff): {type(exc).__name__}: {_safe_str(exc)}\n{tb}")


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a student exception whose __str__ raises
        return f"<{type(exc).__name__} whose message cannot be shown>"


def _hypothesis_note(note: str) -> bool:
    return "@reproduce_failure(" in note


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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logstart(nodeid: str, location) -> None:
    result = _results.get(nodeid)
    if result is not None:
        result.started = time.monotonic()


# ----- the end of the run ----------------------------------------------------------------------

def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    results = list(_results.values())
    if not results:
        return
    tr = terminalreporter
    try:
        impl = str(loader.impl_dir())
        elapsed = time.monotonic() - _started
        warnings = _lint_warnings(results)
        json_path, md_path = write_reports(results, Path(config.getoption("--report-dir")),
                                           elapsed, display_path(impl), warnings, run=_run)
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
                      f"(full messages for every failed test; run {_run['id']}, {_run['time']})")
    except Exception as exc:  # noqa: BLE001 - rule 1; say it loudly, it is ours
        tr.write_line(_ours(exc, "while writing the score report"))


def _lint_warnings(results: list[TestResult]) -> list[str]:
    """Determinism warnings for the node labs graded in this run (Lab 0 has no nodes)."""
    labs = sorted({r.lab for r in results} & NODE_LABS)
    root = loader.impl_dir()
    found = [w for lab in labs if (root / lab).is_dir() for w in lint.scan(root / lab)]
    if not strategies.hypothesis_version_tested():
        import hypothesis

        low, high = strategies.TESTED_HYPOTHESIS
        found.append(f"Hypothesis {hypothesis.__version__} is installed, but the graders are "
                     f"tested with {low[0]}.{low[1]}.x: the generated schedules may differ from "
                     f"the official grading run (nox -s grade installs the right version)")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _active:
        return
    if _nothing_selected:
        session.exitstatus = pytest.ExitCode.OK  # a selection that matches nothing is no error
        return
    if not session.config.getoption("--require-full-score"):
        return
    results = list(_results.values())
    score = sum(r.score for r in results)
    max_score = sum(r.max_score for r in results)
    if not results or score < max_score:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


__all__ = ["failure_text", "OutOfTime", "StudentInterrupt"]
