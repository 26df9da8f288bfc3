"""Lab 0: resilience patterns. A circuit breaker and retry with exponential backoff and full
jitter, both over an injected clock, sleep and random source.

Handout: assignments/lab0-resilience.md."""

from .breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpenError
from .retry import backoff_delay, retry_with_backoff

__all__ = ["CircuitBreaker", "CircuitOpenError", "CLOSED", "OPEN", "HALF_OPEN",
           "backoff_delay", "retry_with_backoff"]
