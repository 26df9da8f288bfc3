"""Trust test: recording a failure never returns. Every test that records a failure must run
out of time (and say so, not "not deterministic"); the other tests still run."""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def record_failure(self):
        while True:
            pass
