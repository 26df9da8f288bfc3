"""Bug: a failed trial reopens the breaker but keeps the old opened_at, so it half-opens again
at once instead of waiting a full reset_timeout.

Caught by: test_half_open_admits_one_trial (rule B6), and test_breaker_matches_model.
Evidence: rule B6
Evidence (test_breaker_matches_model): Contract rule B
Evidence (test_breaker_matches_model): was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def record_failure(self):
        if self._trial_in_flight:
            self._stored, self._trial_in_flight = OPEN, False
        else:
            super().record_failure()
