"""Lab 4, part A: a consistent-hash ring with virtual nodes (handout section 3).

Picture a circle of 2**64 positions. Every node puts ``vnodes`` points on it, at the positions
``stable_hash(f"{node}#{i}")`` for i in 0..vnodes-1 (any naming is fine, as long as it depends
only on the node and i). A key sits at ``stable_hash(key)``; its *owner* is the node of the first
point at or after that position, going clockwise and wrapping around past the top. The key's
*preference list* continues the same walk: the owner, then the next *distinct* nodes met.

The contract (the graders check every line):

* ``stable_hash(text) -> int``: the same number for the same text in every process. Use
  ``hashlib`` (md5 or sha1 of ``text.encode()``, e.g. the first 8 bytes as an int). Never
  Python's ``hash()``: it changes with PYTHONHASHSEED from one process to the next.
* ``HashRing(nodes=(), vnodes=VNODES)``; ``ring.vnodes``; ``ring.nodes`` (sorted list);
  ``len(ring)``; ``node in ring``.
* ``add_node(node)`` / ``remove_node(node)``: put a node's points on the ring / take them off.
  Adding a node that is there, or removing one that is not, raises ``ValueError``.
* ``node_for(key)``: the owner (``LookupError`` on an empty ring).
* ``preference_list(key, n)``: ``min(n, len(ring))`` distinct nodes, starting with the owner.
* Lookups are a binary search (``bisect``) over the sorted positions: the balance test makes
  300,000 of them.

Properties graded: distinct preference lists; the same placement in a fresh process; balance
(10 nodes x 100 virtual nodes: no node owns more than 1.4 times the mean); a join moves keys
only to the new node (about 1/(n+1) of them); a leave moves only the leaver's keys.
"""

from __future__ import annotations

from typing import Iterable

VNODES = 64
"""Virtual nodes per node when the caller does not say (the cache nodes use this number)."""


def stable_hash(text: str) -> int:
    """The position of ``text`` on the ring, the same in every process."""
    # TODO
    raise NotImplementedError("stable_hash: hash text.encode() with hashlib (md5 or sha1) and "
                              "turn (part of) the digest into an int")


class HashRing:
    """A consistent-hash ring. ``HashRing(["c1", "c2"], vnodes=64)``."""

    # ----- construction ------------------------------------------------------------------------

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = VNODES):
        self.vnodes = vnodes
        # TODO: the ring's state, e.g. a sorted list of (position, node) points.
        for node in nodes:
            self.add_node(node)

    # ----- membership --------------------------------------------------------------------------

    @property
    def nodes(self) -> list[str]:
        """The nodes on the ring, sorted."""
        # TODO
        raise NotImplementedError("HashRing.nodes: return the sorted list of nodes on the ring")

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node: object) -> bool:
        return node in self.nodes

    def add_node(self, node: str) -> None:
        """Put ``node``'s ``vnodes`` points on the ring (ValueError if it is already there)."""
        # TODO
        raise NotImplementedError("HashRing.add_node: insert the node's virtual-node points, "
                                  "keeping them sorted by position")

    def remove_node(self, node: str) -> None:
        """Take ``node``'s points off the ring (ValueError if it is not there)."""
        # TODO
        raise NotImplementedError("HashRing.remove_node: delete the node's points")

    # ----- lookups -----------------------------------------------------------------------------

    def node_for(self, key: str) -> str:
        """The owner of ``key``: the node of the first point at or after stable_hash(key),
        wrapping around (LookupError if the ring is empty)."""
        # TODO
        raise NotImplementedError("HashRing.node_for: bisect the sorted positions for the "
                                  "first point at or after the key's, wrapping around")

    def preference_list(self, key: str, n: int) -> list[str]:
        """The first ``min(n, len(self))`` distinct nodes clockwise from ``key``, owner first."""
        # TODO
        raise NotImplementedError("HashRing.preference_list: walk clockwise from the owner, "
                                  "skipping points of nodes already in the list")
