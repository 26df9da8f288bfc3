"""A circuit breaker over an injected clock. Handout: assignments/lab0-resilience.md, section 3.

The contract, rule by rule (the graders check every one of them):

B1  ``CircuitBreaker(failure_threshold=5, reset_timeout=30.0, clock=time.monotonic)``.
    ``failure_threshold`` is an int >= 1 and ``reset_timeout`` is > 0 seconds, otherwise
    ``ValueError``. A new breaker is closed, with no failures counted. Read the time only by
    calling ``self.clock()``.
B2  Closed: ``allow_request()`` is True. ``record_failure()`` adds one to the count of
    *consecutive* failures; ``record_success()`` sets it back to 0. When the count reaches
    ``failure_threshold`` the breaker opens, and ``opened_at = clock()``.
B3  Open, while ``clock() < opened_at + reset_timeout``: ``allow_request()`` is False and
    ``call()`` raises ``CircuitOpenError(retry_at=opened_at + reset_timeout)`` without
    running fn.
B4  From ``clock() >= opened_at + reset_timeout`` on (the very instant counts), ``state``
    reads "half_open", and the next ``allow_request()`` admits a trial call: it returns True.
B5  Half-open admits exactly ONE trial call. Until its outcome is recorded, ``allow_request()``
    is False and ``call()`` raises ``CircuitOpenError(retry_at=None)``.
B6  The trial's outcome decides: ``record_success()`` closes the breaker (count 0);
    ``record_failure()`` opens it again with a new ``opened_at = clock()``.
B7  ``record_success()`` / ``record_failure()`` while open (before the deadline, or after it
    while no trial has been admitted) are stale outcomes: they change nothing.
B8  ``call(fn, *args, **kwargs)``: if ``allow_request()`` is False, raise CircuitOpenError
    (as in B3/B5). Otherwise run ``fn(*args, **kwargs)`` once. If it returns, call
    ``record_success()`` and return its value; if it raises an ``Exception``, call
    ``record_failure()`` and re-raise that same exception object.

Reading ``state`` must change nothing: it only reports. The one state change that happens
without a recorded outcome is admitting the trial (B4), inside ``allow_request()``.
"""

from __future__ import annotations

import time
from typing import Any, Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    """Raised by ``CircuitBreaker.call`` when the breaker refuses a call. Given: use it as is.

    ``retry_at`` is the clock reading from which the breaker half-opens (``opened_at +
    reset_timeout``), or None when it is half-open and its one trial call is still in flight.
    """

    def __init__(self, retry_at: float | None = None):
        self.retry_at = retry_at
        if retry_at is None:
            text = "circuit half-open: the one trial call is still in flight, call refused"
        else:
            text = f"circuit open: call refused; it half-opens at t={retry_at:.3f}"
        super().__init__(text)


class CircuitBreaker:
    # ------------------------------------------------------------------ construction

    def __init__(self, failure_threshold: int = 5, reset_timeout: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        # TODO: check the settings (rule B1: ValueError), then add the fields your breaker
        # needs, e.g. the state, the count of consecutive failures, opened_at, and whether a
        # half-open trial call is in flight.
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.clock = clock

    # ------------------------------------------------------------------ queries

    @property
    def state(self) -> str:
        """CLOSED, OPEN or HALF_OPEN ("closed", "open", "half_open"). Changes nothing."""
        raise NotImplementedError("CircuitBreaker.state: report closed/open/half_open; an open "
                                  "breaker reads half_open once clock() >= opened_at + "
                                  "reset_timeout (rules B1-B4)")

    # ------------------------------------------------------------------ admitting calls

    def allow_request(self) -> bool:
        """May a call go out now? (rules B2-B5)"""
        raise NotImplementedError("CircuitBreaker.allow_request: True when closed, False when "
                                  "open, True for exactly one trial call when half-open "
                                  "(rules B2-B5)")

    # ------------------------------------------------------------------ outcomes

    def record_success(self) -> None:
        """The call that was allowed succeeded (rules B2, B6, B7)."""
        raise NotImplementedError("CircuitBreaker.record_success: reset the failure count when "
                                  "closed; close the breaker after a half-open trial "
                                  "(rules B2, B6, B7)")

    def record_failure(self) -> None:
        """The call that was allowed failed (rules B2, B6, B7)."""
        raise NotImplementedError("CircuitBreaker.record_failure: count consecutive failures "
                                  "and open at the threshold; reopen after a failed trial "
                                  "(rules B2, B6, B7)")

    # ------------------------------------------------------------------ the wrapper

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` through the breaker (rule B8)."""
        raise NotImplementedError("CircuitBreaker.call: allow_request() or raise "
                                  "CircuitOpenError; run fn; record its outcome; return its "
                                  "value or re-raise its exception (rule B8)")
