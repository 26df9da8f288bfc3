"""Backoff limits, one at a time: bugs that survived mutation testing of the graders (issue 13,
`nox -s mutants -- lab0`). A check that tests base_delay and max_delay together (``and`` for
``or``), a bound off by one (``max_delay < -1``), a zero cap refused (``max_delay <= 0``), and
a backoff that overflows on a very large attempt number all passed every other test.
Handout: section 4, rule R1."""

from __future__ import annotations

import random

import pytest

from labkit.grading import require

from .model import rule

HUGE_ATTEMPTS = (1100, 5000, 10**5)   # 2**attempt is past the largest float from 1024 on


def fail(what: str) -> None:
    raise AssertionError(f"Contract {rule('R1')} was broken: {what}.")


@pytest.mark.points(2)
def test_backoff_checks_each_limit_and_huge_attempts(lab):
    """Backoff checks each limit on its own and survives huge attempt numbers

    backoff_delay raises ValueError when base_delay alone or max_delay alone is below 0 (by a
    little: -0.5), accepts 0 for either, and for attempt numbers so large that
    base_delay * 2**attempt is no float (1100, 5000, 100000) still returns one full-jitter
    draw under max_delay. Handout: section 4, rule R1."""
    backoff = require(lab, "backoff_delay", "function")
    for attempt, base_delay, max_delay in ((0, -0.5, 10.0), (2, 0.1, -0.5), (0, 1.0, -0.5)):
        call = f"backoff_delay({attempt}, base_delay={base_delay:g}, max_delay={max_delay:g}, rng)"
        try:
            delay = backoff(attempt, base_delay, max_delay, random.Random(0))
        except ValueError:
            continue
        fail(f"{call} returned {delay!r} instead of raising ValueError (each limit must be "
             f"checked on its own: base_delay < 0 or max_delay < 0)")
    for attempt, base_delay, max_delay in ((3, 0.0, 10.0), (3, 1.0, 0.0), (0, 0.0, 0.0)):
        call = f"backoff_delay({attempt}, base_delay={base_delay:g}, max_delay={max_delay:g}, rng)"
        try:
            delay = backoff(attempt, base_delay, max_delay, random.Random(0))
        except ValueError as err:
            fail(f"{call} raised ValueError({err}); a limit of 0 is allowed (the delay is 0)")
        if delay != 0:
            fail(f"{call} returned {delay!r}; with a ceiling of 0 the delay is 0")
    for attempt in HUGE_ATTEMPTS:
        call = f"backoff_delay({attempt}, base_delay=0.5, max_delay=30, rng)"
        try:
            delay = backoff(attempt, 0.5, 30.0, random.Random(attempt))
        except (OverflowError, ArithmeticError) as err:
            fail(f"{call} raised {type(err).__name__}: {err}; when base_delay * 2**attempt is "
                 f"too large for a float the cap max_delay is the ceiling")
        expected = random.Random(attempt).uniform(0, 30.0)
        if delay != expected:
            fail(f"{call} returned {delay!r}, expected rng.uniform(0, 30) = {expected!r} "
                 f"(the ceiling is min(max_delay, base_delay * 2**attempt) = max_delay)")
