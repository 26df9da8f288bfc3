"""Exhaustive breadth-first search of small configurations (``labkit.search.bfs``): the
shortest interleaving of deliveries, timers, client operations and faults that breaks an
invariant, written as a failure record like any other (``labkit.search.report``)."""

from .bfs import Result, Space, StatePredicate, View, fingerprint, rebuild, search

__all__ = ["Space", "StatePredicate", "View", "Result", "search", "rebuild", "fingerprint"]
