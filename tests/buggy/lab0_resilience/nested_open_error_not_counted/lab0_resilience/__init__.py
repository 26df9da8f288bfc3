"""Bug: call() lets a CircuitOpenError raised by fn (an inner breaker refusing) pass without
recording it, as if it were its own refusal.

Caught by: test_breaker_boundaries (rule B8).
Evidence: rule B8
Evidence: inner breaker
Evidence: was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def call(self, fn, *args, **kwargs):
        if not self.allow_request():
            raise CircuitOpenError(None if self._trial_in_flight
                                   else self._opened_at + self.reset_timeout)
        try:
            result = fn(*args, **kwargs)
        except CircuitOpenError:                    # BUG: an inner refusal is a failure too
            raise
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return result
