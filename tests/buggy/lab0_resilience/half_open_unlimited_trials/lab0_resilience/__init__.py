"""Bug: a half-open breaker admits every request, not one trial call.

Caught by: test_half_open_admits_one_trial (rule B5), and test_breaker_matches_model.
Evidence: rule B5
Evidence (test_breaker_matches_model): Contract rule B
Evidence (test_breaker_matches_model): was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def allow_request(self):
        state = self.state
        if state == HALF_OPEN:
            self._stored, self._trial_in_flight = HALF_OPEN, True
            return True
        return state == CLOSED
