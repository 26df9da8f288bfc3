"""Lab 3, part A: a model of a partitioned network (handout section 3).

A ``Topology`` knows which one-way links between nodes are up. It does no I/O and keeps no
clock: faults are method calls, questions are pure functions of the links. The rules:

* A link is one-way: ``src -> dst``. A node's link to itself is always up.
* ``can_communicate(a, b)`` needs both ``a -> b`` and ``b -> a`` (a request and its reply).
* ``reachable(n)`` is ``n`` and every node it can communicate with *directly*; messages are
  never forwarded, so two nodes that share a neighbour but no link stay apart.
* ``has_majority(n)``: ``reachable(n)`` holds more than half of all the nodes.
* ``split`` replaces every earlier cut; ``isolate``, ``cut`` and ``connect`` change only the
  links they name; ``heal`` brings every link up.
* A node name that is not in the cluster raises ``ValueError`` (in every method), and so do a
  node named in two groups of one split, a cut or connect from a node to itself, and duplicate
  names given to the constructor.

Example::

    t = Topology(["n1", "n2", "n3", "n4", "n5"])
    t.split(["n1", "n2", "n3"], ["n4", "n5"])
    t.can_communicate("n1", "n4")     # False
    t.reachable("n4")                 # frozenset({"n4", "n5"})
    t.has_majority("n1")              # True: 3 of 5
"""

from __future__ import annotations

from typing import Iterable


class Topology:
    """Which links of a cluster are up. Starts with every link up."""

    # ----- construction ------------------------------------------------------------------------

    def __init__(self, nodes: Iterable[str]):
        """``nodes``: the node names. Keep them, in the order given, as ``self.nodes`` (a tuple),
        and start with every link up."""
        # TODO: store the nodes and whatever you need to remember which links are down.
        raise NotImplementedError("Topology.__init__: keep the nodes in self.nodes and start "
                                  "with every link up")

    # ----- faults ------------------------------------------------------------------------------

    def split(self, *groups: Iterable[str]) -> None:
        """Cut every link between different groups, both ways; links inside a group are up.

        Nodes named in no group form one more group. Replaces every earlier cut."""
        raise NotImplementedError("Topology.split: cut the links between groups, both ways, "
                                  "and only those")

    def isolate(self, node: str) -> None:
        """Cut every link to and from ``node``; the other links stay as they are."""
        raise NotImplementedError("Topology.isolate: cut every link to and from the node")

    def cut(self, src: str, dst: str, *, both_ways: bool = False) -> None:
        """Cut the link ``src -> dst`` (and ``dst -> src`` too if ``both_ways``)."""
        raise NotImplementedError("Topology.cut: cut src -> dst (and dst -> src if both_ways)")

    def connect(self, a: str, b: str) -> None:
        """Bring the links ``a -> b`` and ``b -> a`` up (a bridge between two sides)."""
        raise NotImplementedError("Topology.connect: bring a -> b and b -> a up")

    def heal(self) -> None:
        """Bring every link up."""
        raise NotImplementedError("Topology.heal: bring every link up")

    # ----- questions ---------------------------------------------------------------------------

    def link_up(self, src: str, dst: str) -> bool:
        """True if a message sent by ``src`` to ``dst`` gets through."""
        raise NotImplementedError("Topology.link_up: is the one-way link src -> dst up?")

    def can_communicate(self, a: str, b: str) -> bool:
        """True if both ``a -> b`` and ``b -> a`` are up."""
        raise NotImplementedError("Topology.can_communicate: are both directions up?")

    def reachable(self, node: str) -> frozenset[str]:
        """``node`` and every node it can communicate with directly."""
        raise NotImplementedError("Topology.reachable: the node and the nodes it can "
                                  "communicate with directly")

    def has_majority(self, node: str) -> bool:
        """True if ``reachable(node)`` holds more than half of all the nodes."""
        raise NotImplementedError("Topology.has_majority: does reachable(node) hold more than "
                                  "half of all the nodes?")
