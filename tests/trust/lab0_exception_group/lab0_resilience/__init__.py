"""Trust test: recording a failure raises an ExceptionGroup whose inner exceptions were never
raised (so they have no traceback of their own). Every breaker test must fail with a message
naming this file and line; the retry tests must still pass."""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def record_failure(self):
        raise ExceptionGroup("two things went wrong", [ValueError("first"), KeyError("second")])
