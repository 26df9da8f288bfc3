"""Bug: a success recorded while open (a stale outcome) closes the breaker.

Caught by: test_breaker_matches_model only (rule B7).
Evidence: rule B7
Evidence: Contract rule B
Evidence: was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def record_success(self):
        if self._stored == OPEN:
            self._close()
        else:
            super().record_success()
