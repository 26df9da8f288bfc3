"""Bug: a success while closed does not reset the failure count (it counts all failures,
not consecutive ones).

Caught by: test_opens_after_consecutive_failures (rule B2), and test_breaker_matches_model.
Evidence: rule B2
Evidence (test_breaker_matches_model): Contract rule B
Evidence (test_breaker_matches_model): was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def record_success(self):
        if self._stored != CLOSED:
            super().record_success()
