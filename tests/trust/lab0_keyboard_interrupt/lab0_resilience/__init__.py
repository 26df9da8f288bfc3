"""Trust test: the success handler raises KeyboardInterrupt. That is this submission's failure,
not a Ctrl-C: every test that records a success fails with this file and line, and grading goes
on with the other tests."""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
retry_with_backoff = _ref.retry_with_backoff
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


class CircuitBreaker(_ref.CircuitBreaker):
    def record_success(self):
        raise KeyboardInterrupt("pressed by the submission itself")
