"""Part A: a consistent-hash ring with virtual nodes (handout section 3).

Every node owns ``vnodes`` points on a circle of 2**64 positions; a key belongs to the first
point at or after its own position, going clockwise and wrapping around. The preference list of
a key is that owner followed by the next distinct nodes met on the same walk.

Rules:
  * Positions come from ``stable_hash`` (MD5), never from Python's ``hash``: ``hash`` of a
    string changes from one process to the next, and every node must agree on every owner.
  * ``_points`` is sorted by (position, node); ``_owners[i]`` is the node of ``_points[i]``.
    Lookups are a binary search (``bisect``), so they cost O(log(nodes * vnodes)).
  * Adding a node only inserts its own points, so a key can only move to the new node; removing
    a node only deletes its points, so only its keys move.
"""

from __future__ import annotations

import bisect
import hashlib
from typing import Iterable

VNODES = 64
"""Virtual nodes per node when the caller does not say (the cache uses this number)."""


def stable_hash(text: str) -> int:
    """The position of ``text`` on the ring: the first 8 bytes of its MD5 digest, as an int.

    The same text gives the same number in every process, on every machine."""
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:8], "big")


class HashRing:
    """A consistent-hash ring. ``HashRing(["c1", "c2"], vnodes=64)``."""

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = VNODES):
        if vnodes < 1:
            raise ValueError(f"vnodes must be at least 1, got {vnodes}")
        self.vnodes = vnodes
        self._nodes: set[str] = set()
        self._points: list[tuple[int, str]] = []
        self._positions: list[int] = []   # the positions of _points alone, for bisect
        self._owners: list[str] = []
        for node in nodes:
            self.add_node(node)

    # ----- membership ----------------------------------------------------------------------------

    @property
    def nodes(self) -> list[str]:
        """The nodes on the ring, sorted."""
        return sorted(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def add_node(self, node: str) -> None:
        """Put ``node`` and its virtual nodes on the ring."""
        if node in self._nodes:
            raise ValueError(f"{node!r} is already on the ring")
        self._nodes.add(node)
        for point in self._vnode_points(node):
            bisect.insort(self._points, point)
        self._reindex()

    def remove_node(self, node: str) -> None:
        """Take ``node`` and its virtual nodes off the ring."""
        if node not in self._nodes:
            raise ValueError(f"{node!r} is not on the ring; nodes: {', '.join(self.nodes)}")
        self._nodes.remove(node)
        self._points = [p for p in self._points if p[1] != node]
        self._reindex()

    def _vnode_points(self, node: str) -> list[tuple[int, str]]:
        return [(stable_hash(f"{node}#{i}"), node) for i in range(self.vnodes)]

    def _reindex(self) -> None:
        self._positions = [pos for pos, _ in self._points]
        self._owners = [node for _, node in self._points]

    # ----- lookups -------------------------------------------------------------------------------

    def node_for(self, key: str) -> str:
        """The owner of ``key``: the node of the first point clockwise from the key."""
        if not self._points:
            raise LookupError(f"the ring is empty: no node can own {key!r}")
        return self._owners[self._start(key)]

    def preference_list(self, key: str, n: int) -> list[str]:
        """The first ``n`` distinct nodes clockwise from ``key`` (all nodes if there are fewer).

        The first one is ``node_for(key)``; the list never repeats a node."""
        wanted = min(n, len(self._nodes))
        found: list[str] = []
        if wanted <= 0:
            return found
        start = self._start(key)
        total = len(self._owners)
        for step in range(total):
            node = self._owners[(start + step) % total]
            if node not in found:
                found.append(node)
                if len(found) == wanted:
                    break
        return found

    def _start(self, key: str) -> int:
        """Index of the first point at or after the key's position, wrapping to 0."""
        i = bisect.bisect_left(self._positions, stable_hash(key))
        return i if i < len(self._positions) else 0
