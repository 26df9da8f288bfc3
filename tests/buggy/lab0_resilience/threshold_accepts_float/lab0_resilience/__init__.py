"""Bug: the threshold is only compared with 1, so failure_threshold=2.5 is accepted.

Caught by: test_breaker_boundaries (rule B1).
Evidence: rule B1
Evidence: failure_threshold=2.5
Evidence: was broken"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def __init__(self, failure_threshold=5, reset_timeout=30.0, clock=None):
        if failure_threshold < 1:                   # BUG: 2.5 passes
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold!r}")
        super().__init__(1, reset_timeout, *(() if clock is None else (clock,)))
        self.failure_threshold = failure_threshold
