"""Bug: retry takes a result that is None (or another falsy value) for a failure and calls fn
again.

Caught by: test_retry_boundaries (rule R2).
Evidence: rule R2
Evidence: returns None
Evidence: was broken"""

import random

from instructor.testing import reference_lab

_ref = reference_lab("lab0_resilience")
CircuitOpenError = _ref.CircuitOpenError
backoff_delay = _ref.backoff_delay
CircuitBreaker = _ref.CircuitBreaker
CLOSED, OPEN, HALF_OPEN = _ref.CLOSED, _ref.OPEN, _ref.HALF_OPEN


def retry_with_backoff(fn, *, max_attempts=3, base_delay=0.1, max_delay=10.0,
                       retry_on=(Exception,), sleep, rng: random.Random):
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts!r}")
    result = None
    for attempt in range(max_attempts):
        try:
            result = fn()
            if result:                              # BUG: a falsy result is a result too
                return result
        except retry_on:
            if attempt == max_attempts - 1:
                raise
        if attempt < max_attempts - 1:
            sleep(backoff_delay(attempt, base_delay, max_delay, rng))
    return result
