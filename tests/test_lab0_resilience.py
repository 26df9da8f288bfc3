"""Lab 0's own checks (tests/test_labs.py grades the reference, the starter and the buggy
variants of every lab): the graded tests and their points, read from the grader modules."""

from __future__ import annotations

import importlib

PACKAGE = "lab0_resilience"
GRADER_MODULES = ("test_breaker", "test_breaker_model", "test_retry", "test_mutants_backoff_limits",
                  "test_boundaries")


def graded() -> list[tuple[str, float]]:
    """(the test's name as students see it, its points) for every graded test."""
    out = []
    for module in GRADER_MODULES:
        mod = importlib.import_module(f"graders.{PACKAGE}.{module}")
        for name, fn in vars(mod).items():
            marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "points"]
            if name.startswith("test_") and marks:
                out.append((fn.__doc__.strip().splitlines()[0], marks[0].args[0]))
    return out


def test_eleven_graded_tests_worth_fifty_points():
    tests = graded()
    assert len(tests) == 11, tests
    assert sum(points for _, points in tests) == 50, tests
