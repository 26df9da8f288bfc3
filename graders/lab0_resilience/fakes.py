"""Test doubles for lab 0: a clock the test moves by hand, a sleep that only records, and
functions that succeed or fail on cue while counting their calls."""

from __future__ import annotations


class FakeClock:
    """A clock that stands still until the test moves it. Call it to read the time."""

    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """Stands in for time.sleep: records each delay asked for and returns at once."""

    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Boom(Exception):
    """What a failing fn raises: a service error the breaker should count."""


class Transient(Exception):
    """A retryable error (the graders put it in retry_on)."""


class TransientTimeout(Transient):
    """A subclass of a retryable error: retryable too (isinstance semantics)."""


class Fatal(Exception):
    """An error the graders leave out of retry_on: it must never be retried."""


class Probe:
    """A function under our control: ``Probe(outcomes)`` returns or raises the next outcome on
    each call ("ok" returns a fresh value; an exception class raises a fresh instance) and keeps
    every call, every value returned and every exception raised."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0
        self.returned: list[object] = []
        self.raised: list[BaseException] = []

    def __call__(self):
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if outcome == "ok":
            value = object()
            self.returned.append(value)
            return value
        exc = outcome(f"failure of call {self.calls}")
        self.raised.append(exc)
        raise exc
