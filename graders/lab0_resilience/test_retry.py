"""Retry with exponential backoff and full jitter: calls, sleeps and the error re-raised are
compared with what the contract says for generated scripts of failures; delays are checked
against their bounds and their spread. A fake sleep records every delay, so nothing waits.
Handout: section 4 (rules R1-R5)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.grading import require
from labkit.strategies import grading_settings

from .fakes import Fatal, Probe, RecordingSleep, Transient, TransientTimeout
from .model import rule

EPSILON = 1e-9
SETTINGS = grading_settings(max_examples=80)


def fail(code: str, what: str) -> None:
    raise AssertionError(f"Contract {rule(code)} was broken: {what}.")


def run_retry(lab, probe: Probe, **options):
    """retry_with_backoff(probe, ...) with a recording sleep; returns (result, error, sleep)."""
    retry = require(lab, "retry_with_backoff", "function")
    sleep = RecordingSleep()
    options.setdefault("rng", random.Random(1))
    try:
        return retry(probe, sleep=sleep, **options), None, sleep
    except NotImplementedError:
        raise
    except BaseException as err:  # noqa: BLE001 - the error is what is being checked
        return None, err, sleep


def describe(probe: Probe, options: dict) -> str:
    """``retry_with_backoff(fn, max_attempts=2, ...) on an fn that raises Transient, then ...``"""
    shown = []
    for key, value in options.items():
        if key == "retry_on":
            names = ", ".join(t.__name__ for t in value)
            shown.append(f"retry_on=({names},)" if len(value) == 1 else f"retry_on=({names})")
        elif key != "rng":
            shown.append(f"{key}={value!r}")
    steps = ["returns a value" if o == "ok" else f"raises {o.__name__}" for o in probe.outcomes]
    behaviour = (f"{steps[0]} on every call" if len(steps) == 1 else
                 f"{', then '.join(steps)} (the last outcome repeats)")
    return f"retry_with_backoff({', '.join(['fn'] + shown)}) on an fn that {behaviour}"


def check_script(lab, outcomes, **options) -> None:
    """Run a script of outcomes and compare calls, sleeps and the result with the contract."""
    probe = Probe(outcomes)
    result, error, sleep = run_retry(lab, probe, **options)
    story = describe(probe, options)
    retry_on = options.get("retry_on", (Exception,))
    max_attempts = options.get("max_attempts", 3)

    # What the contract says: walk the script.
    calls, sleeps, verdict = 0, 0, None
    for attempt in range(max_attempts):
        outcome = outcomes[min(attempt, len(outcomes) - 1)]
        calls += 1
        if outcome == "ok":
            verdict = ("R2", "return")
            break
        if not issubclass(outcome, retry_on):
            verdict = ("R4", "raise")
            break
        if attempt == max_attempts - 1:
            verdict = ("R5", "raise")
            break
        sleeps += 1
    code, how = verdict

    if probe.calls != calls:
        fail(code if probe.calls > calls else "R3",
             f"{story}: fn was called {probe.calls} time(s), expected {calls}")
    if len(sleep.delays) != sleeps:
        fail(code if len(sleep.delays) > sleeps else "R3",
             f"{story}: sleep was called {len(sleep.delays)} time(s), expected {sleeps} "
             f"(delays {sleep.delays})")
    if how == "return":
        if error is not None:
            fail("R2", f"{story}: raised {type(error).__name__}: {error}, expected it to return "
                       f"fn's result")
        if result is not probe.returned[-1]:
            fail("R2", f"{story}: returned {result!r}, not the value fn returned")
        return
    expected = probe.raised[-1]
    if error is None:
        fail(code, f"{story}: returned {result!r}, expected it to raise the "
                   f"{type(expected).__name__} from fn's last call")
    if error is not expected:
        fail(code, f"{story}: raised {type(error).__name__}({error}), expected the very "
                   f"{type(expected).__name__} object fn raised on its last call ({expected}), "
                   f"not a new exception")


@pytest.mark.points(5)
def test_retry_attempts_and_last_error(lab):
    """Retry makes at most max_attempts calls and re-raises the last error

    For generated numbers of failures before a success: how many times fn is called, how many
    times sleep is called (never after the last attempt), the result returned or the very
    exception object re-raised; also the defaults and max_attempts < 1. Handout: section 4,
    rules R2, R3, R5."""
    # The defaults: max_attempts=3, retry_on=(Exception,).
    check_script(lab, ["ok"])
    check_script(lab, [Fatal])
    check_script(lab, [Fatal, Fatal, "ok"])
    retry = require(lab, "retry_with_backoff", "function")
    for bad in (0, -1):
        probe = Probe(["ok"])
        try:
            retry(probe, max_attempts=bad, sleep=RecordingSleep(), rng=random.Random(0))
        except ValueError:
            pass
        except NotImplementedError:
            raise
        except Exception as err:
            fail("R2", f"retry_with_backoff(fn, max_attempts={bad}) raised "
                       f"{type(err).__name__}, expected ValueError")
        else:
            fail("R2", f"retry_with_backoff(fn, max_attempts={bad}) did not raise ValueError")
        if probe.calls:
            fail("R2", f"retry_with_backoff(fn, max_attempts={bad}) called fn before refusing")

    @SETTINGS
    @given(max_attempts=st.integers(1, 6), failures=st.integers(0, 7),
           error=st.sampled_from([Transient, TransientTimeout]),
           base_delay=st.sampled_from([0.0, 0.1, 1.0]), max_delay=st.sampled_from([0.5, 10.0]))
    def generated(max_attempts, failures, error, base_delay, max_delay):
        check_script(lab, [error] * failures + ["ok"], max_attempts=max_attempts,
                     base_delay=base_delay, max_delay=max_delay, retry_on=(Transient,),
                     rng=random.Random(failures))

    generated()


OUTCOMES = st.sampled_from(["ok", Transient, Fatal])


class Stop(BaseException):
    """Not an Exception (like KeyboardInterrupt): the default retry_on must not catch it."""


@pytest.mark.points(3)
def test_retry_only_retryable(lab):
    """Retry never retries an exception outside retry_on

    Generated scripts mix retryable errors, non-retryable errors and successes: a
    non-retryable error must propagate at once, with no sleep and no further call.
    Handout: section 4, rule R4."""
    check_script(lab, [Fatal, "ok"], max_attempts=3, retry_on=(Transient,))
    check_script(lab, [Transient, "ok"], max_attempts=3, retry_on=())
    check_script(lab, [Stop, "ok"], max_attempts=3)

    @SETTINGS
    @given(script=st.lists(OUTCOMES, min_size=1, max_size=6), max_attempts=st.integers(1, 6))
    def generated(script, max_attempts):
        check_script(lab, script, max_attempts=max_attempts, retry_on=(Transient,),
                     base_delay=0.5, max_delay=2.0)

    generated()


def ceiling(attempt: int, base_delay: float, max_delay: float) -> float:
    return min(max_delay, base_delay * 2 ** attempt)


def check_delay(delay, attempt: int, base_delay: float, max_delay: float, where: str,
                code: str = "R1") -> float:
    """Fails unless 0 <= delay <= the ceiling; returns delay / ceiling."""
    top = ceiling(attempt, base_delay, max_delay)
    if not isinstance(delay, (int, float)) or not -EPSILON <= delay <= top + EPSILON:
        fail(code, f"{where} gave the delay {delay!r} for attempt {attempt}, outside "
                   f"[0, min(max_delay={max_delay:g}, base_delay={base_delay:g} * 2**{attempt})] "
                   f"= [0, {top:g}]")
    return delay / top if top else 0.0


@pytest.mark.points(4)
def test_backoff_full_jitter_under_cap(lab):
    """Backoff delays use full jitter under the cap

    backoff_delay and the delays retry_with_backoff sleeps stay within
    [0, min(max_delay, base_delay * 2**attempt)], spread over that whole range (not always the
    top, not half of it), and come from the rng given (the same seed gives the same delays).
    Handout: section 4, rules R1, R3."""
    backoff = require(lab, "backoff_delay", "function")
    fractions = []
    for base_delay, max_delay in ((0.1, 10.0), (1.0, 5.0), (0.25, 0.25), (2.0, 1000.0)):
        for attempt in range(13):
            rng = random.Random(attempt)
            where = f"backoff_delay({attempt}, {base_delay:g}, {max_delay:g}, rng)"
            draws = [check_delay(backoff(attempt, base_delay, max_delay, rng), attempt,
                                 base_delay, max_delay, where) for _ in range(50)]
            if min(draws) > 0.25 or max(draws) < 0.75:
                top = ceiling(attempt, base_delay, max_delay)
                fail("R1", f"50 calls of {where} gave delays from {min(draws):.2f} to "
                           f"{max(draws):.2f} times the ceiling {top:g}; full jitter draws "
                           f"uniformly from the whole range [0, ceiling]")
            fractions += draws
    mean = sum(fractions) / len(fractions)
    if not 0.45 <= mean <= 0.55:
        fail("R1", f"over {len(fractions)} delays the mean is {mean:.2f} times the ceiling, "
                   f"expected about 0.5 for a uniform draw from [0, ceiling] (full jitter)")
    if backoff(3, 0.0, 10.0, random.Random(0)) != 0:
        fail("R1", "backoff_delay(3, base_delay=0, ...) is not 0")
    first = [backoff(a, 1.0, 60.0, random.Random(7)) for a in range(8)]
    again = [backoff(a, 1.0, 60.0, random.Random(7)) for a in range(8)]
    if first != again:
        fail("R1", "two rngs seeded alike gave different backoff_delay values: the draw must "
                   "come from the rng argument, not from the random module or the clock")
    try:
        backoff(-1, 1.0, 10.0, random.Random(0))
    except ValueError:
        pass
    else:
        fail("R1", "backoff_delay(-1, ...) did not raise ValueError")

    # The delays retry_with_backoff sleeps: attempt numbers from 0, the cap, the rng.
    retry_fractions = []
    for seed in range(20):
        delays = []
        for _ in range(2):
            probe = Probe([Transient])
            _, error, sleep = run_retry(lab, probe, max_attempts=9, base_delay=1.0,
                                        max_delay=50.0, rng=random.Random(seed))
            delays.append(sleep.delays)
        if delays[0] != delays[1]:
            fail("R3", f"retry_with_backoff with rng=random.Random({seed}) slept {delays[0]} "
                       f"the first time and {delays[1]} the second: the delays must come "
                       f"from the rng argument")
        if len(delays[0]) != 8:
            fail("R5" if len(delays[0]) > 8 else "R3",
                 f"retry_with_backoff(fn, max_attempts=9) on an always failing fn slept "
                 f"{len(delays[0])} times, expected 8")
        where = (f"retry_with_backoff(max_attempts=9, base_delay=1, max_delay=50, "
                 f"rng=random.Random({seed})), sleep number {{}},")
        retry_fractions += [check_delay(d, i, 1.0, 50.0, where.format(i + 1), "R3")
                            for i, d in enumerate(delays[0])]
    mean = sum(retry_fractions) / len(retry_fractions)
    if not 0.35 <= mean <= 0.65:
        fail("R3", f"retry_with_backoff's {len(retry_fractions)} delays average {mean:.2f} "
                   f"times their ceiling; full jitter draws uniformly from [0, ceiling]")
