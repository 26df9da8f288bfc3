"""Bug: the reset timeout is checked with `<= 0`, which NaN never is, so a breaker with
reset_timeout=NaN is built (and never half-opens).

Caught by: test_breaker_boundaries (rule B1).
Evidence: rule B1
Evidence: reset_timeout=nan
Evidence: was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def __init__(self, failure_threshold=5, reset_timeout=30.0, clock=None):
        if isinstance(reset_timeout, float) and reset_timeout != reset_timeout:
            super().__init__(failure_threshold, 1.0, *(() if clock is None else (clock,)))
            self.reset_timeout = reset_timeout      # BUG: `reset_timeout <= 0` lets NaN in
            return
        super().__init__(failure_threshold, reset_timeout,
                         *(() if clock is None else (clock,)))
