"""The circuit breaker contract as an executable model (handout section 3, rules B1-B8), and
the text of every contract rule (B1-B8, R1-R5) for failure messages.

The graders drive a student's breaker and this model with the same steps and compare what
they do. The model is written as the handout states the rules, not for speed. Every method
takes the current clock reading ``now`` instead of owning a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

RULES = {
    "B1": "failure_threshold is an int >= 1 and reset_timeout a number > 0, otherwise "
          "ValueError; a new breaker is closed",
    "B2": "while closed every call is allowed, consecutive failures are counted and a success "
          "resets the count; at failure_threshold consecutive failures the breaker opens",
    "B3": "while open (clock < opened_at + reset_timeout) every call is refused and fn is not "
          "called",
    "B4": "from clock >= opened_at + reset_timeout on the breaker reads half_open and admits a "
          "trial call",
    "B5": "half-open admits exactly one trial call until its outcome is recorded",
    "B6": "the trial's outcome decides: success closes the breaker, failure opens it again "
          "with opened_at = the clock now",
    "B7": "an outcome recorded while open with no trial in flight is stale and changes nothing",
    "B8": "call() runs fn once when allowed, returns its value or re-raises its exception "
          "(the same object), and records the outcome",
    "R1": "backoff_delay(attempt, base_delay, max_delay, rng) is a uniform draw from "
          "[0, min(max_delay, base_delay * 2**attempt)] taken from rng",
    "R2": "retry_with_backoff calls fn at most max_attempts times and returns the first result",
    "R3": "after a retryable failure that is not the last attempt it sleeps "
          "backoff_delay(attempt) once, then tries again",
    "R4": "an exception outside retry_on propagates at once: no sleep, no further attempt",
    "R5": "when the last attempt fails, the exception fn raised is re-raised (the same object) "
          "and there is no sleep after it",
}


def rule(code: str) -> str:
    """``"rule B5 (half-open admits exactly one trial ...)"``, for failure messages."""
    return f"rule {code} ({RULES[code]})"


@dataclass
class BreakerModel:
    failure_threshold: int
    reset_timeout: float
    stored: str = "closed"          # "closed" | "open" | "half_open" (only with a trial)
    failures: int = 0               # consecutive failures while closed
    opened_at: float | None = None  # when it last opened
    trial: bool = False             # a half-open trial admitted, outcome not recorded yet

    def deadline(self) -> float | None:
        """When an open breaker half-opens (None unless stored open)."""
        return self.opened_at + self.reset_timeout if self.stored == "open" else None

    def state(self, now: float) -> str:
        if self.stored == "open" and now >= self.deadline():
            return "half_open"
        return self.stored

    def retry_at(self) -> float | None:
        """What CircuitOpenError.retry_at must be when a call is refused now."""
        return None if self.trial else self.deadline()

    def allow(self, now: float) -> tuple[bool, str]:
        """Whether a call is allowed, and the rule that decides it."""
        state = self.state(now)
        if state == "closed":
            return True, "B2"
        if state == "open":
            return False, "B3"
        if self.trial:
            return False, "B5"
        self.stored, self.trial = "half_open", True
        return True, "B4"

    def success(self, now: float) -> str:
        """Record a success; returns the rule that applied."""
        if self.stored == "closed":
            self.failures = 0
            return "B2"
        if self.trial:
            self.stored, self.trial, self.opened_at, self.failures = "closed", False, None, 0
            return "B6"
        return "B7"

    def failure(self, now: float) -> str:
        if self.stored == "closed":
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self._open(now)
            return "B2"
        if self.trial:
            self._open(now)
            return "B6"
        return "B7"

    def _open(self, now: float) -> None:
        self.stored, self.trial, self.opened_at, self.failures = "open", False, now, 0

    def describe(self, now: float) -> str:
        state = self.state(now)
        if state == "closed":
            return f"closed with {self.failures} consecutive failure(s)"
        if state == "open":
            return f"open since t={self.opened_at:g}, half-opens at t={self.deadline():g}"
        if self.trial:
            return "half_open with its trial call in flight"
        return f"half_open (opened at t={self.opened_at:g}), no trial admitted yet"
