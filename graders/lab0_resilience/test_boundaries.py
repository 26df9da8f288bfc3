"""The edges of the contract: exceptions that are not Exceptions, exceptions of the breaker's
own kind, results that look like failures, settings of the wrong type or value, clock values
where float arithmetic rounds, and attempt numbers too large for a float.
Handout: sections 3 and 4 (rules B1, B4, B8, R1-R5)."""

from __future__ import annotations

import math
import random

import pytest

from labkit.grading import require

from .fakes import Boom, FakeClock, Probe, RecordingSleep, Transient
from .model import rule


def fail(code: str, what: str) -> None:
    raise AssertionError(f"Contract {rule(code)} was broken: {what}.")


class Stop(BaseException):
    """Not an Exception (like KeyboardInterrupt or SystemExit)."""


class Cancelled(BaseException):
    """Another BaseException, put in retry_on by the graders (like asyncio.CancelledError)."""


def breaker(lab, clock: FakeClock, **settings):
    return require(lab, "CircuitBreaker")(clock=clock, **settings)


def raising(exc: BaseException):
    def fn(*args, **kwargs):
        raise exc
    return fn


def call_expecting(b, fn, exc: BaseException, story: str) -> None:
    """call(fn) must re-raise ``exc`` itself."""
    try:
        b.call(fn)
    except NotImplementedError:
        raise
    except BaseException as err:  # noqa: BLE001 - the error is what is being checked
        if err is not exc:
            fail("B8", f"{story}: call() raised {type(err).__name__}({err}), expected the very "
                       f"{type(exc).__name__} fn raised")
        return
    fail("B8", f"{story}: call() returned, expected it to re-raise fn's {type(exc).__name__}")


@pytest.mark.points(4)
def test_breaker_boundaries(lab):
    """The breaker at the edges of its contract

    A BaseException that is not an Exception (like KeyboardInterrupt) passes through call()
    and records nothing, in closed and in half-open state; a slow failing call opens the
    breaker at the clock reading when it failed; a CircuitOpenError raised by fn (a
    nested breaker) is an ordinary failure; fn returning None, 0 or False is a success;
    thresholds and timeouts of the wrong type or value (2.5, "3", None, NaN) are refused; and
    a caller told to come back at retry_at finds the breaker half-open at that very reading,
    for clock values where float sums round (0.7 + 0.1, ...). Handout: section 3, rules B1,
    B4, B8."""
    OpenError = require(lab, "CircuitOpenError")

    # A BaseException through call(): re-raised, nothing recorded.
    clock = FakeClock(0.0)
    b = breaker(lab, clock, failure_threshold=2, reset_timeout=5.0)
    for _ in range(3):
        stop = Stop("interrupted")
        call_expecting(b, raising(stop), stop, "fn raised a BaseException (not an Exception)")
    boom = Boom("down")
    call_expecting(b, raising(boom), boom, "fn raised Boom")
    if b.state != "closed":
        fail("B8", f"three calls of an fn raising a BaseException (not an Exception), then one "
                   f"raising Boom, with failure_threshold=2: state is {b.state!r}, expected "
                   f"'closed' (a BaseException is not a failure: nothing is recorded)")
    boom = Boom("down again")
    call_expecting(b, raising(boom), boom, "fn raised Boom")
    if b.state != "open":
        fail("B2", f"two calls of a failing fn with failure_threshold=2: state is {b.state!r}")
    clock.now = 5.0
    stop = Stop("interrupted")
    call_expecting(b, raising(stop), stop, "the half-open trial raised a BaseException")
    if b.state != "half_open" or b.allow_request():
        fail("B8", f"the half-open trial raised a BaseException (not an Exception): state "
                   f"{b.state!r}; expected 'half_open' with the trial still in flight (nothing "
                   f"recorded, so allow_request() refuses)")

    # fn raising CircuitOpenError (a breaker inside): an ordinary failure.
    clock = FakeClock(0.0)
    b = breaker(lab, clock, failure_threshold=1, reset_timeout=5.0)
    inner = OpenError(3.0)
    call_expecting(b, raising(inner), inner, "fn raised a CircuitOpenError of an inner breaker")
    if b.state != "open":
        fail("B8", f"fn raised CircuitOpenError (an inner breaker refused) with "
                   f"failure_threshold=1: state is {b.state!r}, expected 'open' (it is an "
                   f"Exception like any other: a failure)")

    # A slow call: the clock moves while fn runs; opened_at is read when the outcome is.
    for threshold in (1, 2):
        clock = FakeClock(10.0)
        b = breaker(lab, clock, failure_threshold=threshold, reset_timeout=5.0)

        def slow_failure():
            clock.advance(3.0)
            raise Boom("timed out after 3 s")

        for _ in range(threshold):
            try:
                b.call(slow_failure)
            except Boom:
                pass
        try:
            b.call(lambda: None)
        except OpenError as err:
            retry_at = getattr(err, "retry_at", None)
        else:
            fail("B2", f"{threshold} failing call(s) with failure_threshold={threshold}: the next "
                       f"call() was not refused")
        if retry_at != clock.now + 5.0:
            fail("B2", f"with failure_threshold={threshold}, {threshold} call(s) of an fn that "
                       f"takes 3 s and fails; the last one failed at t={clock.now:g}, so the "
                       f"breaker opened then and half-opens at t={clock.now + 5.0:g}, but "
                       f"CircuitOpenError.retry_at is {retry_at!r} (opened_at = clock() when the "
                       f"failure is recorded, after fn returned, not when the call began)")

    # Results that look like failures are successes.
    for value in (None, 0, False, ""):
        clock = FakeClock(0.0)
        b = breaker(lab, clock, failure_threshold=2, reset_timeout=5.0)
        try:
            b.call(raising(Boom("one failure")))
        except Boom:
            pass
        got = b.call(lambda v=value: v)
        try:
            b.call(raising(Boom("another failure")))
        except Boom:
            pass
        if got is not value or b.state != "closed":
            fail("B8", f"fail, then an fn returning {value!r}, then fail again with "
                       f"failure_threshold=2: call() returned {got!r} and the state is "
                       f"{b.state!r}; expected {value!r} and 'closed' (an fn that returns, "
                       f"whatever it returns, succeeded: the count restarts)")

    # Settings of the wrong type or value.
    Breaker = require(lab, "CircuitBreaker")
    for bad, allowed in ((dict(failure_threshold=2.5), (ValueError,)),
                         (dict(failure_threshold=1.0), (ValueError,)),
                         (dict(failure_threshold="3"), (ValueError, TypeError)),
                         (dict(failure_threshold=None), (ValueError, TypeError)),
                         (dict(reset_timeout=math.nan), (ValueError,)),
                         (dict(reset_timeout=-math.inf), (ValueError,)),
                         (dict(reset_timeout=None), (ValueError, TypeError)),
                         (dict(reset_timeout="30"), (ValueError, TypeError))):
        shown = ", ".join(f"{k}={v!r}" for k, v in bad.items())
        try:
            Breaker(clock=FakeClock(), **bad)
        except allowed:
            continue
        except NotImplementedError:
            raise
        except Exception as err:
            fail("B1", f"CircuitBreaker({shown}) raised {type(err).__name__}: {err}; expected "
                       f"{' or '.join(e.__name__ for e in allowed)} (failure_threshold is an "
                       f"int >= 1, reset_timeout a number > 0)")
        fail("B1", f"CircuitBreaker({shown}) was accepted; expected "
                   f"{' or '.join(e.__name__ for e in allowed)} (failure_threshold is an int "
                   f">= 1, reset_timeout a number > 0)")

    # retry_at and the half-open reading agree, where float sums round.
    pairs = [(o / 10, r / 10) for o in range(1, 30) for r in range(1, 12)]
    pairs += [(1e9 + 0.3, 0.1), (123456.789, 0.001), (0.1 + 0.2, 0.3)]
    for opened_at, reset_timeout in pairs:
        clock = FakeClock(opened_at)
        b = breaker(lab, clock, failure_threshold=1, reset_timeout=reset_timeout)
        try:
            b.call(raising(Boom("down")))
        except Boom:
            pass
        try:
            b.call(lambda: None)
        except OpenError as err:
            retry_at = getattr(err, "retry_at", None)
        else:
            fail("B3", f"opened at t={opened_at!r}: the next call() was not refused")
        if retry_at != opened_at + reset_timeout:
            fail("B3", f"opened at t={opened_at!r} with reset_timeout={reset_timeout!r}: "
                       f"CircuitOpenError.retry_at is {retry_at!r}, expected opened_at + "
                       f"reset_timeout = {opened_at + reset_timeout!r}")
        clock.now = retry_at
        if b.state != "half_open" or not b.allow_request():
            fail("B4", f"opened at t={opened_at!r} with reset_timeout={reset_timeout!r}, the "
                       f"breaker said to come back at retry_at={retry_at!r}; at that reading it "
                       f"is {b.state!r}, expected 'half_open' admitting a trial (compare "
                       f"clock() >= opened_at + reset_timeout: clock() - opened_at rounds "
                       f"differently)")


def retry(lab, fn, **options):
    """retry_with_backoff(fn, ...) with a recording sleep; returns (result, error, sleep)."""
    run = require(lab, "retry_with_backoff", "function")
    sleep = RecordingSleep()
    options.setdefault("rng", random.Random(3))
    try:
        return run(fn, sleep=sleep, **options), None, sleep
    except NotImplementedError:
        raise
    except BaseException as err:  # noqa: BLE001 - the error is what is being checked
        return None, err, sleep


@pytest.mark.points(4)
def test_retry_boundaries(lab):
    """Retry at the edges of its contract

    A BaseException subclass named in retry_on (like asyncio.CancelledError) is retried like
    any other; with retry_on=(BaseException,) so is a KeyboardInterrupt-like one; an fn that
    returns None, 0 or False has succeeded (no retry); 1200 attempts of an always failing fn
    sleep 1199 times within [0, max_delay] although base_delay * 2**attempt overflows a
    float; max_delay below base_delay caps the very first delay. Handout: section 4, rules
    R1-R5."""
    # BaseException subclasses in retry_on are retried.
    for retry_on in ((Cancelled,), (BaseException,), (Transient, Cancelled)):
        probe = Probe([Cancelled, Cancelled, "ok"])
        names = ", ".join(t.__name__ for t in retry_on)
        result, error, sleep = retry(lab, probe, max_attempts=4, retry_on=retry_on)
        if error is not None or probe.calls != 3 or len(sleep.delays) != 2:
            fail("R3", f"retry_with_backoff(fn, max_attempts=4, retry_on=({names},)) on an fn "
                       f"that raises Cancelled (a BaseException, not an Exception) twice, then "
                       f"returns: fn was called {probe.calls} time(s) with {len(sleep.delays)} "
                       f"sleep(s) and it "
                       f"{'raised ' + type(error).__name__ if error else 'returned'}; expected "
                       f"3 calls, 2 sleeps and fn's value (retry_on decides, whatever the type)")
        if result is not probe.returned[-1]:
            fail("R2", f"retry_with_backoff(..., retry_on=({names},)) returned {result!r}, not "
                       f"fn's value")
    probe = Probe([Cancelled])
    _, error, sleep = retry(lab, probe, max_attempts=3, retry_on=(Cancelled,))
    if error is not probe.raised[-1] or len(sleep.delays) != 2:
        fail("R5", f"retry_with_backoff(fn, max_attempts=3, retry_on=(Cancelled,)) on an fn that "
                   f"always raises Cancelled: raised {type(error).__name__ if error else None} "
                   f"after {len(sleep.delays)} sleep(s); expected fn's last Cancelled itself "
                   f"after 2 sleeps")

    # Results that look like failures are results.
    for value in (None, 0, False, "", []):
        calls = []

        def fn(v=value):
            calls.append(1)
            return v

        result, error, sleep = retry(lab, fn, max_attempts=3)
        if error is not None or result is not value or len(calls) != 1 or sleep.delays:
            fail("R2", f"retry_with_backoff(fn, max_attempts=3) on an fn that returns "
                       f"{value!r}: {len(calls)} call(s), {len(sleep.delays)} sleep(s), "
                       f"{'raised ' + type(error).__name__ if error else 'returned'} "
                       f"{'' if error else repr(result)}; expected one call, no sleep and "
                       f"{value!r} (an fn that returns has succeeded, whatever it returns)")

    # Attempt numbers too large for a float.
    probe = Probe([Transient])
    _, error, sleep = retry(lab, probe, max_attempts=1200, base_delay=0.5, max_delay=2.0,
                            rng=random.Random(5))
    if error is not probe.raised[-1]:
        fail("R1", f"retry_with_backoff(fn, max_attempts=1200, base_delay=0.5, max_delay=2) on "
                   f"an always failing fn raised {type(error).__name__}: {error} after "
                   f"{probe.calls} call(s); expected 1200 calls and fn's last Transient (for "
                   f"attempt >= 1024, base_delay * 2**attempt is no float: the cap wins)")
    bad = [(i, d) for i, d in enumerate(sleep.delays) if not 0 <= d <= 2.0]
    if len(sleep.delays) != 1199 or bad:
        fail("R1", f"retry_with_backoff(fn, max_attempts=1200, base_delay=0.5, max_delay=2): "
                   f"{len(sleep.delays)} sleeps (expected 1199)"
                   f"{f', attempt {bad[0][0]} slept {bad[0][1]!r}' if bad else ''}; every delay "
                   f"is within [0, max_delay]")
    if max(sleep.delays[100:]) < 1.0:
        fail("R1", "for attempts 100-1198 with max_delay=2 every delay was below 1: the draw is "
                   "from [0, max_delay] once the cap is reached")

    # The cap applies from the first delay on.
    probe = Probe([Transient])
    _, error, sleep = retry(lab, probe, max_attempts=30, base_delay=4.0, max_delay=0.5,
                            rng=random.Random(8))
    if len(sleep.delays) != 29 or any(not 0 <= d <= 0.5 for d in sleep.delays):
        fail("R1", f"retry_with_backoff(fn, max_attempts=30, base_delay=4, max_delay=0.5) slept "
                   f"{sleep.delays[:5]}...; every delay, the first included, is within "
                   f"[0, min(max_delay, base_delay * 2**attempt)] = [0, 0.5]")
