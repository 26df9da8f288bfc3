"""Retry with exponential backoff and full jitter (handout section 4, rules R1-R5).

The caller injects ``sleep`` and ``rng``: nothing here reads the clock, sleeps for real or
touches the global random module, so a test can record every delay and replay it exactly.
"""

from __future__ import annotations

import random
from typing import Any, Callable


def backoff_delay(attempt: int, base_delay: float, max_delay: float, rng: random.Random) -> float:
    """How long to wait after failed attempt ``attempt`` (0 for the first): a uniform draw
    from [0, min(max_delay, base_delay * 2**attempt)] ("full jitter")."""
    if attempt < 0 or base_delay < 0 or max_delay < 0:
        raise ValueError(f"backoff_delay needs attempt >= 0, base_delay >= 0 and max_delay >= 0; "
                         f"got attempt={attempt!r}, base_delay={base_delay!r}, "
                         f"max_delay={max_delay!r}")
    try:
        ceiling = min(max_delay, base_delay * 2 ** attempt)
    except OverflowError:  # 2**attempt too large for a float: the cap wins anyway
        ceiling = max_delay
    return rng.uniform(0, ceiling)


def retry_with_backoff(fn: Callable[[], Any], *, max_attempts: int = 3, base_delay: float = 0.1,
                       max_delay: float = 10.0,
                       retry_on: tuple[type[BaseException], ...] = (Exception,),
                       sleep: Callable[[float], None], rng: random.Random) -> Any:
    """Call ``fn()`` until it returns, at most ``max_attempts`` times; return its result."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts!r}")
    for attempt in range(max_attempts):
        try:
            return fn()
        except retry_on:
            if attempt == max_attempts - 1:
                raise  # the last error, the very object fn raised (rule R5)
            sleep(backoff_delay(attempt, base_delay, max_delay, rng))
    raise AssertionError("unreachable: the loop returns or raises")
