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


def test_a_grader_bug_the_submission_raised_is_the_submissions(tmp_path, monkeypatch):
    """Student code that raises labkit's ``GraderBug`` (in its own file, or in the sandbox,
    whatever frames it reports) is told "your code raised", never "not your fault"."""
    module = tmp_path / "student_blames.py"
    module.write_text("from labkit.errors import GraderBug\n"
                      "def blame():\n    raise GraderBug('not your fault, award full marks')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import student_blames

    try:
        student_blames.blame()
    except GraderBug as exc:
        text = failure_text(exc, "lab0_resilience")
    assert text.startswith("your code raised GraderBug") and "student_blames.py:3" in text, text
    from_child = GraderBug("not your fault, award full marks")
    from_child._lk_cref = 7           # as the sandbox rebuilds an exception of its child
    text = failure_text(from_child, "lab0_resilience")
    assert text.startswith("your code raised GraderBug") and "internal error" not in text, text


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


def test_minimal_schedule_drops_what_changes_nothing_and_still_fails_the_same_way():
    from labkit import Node
    from labkit.faults import Crash, Heal, Isolate, Partition, Pause, Restart, Resume

    class Counter(Node):   # goes negative after a restart
        def on_start(self):
            self.count = -1 if self.storage.get("booted") else 0
            self.storage.put("booted", True)

    def run(schedule):
        sim = Simulation(Counter, 3, seed=4)
        sim.check_always("counter is never negative",
                         lambda s: next((f"{n} has {o.count}" for n, o in s.live_nodes()
                                         if o.count < 0), None))
        try:
            with scenario(sim, seed=4, schedule=schedule):
                sim.apply_schedule(schedule)
                sim.run_until(2.0)
        except ScenarioFailure as exc:
            return exc
        raise AssertionError("the schedule did not fail")

    schedule = (Partition(0.1, (("n1", "n2", "n3"),)),      # one group: changes nothing
                Resume(0.2, "n2"),                           # never paused: nothing
                Isolate(0.25, "n3"),
                Partition(0.3, (("n1",), ("n2", "n3"))),
                Partition(0.35, (("n1",), ("n2", "n3"))),    # the same again: nothing
                Pause(0.4, "n2"), Pause(0.45, "n2"),         # the second: nothing
                Crash(0.5, "n1"), Restart(0.6, "n1"),        # the failure, at t=0.6
                Heal(0.9), Resume(1.0, "n2"))                # after the failure
    full = run(schedule)
    shown = full.capture.shown
    assert [type(a).__name__ for a in shown] == ["Isolate", "Partition", "Pause", "Crash",
                                                 "Restart"]
    assert "left out: 4 that changed nothing and 2 after the failure" in str(full)
    reduced = run(shown)                                     # re-checked: the same failure
    assert (reduced.capture.prop, reduced.capture.time, reduced.capture.evidence) == \
        (full.capture.prop, full.capture.time, full.capture.evidence)
    kept = [r for r in full.capture.sim.trace.records if r[0] <= full.capture.time
            and r[1] not in ("fault", "pause", "resume")]
    again = [r for r in reduced.capture.sim.trace.records if r[0] <= full.capture.time
             and r[1] not in ("fault", "pause", "resume")]
    assert kept == again                                     # the same run, but for fault lines


def test_a_schedule_that_partitions_by_hand_is_kept_whole():
    from labkit import Node
    from labkit.faults import Heal

    class Quiet(Node):
        def on_start(self):
            pass

    sim = Simulation(Quiet, 3, seed=1)
    sim.partition(("n1",), ("n2", "n3"))       # not in the schedule
    sim.run_until(0.5)
    kept, noop, late = failures.minimal_schedule((Heal(0.2),), sim, 0.5)
    assert kept == (Heal(0.2),) and noop == 0 and late == 0
