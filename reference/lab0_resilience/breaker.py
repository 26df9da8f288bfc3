"""A circuit breaker over an injected clock (handout section 3, rules B1-B8).

Three states. Closed: every call goes through and consecutive failures are counted. Open: every
call is refused until ``reset_timeout`` seconds have passed since it opened. Half-open: exactly
one trial call goes through; its outcome closes the breaker or opens it again.

Invariants:
  * ``_failures`` counts consecutive failures while closed; it is 0 in the other states.
  * ``_opened_at`` is the clock reading when the breaker last opened (None while closed).
  * ``_trial_in_flight`` is True only in half-open, between admitting the trial and recording
    its outcome.
  * "open" is stored; "half-open without a trial" is derived from the clock (rule B4), so that
    reading ``state`` never changes anything.
"""

from __future__ import annotations

import time
from typing import Any, Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    """Raised by ``CircuitBreaker.call`` when the breaker refuses a call.

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
        if not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise ValueError(f"failure_threshold must be an int >= 1, got {failure_threshold!r}")
        if not reset_timeout > 0:
            raise ValueError(f"reset_timeout must be > 0 seconds, got {reset_timeout!r}")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.clock = clock
        self._stored = CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    # ------------------------------------------------------------------ queries

    @property
    def state(self) -> str:
        """"closed", "open" or "half_open". Reading it changes nothing."""
        if self._stored == OPEN and self._reset_timeout_passed():
            return HALF_OPEN
        return self._stored

    def _reset_timeout_passed(self) -> bool:
        return self.clock() >= self._opened_at + self.reset_timeout

    # ------------------------------------------------------------------ admitting calls

    def allow_request(self) -> bool:
        """May a call go out now? Admitting the half-open trial is the one side effect."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self._trial_in_flight:
            self._stored = HALF_OPEN
            self._trial_in_flight = True
            return True
        return False

    # ------------------------------------------------------------------ outcomes

    def record_success(self) -> None:
        if self._stored == CLOSED:
            self._failures = 0
        elif self._trial_in_flight:
            self._close()
        # Open (or half-open with no trial admitted): a stale outcome, ignored (rule B7).

    def record_failure(self) -> None:
        if self._stored == CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()
        elif self._trial_in_flight:
            self._open()
        # Open (or half-open with no trial admitted): a stale outcome, ignored (rule B7).

    def _open(self) -> None:
        self._stored = OPEN
        self._opened_at = self.clock()
        self._failures = 0
        self._trial_in_flight = False

    def _close(self) -> None:
        self._stored = CLOSED
        self._opened_at = None
        self._failures = 0
        self._trial_in_flight = False

    # ------------------------------------------------------------------ the wrapper

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` through the breaker (rule B8)."""
        if not self.allow_request():
            raise CircuitOpenError(None if self._trial_in_flight
                                   else self._opened_at + self.reset_timeout)
        try:
            result = fn(*args, **kwargs)
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return result
