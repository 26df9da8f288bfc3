"""Unit tests of what the grading plugin makes of awkward exceptions: it never raises, it finds
one failure record per failure Hypothesis reports (with that failure's reproduction blob), and
it blames the student only for what their code raised."""

from __future__ import annotations

import pytest

from labkit import Simulation
from labkit.errors import GraderBug, PropertyViolation
from labkit.grading import failures
from labkit.grading.plugin import StudentInterrupt, failure_text
from labkit.grading.scenario import ScenarioFailure, scenario



def _failure(text: str, seed: int) -> ScenarioFailure:
    from labkit import Node

    class Quiet(Node):
        def on_start(self):
            pass

    sim = Simulation(Quiet, 2, seed=seed)
    try:
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            raise PropertyViolation(text, f"evidence {seed}", time=sim.now)
    except ScenarioFailure as exc:
        return exc
    raise AssertionError("scenario() did not raise")


def test_each_failure_in_a_group_keeps_its_own_capture_and_blob():
    first, second = _failure("first property", 1), _failure("second property", 2)
    first.add_note("\nYou can reproduce this example by temporarily adding "
                   "@reproduce_failure('6.155.2', b'AAAA') as a decorator on your test case")
    second.add_note("\nYou can reproduce this example by temporarily adding "
                    "@reproduce_failure('6.155.2', b'BBBB') as a decorator on your test case")
    group = BaseExceptionGroup("Hypothesis found 2 distinct failures.", [first, second])
    found = failures.captures_in(group)
    assert [f.capture.prop for f in found] == ["first property", "second property"]
    assert [f.exception for f in found] == [first, second]
    assert found[0].capture.seed == 1 and found[1].capture.seed == 2
    # a blob only counts for a graded Hypothesis test (none here: a scripted run)
    assert all(f.capture.hypothesis_key is None for f in found)


@pytest.mark.parametrize("exc", [
    ExceptionGroup("never raised", [ValueError("a"), KeyError("b")]),
    BaseExceptionGroup("nested", [ExceptionGroup("inner", [OSError("x")]), KeyboardInterrupt()]),
    StudentInterrupt("KeyboardInterrupt: ..."),
    SystemExit(3),
    GeneratorExit(),
])
def test_failure_text_never_raises_on_exceptions_without_tracebacks(exc):
    text = failure_text(exc, "lab0_resilience")
    assert isinstance(text, str) and text


def test_an_exception_whose_str_raises_is_still_described():
    class Nasty(Exception):
        def __str__(self):
            raise RuntimeError("no")

    assert "cannot be shown" in failure_text(Nasty(), "lab0_resilience")


def test_a_grader_bug_is_ours():
    text = failure_text(GraderBug("the harness lost a node"), "lab1_cap")
    assert text.startswith("internal error in the grader") and "not your fault" in text


def test_student_exception_group_is_named_with_file_and_line(tmp_path, monkeypatch):
    module = tmp_path / "student_group.py"
    module.write_text("def boom():\n    raise ExceptionGroup('two', [ValueError('a'), KeyError('b')])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import student_group

    try:
        student_group.boom()
    except ExceptionGroup as exc:
        text = failure_text(exc, "lab0_resilience")
    assert text.startswith("your code raised ExceptionGroup"), text
    assert "student_group.py:2" in text and "ValueError: a" in text
