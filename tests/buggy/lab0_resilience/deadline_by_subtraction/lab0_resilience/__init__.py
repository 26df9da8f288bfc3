"""Bug: the half-open test computes `clock() - opened_at >= reset_timeout`, which rounds
differently from the retry_at it hands out (opened_at + reset_timeout): at some readings the
breaker says "come back at t" and is still open at t.

Caught by: test_breaker_boundaries (rule B4).
Evidence: rule B4
Evidence: retry_at=
Evidence: was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def _reset_timeout_passed(self):
        return self.clock() - self._opened_at >= self.reset_timeout   # BUG: rounds otherwise
