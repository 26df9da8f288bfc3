"""Bug: half-opens only once clock > opened_at + reset_timeout (the contract says >=).

Caught by: test_reset_timeout_boundary (rule B4), and test_breaker_matches_model.
Evidence: rule B4
Evidence (test_breaker_matches_model): Contract rule B
Evidence (test_breaker_matches_model): was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def _reset_timeout_passed(self):
        return self.clock() > self._opened_at + self.reset_timeout
