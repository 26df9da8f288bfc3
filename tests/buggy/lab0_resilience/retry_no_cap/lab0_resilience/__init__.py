"""Bug: backoff ignores max_delay (no cap).

Caught by: test_backoff_full_jitter_under_cap (rule R1).
Evidence: rule R1"""

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitBreaker = _ref.CircuitBreaker
CircuitOpenError = _ref.CircuitOpenError
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


def backoff_delay(attempt, base_delay, max_delay, rng):
    if attempt < 0 or base_delay < 0 or max_delay < 0:
        raise ValueError("negative")
    return rng.uniform(0, base_delay * 2 ** attempt)


def retry_with_backoff(fn, *, max_attempts=3, base_delay=0.1, max_delay=10.0,
                       retry_on=(Exception,), sleep, rng):
    if max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")
    for attempt in range(max_attempts):
        try:
            return fn()
        except retry_on:
            if attempt == max_attempts - 1:
                raise
            sleep(backoff_delay(attempt, base_delay, max_delay, rng))

