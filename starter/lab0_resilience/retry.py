"""Retry with exponential backoff and full jitter. Handout: assignments/lab0-resilience.md,
section 4.

The contract, rule by rule (the graders check every one of them):

R1  ``backoff_delay(attempt, base_delay, max_delay, rng)`` returns
    ``rng.uniform(0, min(max_delay, base_delay * 2 ** attempt))``: "full jitter", a uniform
    draw between 0 and the capped exponential ceiling. ``attempt`` counts from 0 (the delay
    after the first failed call). ``ValueError`` if attempt < 0, base_delay < 0 or
    max_delay < 0.
R2  ``retry_with_backoff(fn, *, max_attempts=3, ...)`` calls ``fn()`` (no arguments) at most
    ``max_attempts`` times and returns the first value it returns. ``ValueError`` if
    max_attempts < 1 (before calling fn).
R3  After attempt number ``attempt`` (from 0) fails with an exception that is an instance of
    one of the ``retry_on`` types, and it was not the last attempt: call
    ``sleep(backoff_delay(attempt, base_delay, max_delay, rng))`` once, then try again.
R4  An exception that is not an instance of a ``retry_on`` type propagates at once: no sleep,
    no further attempt.
R5  When the last attempt fails, re-raise the exception fn raised (the same object, not a new
    one, not None) and do not sleep after it.

Never call ``time.sleep`` or the ``random`` module: wait with ``sleep`` and draw with ``rng``,
which the caller passes in. That is what lets the graders record every delay without waiting.
"""

from __future__ import annotations

import random
from typing import Any, Callable


def backoff_delay(attempt: int, base_delay: float, max_delay: float, rng: random.Random) -> float:
    """How long to wait after failed attempt number ``attempt`` (rule R1)."""
    raise NotImplementedError("backoff_delay: return rng.uniform(0, min(max_delay, base_delay "
                              "* 2 ** attempt)) (rule R1)")


def retry_with_backoff(fn: Callable[[], Any], *, max_attempts: int = 3, base_delay: float = 0.1,
                       max_delay: float = 10.0,
                       retry_on: tuple[type[BaseException], ...] = (Exception,),
                       sleep: Callable[[float], None], rng: random.Random) -> Any:
    """Call ``fn()`` until it returns, at most ``max_attempts`` times (rules R2-R5)."""
    raise NotImplementedError("retry_with_backoff: call fn up to max_attempts times, sleeping "
                              "backoff_delay(attempt, ...) between retryable failures; re-raise "
                              "the last error (rules R2-R5)")
