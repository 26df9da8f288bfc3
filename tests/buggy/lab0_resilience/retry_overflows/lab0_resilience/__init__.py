"""Bug: retry computes its delays itself as min(max_delay, base_delay * 2 ** attempt), which
raises OverflowError once 2 ** attempt is too large for a float (attempt 1024 and up).

Caught by: test_retry_boundaries (rule R1).
Evidence: rule R1
Evidence: OverflowError
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
    for attempt in range(max_attempts):
        try:
            return fn()
        except retry_on:
            if attempt == max_attempts - 1:
                raise
            sleep(rng.uniform(0, min(max_delay, base_delay * 2 ** attempt)))   # BUG: overflows
