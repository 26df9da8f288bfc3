"""Bug: a failure recorded while open (a stale outcome) restarts the open period.

Caught by: test_breaker_matches_model only (rule B7): no fixed scenario records outcomes while
open.
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
    def record_failure(self):
        if self._stored == OPEN:
            self._open()
        else:
            super().record_failure()
