"""Circuit breaker, fixed scenarios: each test walks through one part of the contract with a
fake clock, so a failure points at one rule. Handout: section 3 (rules B1-B8)."""

from __future__ import annotations

import pytest

from labkit.grading import require

from .fakes import Boom, FakeClock
from .model import rule


def fail(code: str, what: str) -> None:
    raise AssertionError(f"Contract {rule(code)} was broken: {what}.")


def make(lab, clock: FakeClock, **settings):
    Breaker = require(lab, "CircuitBreaker")
    return Breaker(clock=clock, **settings)


def expect_state(breaker, clock: FakeClock, expected: str, code: str, story: str) -> None:
    got = breaker.state
    if got != expected:
        fail(code, f"{story}; at t={clock.now:g} state is {got!r}, expected {expected!r}")


def expect_refused(lab, breaker, clock: FakeClock, retry_at: float | None, code: str,
                   story: str) -> None:
    """allow_request() is False and call() raises CircuitOpenError(retry_at) without calling fn."""
    OpenError = require(lab, "CircuitOpenError")
    if breaker.allow_request():
        fail(code, f"{story}; at t={clock.now:g} allow_request() returned True, expected False")
    calls = []
    try:
        breaker.call(lambda: calls.append(1))
    except OpenError as err:
        got = getattr(err, "retry_at", "missing")
        if got != retry_at:
            fail(code, f"{story}; at t={clock.now:g} call() raised CircuitOpenError with "
                       f"retry_at={got!r}, expected retry_at={retry_at!r}")
    else:
        fail(code, f"{story}; at t={clock.now:g} call() returned instead of raising "
                   f"CircuitOpenError")
    if calls:
        fail(code, f"{story}; at t={clock.now:g} call() ran fn although it refused the call")


def fail_once(lab, breaker, clock: FakeClock, code: str = "B2", story: str = "") -> Boom:
    """call() with a failing fn that the contract says must run; checks that call() re-raises
    fn's own exception (rule B8) and returns it."""
    boom = Boom("service down")
    ran = []

    def fn():
        ran.append(clock.now)
        raise boom

    try:
        breaker.call(fn)
    except Boom as err:
        if err is not boom:
            fail("B8", "call() raised a different Boom object than the one fn raised")
        return err
    except require(lab, "CircuitOpenError") as err:
        fail(code, f"{story or 'a closed breaker'}; at t={clock.now:g} call() refused the call "
                   f"with CircuitOpenError ({err}), expected it to run fn")
    except NotImplementedError:
        raise
    except Exception as err:
        if not ran:   # say what happened: fn never ran, so this is not about re-raising
            fail(code, f"{story or 'a closed breaker'}; at t={clock.now:g} call() raised "
                       f"{type(err).__name__}: {err} without running fn; expected it to run fn "
                       f"(which raises Boom) and re-raise that")
        fail("B8", f"fn raised Boom but call() raised {type(err).__name__}: {err}; call() "
                   f"must re-raise fn's own exception")
    if not ran:
        fail(code, f"{story or 'a closed breaker'}; at t={clock.now:g} call() returned without "
                   f"running fn; expected it to run fn (which raises Boom) and re-raise that")
    fail("B8", "fn raised Boom but call() returned normally; call() must re-raise it")


def succeed_once(lab, breaker, clock: FakeClock, story: str, code: str = "B2") -> None:
    """call() with a succeeding fn that the contract says must run."""
    calls = []
    value = object()

    def fn():
        calls.append(1)
        return value

    try:
        result = breaker.call(fn)
    except require(lab, "CircuitOpenError") as err:
        fail(code, f"{story}; at t={clock.now:g} call() refused the call with "
                   f"CircuitOpenError ({err}), expected it to run fn")
    if result is not value or len(calls) != 1:
        fail("B8", f"{story}; call() ran fn {len(calls)} time(s) and returned {result!r}, "
                   f"expected one run and fn's return value")


@pytest.mark.points(4)
def test_breaker_starts_closed(lab):
    """A new breaker is closed, passes calls through and validates its settings

    Checks the default settings (5 failures, 30 s), that call() forwards arguments and the
    return value, re-raises fn's own exception, and that a threshold below 1 or a reset
    timeout <= 0 raises ValueError. Handout: section 3, rules B1, B2, B8."""
    clock = FakeClock(100.0)
    breaker = make(lab, clock, failure_threshold=3, reset_timeout=10.0)
    expect_state(breaker, clock, "closed", "B1", "a new breaker")
    for _ in range(3):
        if not breaker.allow_request():
            fail("B2", "a new (closed) breaker's allow_request() returned False")
    seen = []
    value = object()

    def fn(*args, **kwargs):
        seen.append((args, kwargs))
        return value

    if breaker.call(fn, 1, 2, key="k") is not value:
        fail("B8", "call(fn, 1, 2, key='k') did not return fn's return value")
    if seen != [((1, 2), {"key": "k"})]:
        fail("B8", f"call(fn, 1, 2, key='k') called fn as {seen}, expected exactly one call "
                   f"fn(1, 2, key='k')")
    fail_once(lab, breaker, clock)
    expect_state(breaker, clock, "closed", "B2", "after one failure with failure_threshold=3")

    # Defaults: failure_threshold=5, reset_timeout=30.0.
    Breaker = require(lab, "CircuitBreaker")
    clock = FakeClock(0.0)
    breaker = Breaker(clock=clock)
    for _ in range(4):
        fail_once(lab, breaker, clock)
    expect_state(breaker, clock, "closed", "B2",
                 "with the default failure_threshold (5), after 4 failures")
    fail_once(lab, breaker, clock)
    expect_state(breaker, clock, "open", "B2",
                 "with the default failure_threshold (5), after 5 failures")
    clock.now = 29.75
    expect_state(breaker, clock, "open", "B3", "with the default reset_timeout (30 s)")
    clock.now = 30.0
    expect_state(breaker, clock, "half_open", "B4", "with the default reset_timeout (30 s)")
    if Breaker().state != "closed":
        fail("B1", "CircuitBreaker() with no arguments (the real clock) is not closed")

    for bad in ({"failure_threshold": 0}, {"failure_threshold": -2}, {"reset_timeout": 0},
                {"reset_timeout": -1.0}):
        try:
            Breaker(clock=FakeClock(), **bad)
        except ValueError:
            continue
        except NotImplementedError:
            raise
        except Exception as err:
            raise AssertionError(f"CircuitBreaker({_kwargs(bad)}) raised {type(err).__name__}, "
                                 f"expected ValueError (rule B1: failure_threshold >= 1, "
                                 f"reset_timeout > 0)") from None
        raise AssertionError(f"CircuitBreaker({_kwargs(bad)}) was accepted, expected "
                             f"ValueError (rule B1: failure_threshold >= 1, reset_timeout > 0)")


def _kwargs(settings: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in settings.items())


@pytest.mark.points(5)
def test_opens_after_consecutive_failures(lab):
    """The breaker opens after failure_threshold consecutive failures

    A success in between starts the count again; once open, calls are refused without running
    fn, and CircuitOpenError says when the breaker half-opens. Handout: section 3, rules B2,
    B3."""
    clock = FakeClock(0.0)
    breaker = make(lab, clock, failure_threshold=3, reset_timeout=10.0)
    story = "failure_threshold=3: fail, fail, succeed, fail, fail (2 consecutive failures)"
    fail_once(lab, breaker, clock, "B2", story)
    fail_once(lab, breaker, clock, "B2", story)
    succeed_once(lab, breaker, clock, story)
    fail_once(lab, breaker, clock, "B2", story)
    clock.now = 2.0
    fail_once(lab, breaker, clock, "B2", story)
    expect_state(breaker, clock, "closed", "B2",
                 story + ": a success must reset the count of consecutive failures")
    clock.now = 4.0
    fail_once(lab, breaker, clock, "B2", story)
    story = "failure_threshold=3, reset_timeout=10: a third consecutive failure at t=4"
    expect_state(breaker, clock, "open", "B2", story)
    expect_refused(lab, breaker, clock, 14.0, "B3", story)
    clock.now = 13.75
    expect_refused(lab, breaker, clock, 14.0, "B3", story)
    expect_state(breaker, clock, "open", "B3", story)

    # The same through allow_request()/record_*() (the event-driven form of lab 4).
    clock = FakeClock(50.0)
    breaker = make(lab, clock, failure_threshold=2, reset_timeout=5.0)
    story = "failure_threshold=2: record_failure(), record_success(), record_failure()"
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    expect_state(breaker, clock, "closed", "B2", story)
    breaker.record_failure()
    story = "failure_threshold=2: a second consecutive record_failure() at t=50"
    expect_state(breaker, clock, "open", "B2", story)
    expect_refused(lab, breaker, clock, 55.0, "B3", story)

    clock = FakeClock(0.0)
    breaker = make(lab, clock, failure_threshold=1, reset_timeout=5.0)
    fail_once(lab, breaker, clock)
    expect_state(breaker, clock, "open", "B2", "failure_threshold=1: one failure")


@pytest.mark.points(4)
def test_reset_timeout_boundary(lab):
    """The breaker half-opens exactly when reset_timeout has passed

    Open while clock < opened_at + reset_timeout, half-open from clock == opened_at +
    reset_timeout on (not one tick later); reading state changes nothing. Handout: section 3,
    rules B3, B4."""
    for opened_at, reset_timeout in ((0.0, 10.0), (1.0, 2.5), (7.25, 0.5), (100.0, 30.0)):
        clock = FakeClock(opened_at)
        breaker = make(lab, clock, failure_threshold=1, reset_timeout=reset_timeout)
        fail_once(lab, breaker, clock)
        deadline = opened_at + reset_timeout
        story = (f"reset_timeout={reset_timeout:g}, opened at t={opened_at:g} (half-opens at "
                 f"t={deadline:g})")
        clock.now = deadline - 0.25
        for _ in range(2):
            expect_state(breaker, clock, "open", "B3", story)
        expect_refused(lab, breaker, clock, deadline, "B3", story)
        clock.now = deadline
        for _ in range(2):
            expect_state(breaker, clock, "half_open", "B4", story)
        if not breaker.allow_request():
            fail("B4", f"{story}; at t={clock.now:g} allow_request() returned False, expected "
                       f"True (the trial call)")


@pytest.mark.points(5)
def test_half_open_admits_one_trial(lab):
    """Half-open admits exactly one trial call, and its outcome decides

    While the trial is in flight every other request is refused; a successful trial closes the
    breaker, a failed one opens it again for a full reset_timeout from the failure. Handout:
    section 3, rules B4, B5, B6."""
    clock = FakeClock(0.0)
    breaker = make(lab, clock, failure_threshold=1, reset_timeout=10.0)
    fail_once(lab, breaker, clock)
    clock.now = 10.0
    story = "opened at t=0 with reset_timeout=10, trial admitted by allow_request() at t=10"
    if not breaker.allow_request():
        fail("B4", f"{story}: allow_request() returned False, expected True")
    expect_state(breaker, clock, "half_open", "B5", story)
    for t in (10.0, 12.0, 40.0):
        clock.now = t
        expect_refused(lab, breaker, clock, None, "B5", story + ", outcome not recorded yet")
    breaker.record_success()
    story += ", then record_success() at t=40"
    expect_state(breaker, clock, "closed", "B6", story)
    for _ in range(3):
        if not breaker.allow_request():
            fail("B6", f"{story}; allow_request() returned False on the closed breaker")

    # A failed trial (through call) opens the breaker again, from the time of the failure.
    clock.now = 50.0
    fail_once(lab, breaker, clock)
    clock.now = 60.0
    fail_once(lab, breaker, clock, "B4", "opened at t=50 with reset_timeout=10, a trial call "
                                         "at t=60")
    story = ("opened at t=50 with reset_timeout=10, the trial call at t=60 failed: open again "
             "until t=70")
    expect_state(breaker, clock, "open", "B6", story)
    expect_refused(lab, breaker, clock, 70.0, "B6", story)
    clock.now = 69.75
    expect_refused(lab, breaker, clock, 70.0, "B6", story)
    clock.now = 70.0
    succeed_once(lab, breaker, clock, story + ", a new trial call at t=70", "B6")
    expect_state(breaker, clock, "closed", "B6", story + ", then a trial call at t=70 succeeded")
