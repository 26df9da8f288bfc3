"""Lab 1: CAP trade-offs. A 3-node replicated key-value store with eventual and strong
requests (see assignments/lab1-cap.md)."""

from .kvnode import CONSISTENCY_LEVELS, RETRY_INTERVAL, STRONG_TIMEOUT, KVNode

__all__ = ["KVNode", "RETRY_INTERVAL", "STRONG_TIMEOUT", "CONSISTENCY_LEVELS"]
