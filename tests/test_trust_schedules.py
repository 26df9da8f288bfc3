"""Schedules that depend on the grader alone: Hypothesis' "local constants" (integers read from
every imported local module, the student's included) are switched off for grading, so a buggy
Raft variant with ten extra module-level constants gets the same failure ids and trace digests
as the variant itself, in-process and sandboxed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from graderun import BUGGY, REPO, grade

TEN_CONSTANTS = REPO / "tests" / "trust" / "lab2_ten_constants"
VARIANT = BUGGY / "lab2_raft" / "no_up_to_date_check"
GENERATED = ("-m", "not live", "-k", "generated")


def test_local_constants_are_switched_off(tmp_path, monkeypatch):
    from hypothesis.internal.conjecture import providers

    import labkit.strategies as strategies

    assert strategies.LOCAL_CONSTANTS_OFF
    module = tmp_path / "student_constants.py"
    module.write_text("A = 123456\nB = 654321\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("student_constants")
    try:
        assert len(providers._get_local_constants()) == 0
    finally:
        sys.modules.pop("student_constants", None)


def _drawn_schedules() -> list:
    from hypothesis import given

    from labkit.strategies import fault_schedules, grading_settings, seeds

    drawn = []

    @grading_settings(max_examples=150)
    @given(schedule=fault_schedules(("n1", "n2", "n3", "n4", "n5"), end=3.0), seed=seeds())
    def record(schedule, seed):
        drawn.append((schedule, seed))

    record()
    return drawn


def test_the_schedules_drawn_do_not_depend_on_the_modules_imported(tmp_path, monkeypatch):
    """The same graded Hypothesis test draws the same schedules and seeds before and after a
    "student" module full of integer constants is imported."""
    before = _drawn_schedules()
    module = tmp_path / "student_numbers.py"
    module.write_text("".join(f"C{i} = {v}\n" for i, v in enumerate(
        (150, 275, 480, 777, 1234, 1500, 1999, 2222, 2750, 2999, 12345, 654321))))
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("student_numbers")
    try:
        after = _drawn_schedules()
    finally:
        sys.modules.pop("student_numbers", None)
    assert len(before) == 150 and after == before


def failures_of(report_dir: Path) -> dict[str, tuple[str, str, str]]:
    """failure id -> (test, property, digest) of every failure record in a report folder."""
    out = {}
    for path in sorted((report_dir / "failures").glob("*.json")):
        record = json.loads(path.read_text())
        out[record["id"]] = (record["test"], record["property"], record["digest"])
    return out


def _graded(impl: Path, tmp_path: Path, *extra: str, select=GENERATED) -> dict:
    run = grade("lab2_raft", impl, tmp_path, *select, "-o", "timeout=900", *extra)
    assert run.failed(), "the variant should fail the generated tests"
    found = failures_of(tmp_path / "reports")
    assert found, run.stdout[-2000:]
    return found


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ten_constants_same_failure_ids_and_digests(tmp_path):
    plain = _graded(VARIANT, tmp_path / "variant")
    constants = _graded(TEN_CONSTANTS, tmp_path / "constants")
    assert constants == plain


# The sandboxed half on two of the generated tests (the two cheapest; both catch the variant):
# the parent process imports other modules than an in-process run (the sandbox's, not the
# student's), so with local constants on, even the same submission draws other schedules there.
TWO_GENERATED = ("-m", "not live", "-k", "test_election_generated or test_replication_generated")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ten_constants_same_failure_ids_and_digests_sandboxed(tmp_path):
    from instructor.sample_class import vendored_variant

    plain = _graded(VARIANT, tmp_path / "variant", select=TWO_GENERATED)
    boxed = _graded(vendored_variant(TEN_CONSTANTS, tmp_path / "submission"),
                    tmp_path / "constants", "--sandbox", select=TWO_GENERATED)
    assert {test.split("::")[-1] for test, _, _ in plain.values()} == \
        {"test_election_generated", "test_replication_generated"}, plain
    assert {fid: (test, prop) for fid, (test, prop, _) in boxed.items()} == \
        {fid: (test, prop) for fid, (test, prop, _) in plain.items()}
    assert boxed == plain
