"""Lab 3, part A: a model of a partitioned network.

A ``Topology`` knows which one-way links between nodes are up. It does no I/O and keeps no
clock: faults are method calls, questions are pure functions of the links.

Rules (the handout's section 3):

* A link is one-way: ``src -> dst``. A node's link to itself is always up.
* ``can_communicate(a, b)`` needs both ``a -> b`` and ``b -> a`` (a request and its reply).
* ``reachable(n)`` is ``n`` and every node it can communicate with *directly*; messages are
  never forwarded, so two nodes that share a neighbour but no link stay apart.
* ``has_majority(n)``: ``reachable(n)`` holds more than half of all the nodes.
* ``split`` replaces every earlier cut; ``isolate``, ``cut`` and ``connect`` change only the
  links they name; ``heal`` brings every link up.
"""

from __future__ import annotations

from typing import Iterable


class Topology:
    """Which links of a cluster are up. Starts with every link up."""

    def __init__(self, nodes: Iterable[str]):
        nodes = tuple(nodes)
        if len(set(nodes)) != len(nodes):
            raise ValueError(f"node names must be distinct: {nodes}")
        self.nodes: tuple[str, ...] = nodes
        # Invariant: every pair in _down is (src, dst) with src != dst, both in nodes.
        self._down: set[tuple[str, str]] = set()

    # ----- faults --------------------------------------------------------------------------------

    def split(self, *groups: Iterable[str]) -> None:
        """Cut every link between different groups, both ways; links inside a group are up.

        Nodes named in no group form one more group. Replaces every earlier cut."""
        groups = [tuple(g) for g in groups]
        side: dict[str, int] = {}
        for i, group in enumerate(groups):
            for n in group:
                self._check(n)
                if n in side:
                    raise ValueError(f"{n} is named in two groups of the split")
                side[n] = i
        rest = len(groups)
        self._down = {(a, b) for a in self.nodes for b in self.nodes
                      if side.get(a, rest) != side.get(b, rest)}

    def isolate(self, node: str) -> None:
        """Cut every link to and from ``node``; the other links stay as they are."""
        self._check(node)
        for other in self.nodes:
            if other != node:
                self._down.add((node, other))
                self._down.add((other, node))

    def cut(self, src: str, dst: str, *, both_ways: bool = False) -> None:
        """Cut the link ``src -> dst`` (and ``dst -> src`` too if ``both_ways``)."""
        self._check_pair(src, dst)
        self._down.add((src, dst))
        if both_ways:
            self._down.add((dst, src))

    def connect(self, a: str, b: str) -> None:
        """Bring the links ``a -> b`` and ``b -> a`` up (a bridge between two sides)."""
        self._check_pair(a, b)
        self._down.discard((a, b))
        self._down.discard((b, a))

    def heal(self) -> None:
        """Bring every link up."""
        self._down.clear()

    # ----- questions -----------------------------------------------------------------------------

    def link_up(self, src: str, dst: str) -> bool:
        """True if a message sent by ``src`` to ``dst`` gets through."""
        self._check(src), self._check(dst)
        return (src, dst) not in self._down

    def can_communicate(self, a: str, b: str) -> bool:
        """True if both ``a -> b`` and ``b -> a`` are up."""
        return self.link_up(a, b) and self.link_up(b, a)

    def reachable(self, node: str) -> frozenset[str]:
        """``node`` and every node it can communicate with directly."""
        self._check(node)
        return frozenset(n for n in self.nodes if self.can_communicate(node, n))

    def has_majority(self, node: str) -> bool:
        """True if ``reachable(node)`` holds more than half of all the nodes."""
        return 2 * len(self.reachable(node)) > len(self.nodes)

    # ----- checks --------------------------------------------------------------------------------

    def _check(self, node: str) -> None:
        if node not in self.nodes:
            raise ValueError(f"no node {node!r}; the nodes are {', '.join(self.nodes)}")

    def _check_pair(self, a: str, b: str) -> None:
        self._check(a), self._check(b)
        if a == b:
            raise ValueError(f"a node is always connected to itself; cannot change {a} -> {a}")
