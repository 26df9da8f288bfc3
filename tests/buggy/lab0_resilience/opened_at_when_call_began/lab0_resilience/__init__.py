"""Bug: call() reads the clock once, before running fn, and opens the breaker at that reading,
so after a slow failing call it half-opens too early.

Caught by: test_breaker_boundaries (rule B2).
Evidence: rule B2
Evidence: takes 3 s and fails
Evidence: was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def call(self, fn, *args, **kwargs):
        began = self.clock()
        if not self.allow_request():
            raise CircuitOpenError(None if self._trial_in_flight
                                   else self._opened_at + self.reset_timeout)
        try:
            result = fn(*args, **kwargs)
        except Exception:
            self.record_failure()
            if self._stored == OPEN:
                self._opened_at = began                 # BUG: the reading before fn ran
            raise
        self.record_success()
        return result
