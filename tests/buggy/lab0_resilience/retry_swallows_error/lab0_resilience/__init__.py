"""Bug: after the last failed attempt returns None instead of re-raising.

Caught by: test_retry_attempts_and_last_error (rule R5).
Evidence: rule R5"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitBreaker = _ref.CircuitBreaker
CircuitOpenError = _ref.CircuitOpenError
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN

backoff_delay = _ref.backoff_delay


def retry_with_backoff(fn, *, max_attempts=3, base_delay=0.1, max_delay=10.0,
                       retry_on=(Exception,), sleep, rng):
    if max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")
    for attempt in range(max_attempts):
        try:
            return fn()
        except retry_on:
            if attempt < max_attempts - 1:
                sleep(backoff_delay(attempt, base_delay, max_delay, rng))
    return None
