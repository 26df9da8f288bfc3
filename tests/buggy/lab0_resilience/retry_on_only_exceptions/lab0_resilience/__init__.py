"""Bug: retry catches `Exception` and then checks retry_on, so a BaseException subclass named
in retry_on (like asyncio.CancelledError) is never retried.

Caught by: test_retry_boundaries (rule R3).
Evidence: rule R3
Evidence: Cancelled
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
        except Exception as err:                    # BUG: BaseExceptions never get here
            if not isinstance(err, retry_on) or attempt == max_attempts - 1:
                raise
            sleep(backoff_delay(attempt, base_delay, max_delay, rng))
