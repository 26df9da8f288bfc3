"""Circuit breaker against the contract model: Hypothesis generates sequences of clock
advances, calls and recorded outcomes, runs them on the student's breaker and on
``model.BreakerModel`` side by side, and compares after every step. A failure names the rule
that broke, shows what happened step by step, and Hypothesis prints the shortest sequence of
steps it found. Handout: section 3 (rules B1-B8)."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule, run_state_machine_as_test)

from labkit.grading import require
from labkit.strategies import grading_settings

from .fakes import Boom, FakeClock
from .model import BreakerModel
from .model import rule as rule_text

# Every time in these runs is a multiple of 0.25 s, so opened_at + reset_timeout is exact in
# floating point and "clock >= opened_at + reset_timeout" has one meaning.
RESET_TIMEOUTS = (1.0, 2.5, 30.0)
ADVANCES = (0.25, 0.5, 1.0, 2.5, 10.0)
MISSING = object()


def _open_before(self) -> bool:
    """The model is open and the clock is more than one tick before its deadline."""
    deadline = self.model.deadline()
    return deadline is not None and self.clock.now < deadline - 0.25


def _open_deadline_ahead(self) -> bool:
    deadline = self.model.deadline()
    return deadline is not None and self.clock.now < deadline


class BreakerContract(RuleBasedStateMachine):
    """Drives the student's CircuitBreaker and the model with the same steps."""

    def __init__(self, breaker_class, open_error):
        super().__init__()
        self.breaker_class = breaker_class
        self.open_error = open_error
        self.clock = FakeClock(0.0)
        self.story: list[str] = []   # one line per step, for the failure message
        self.last_rule = "B1"         # the rule that decided the last step's outcome

    # -------------------------------------------------------------- setup

    @initialize(failure_threshold=st.integers(1, 4), reset_timeout=st.sampled_from(RESET_TIMEOUTS))
    def create(self, failure_threshold, reset_timeout):
        self.model = BreakerModel(failure_threshold, reset_timeout)
        self.breaker = self.breaker_class(failure_threshold=failure_threshold,
                                          reset_timeout=reset_timeout, clock=self.clock)
        self.tell(f"CircuitBreaker(failure_threshold={failure_threshold}, "
                  f"reset_timeout={reset_timeout:g}, clock=a fake clock)")

    # -------------------------------------------------------------- the clock

    @rule(seconds=st.sampled_from(ADVANCES))
    def advance_clock(self, seconds):
        self.clock.advance(seconds)
        self.moved(f"the clock moves {seconds:g} s")

    @precondition(_open_deadline_ahead)
    @rule()
    def advance_to_reset_deadline(self):
        self.clock.now = self.model.deadline()
        self.moved("the clock moves to opened_at + reset_timeout exactly")

    @precondition(_open_before)
    @rule()
    def advance_to_just_before_deadline(self):
        self.clock.now = self.model.deadline() - 0.25
        self.moved("the clock moves to 0.25 s before opened_at + reset_timeout")

    def moved(self, line: str) -> None:
        self.last_rule = {"closed": "B2", "open": "B3"}.get(self.model.state(self.clock.now),
                                                             "B4")
        self.tell(line)

    # -------------------------------------------------------------- the event-driven API

    @rule()
    def allow_request(self):
        now = self.clock.now
        expected, code = self.model.allow(now)
        self.last_rule = code
        got = self.breaker.allow_request()
        self.tell(f"allow_request() -> {got!r}")
        if bool(got) != expected:
            self.broken(code, f"allow_request() returned {got!r}, expected {expected!r}")

    @rule()
    def record_success(self):
        self.breaker.record_success()
        code = self.last_rule = self.model.success(self.clock.now)
        self.tell("record_success()" + (" (stale: to be ignored)" if code == "B7" else ""))

    @rule()
    def record_failure(self):
        self.breaker.record_failure()
        code = self.last_rule = self.model.failure(self.clock.now)
        self.tell("record_failure()" + (" (stale: to be ignored)" if code == "B7" else ""))

    # -------------------------------------------------------------- call()

    @rule()
    def call_succeeding_fn(self):
        value = object()
        self.call(lambda *args, **kwargs: value, value, "a succeeding fn")

    @rule()
    def call_failing_fn(self):
        boom = Boom("service down")

        def fn(*args, **kwargs):
            raise boom

        self.call(fn, boom, "a failing fn")

    def call(self, body, outcome, what: str) -> None:
        """call(fn, 7, key="k") where fn runs ``body``; ``outcome`` is the value it returns or
        the exception it raises."""
        now = self.clock.now
        retry_at = self.model.retry_at()
        allowed, code = self.model.allow(now)
        self.last_rule = code
        calls = []

        def fn(*args, **kwargs):
            calls.append((args, kwargs))
            return body(*args, **kwargs)

        result, error = None, None
        try:
            result = self.breaker.call(fn, 7, key="k")
        except NotImplementedError:
            raise
        except Exception as err:
            error = err
        # What the contract says happens next: fn runs and its outcome is recorded.
        if allowed:
            record = self.model.failure if isinstance(outcome, Exception) else self.model.success
            self.last_rule = record(now)
        got = "returned" if error is None else (
            "CircuitOpenError" if isinstance(error, self.open_error) else
            f"raised {type(error).__name__}")
        self.tell(f"call({what}) -> {got} (fn ran {len(calls)} time(s))")

        if isinstance(error, self.open_error):
            if allowed:
                self.broken(code, f"call() raised CircuitOpenError ({error}), expected it to "
                                  f"run fn")
            if calls:
                self.broken(code, "call() ran fn and then raised CircuitOpenError; a refused "
                                  "call must not run fn")
            got = getattr(error, "retry_at", MISSING)
            if got is MISSING or got != retry_at:
                got = "no retry_at attribute" if got is MISSING else f"retry_at={got!r}"
                self.broken(code, f"call() raised CircuitOpenError with {got}, expected "
                                  f"retry_at={retry_at!r}")
            return
        if not allowed:
            self.broken(code, "call() ran fn, expected CircuitOpenError without running fn"
                        if calls else f"call() {got}, expected CircuitOpenError")
        if calls != [((7,), {"key": "k"})]:
            self.broken("B8", f"call(fn, 7, key='k') made the calls {calls}, expected exactly "
                              f"one call fn(7, key='k')")
        if isinstance(outcome, Exception):
            if error is None:
                self.broken("B8", "fn raised Boom but call() returned normally; it must "
                                  "re-raise fn's exception")
            if error is not outcome:
                self.broken("B8", f"fn raised Boom but call() raised {type(error).__name__}: "
                                  f"{error}; call() must re-raise the very exception fn raised")
        else:
            if error is not None:
                self.broken("B8", f"fn returned normally but call() raised "
                                  f"{type(error).__name__}: {error}")
            if result is not outcome:
                self.broken("B8", "call() did not return fn's return value")

    # -------------------------------------------------------------- after every step

    @invariant()
    def state_matches_model(self):
        got = self.breaker.state
        expected = self.model.state(self.clock.now)
        if got != expected:
            self.broken(self.last_rule, f"state is {got!r}, expected {expected!r}")

    # -------------------------------------------------------------- reporting

    def tell(self, line: str) -> None:
        self.story.append(f"t={self.clock.now:<7g} {line:<58} | model: "
                          f"{self.model.describe(self.clock.now)}")

    def broken(self, code: str, what: str) -> None:
        steps = "\n".join(f"  {i + 1:>2}. {line}" for i, line in enumerate(self.story))
        raise AssertionError(
            f"Contract {rule_text(code)} was broken at t={self.clock.now:g}: {what}.\n"
            f"What happened, step by step (the model column is what the contract says after "
            f"the step):\n{steps}")


SETTINGS = grading_settings(max_examples=200, stateful_step_count=25)


@pytest.mark.points(10)
def test_breaker_matches_model(lab):
    """The breaker behaves like the contract model on every sequence of steps

    Hypothesis runs hundreds of random sequences of clock advances, call() with succeeding and
    failing functions, allow_request() and record_success()/record_failure(), and compares the
    state, each answer, and whether fn ran against the contract model after every step.
    Handout: section 3, rules B1-B8."""
    breaker_class = require(lab, "CircuitBreaker")
    open_error = require(lab, "CircuitOpenError")
    run_state_machine_as_test(lambda: BreakerContract(breaker_class, open_error),
                              settings=SETTINGS)
