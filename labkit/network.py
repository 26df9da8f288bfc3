"""The network model: what happens to a message between two nodes.

Two small pieces, shared by the simulator and the live router so that both treat a message
the same way and speak of it with the same names:

* ``NetworkConfig``: the behaviour of every link (latency, loss, duplication, long delays).
  ``NetworkConfig.delays(rng)`` decides one message's fate: no copy (lost), or one delay per
  copy delivered;
* ``Links``: which directed links are cut (partition, isolate, cut, connect, heal). A message
  from ``src`` to ``dst`` passes if ``(src, dst) not in links.cut`` when it is sent and when it
  would arrive.

Neither reads a clock or touches a socket; randomness comes from the ``random.Random`` the
caller passes, so the simulator stays deterministic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Iterable, Sequence

__all__ = ["NetworkConfig", "Links"]


@dataclass(frozen=True)
class NetworkConfig:
    """How the network treats each message. Probabilities are per message, in [0, 1].

    * latency: uniform in ``[min_latency, max_latency]`` seconds (default 1-10 ms);
    * ``loss``: the message is dropped;
    * ``duplicate``: a second copy is delivered too, with its own latency;
    * ``long_delay``: the message is held back an extra ``uniform(0, long_delay_max)`` seconds,
      which reorders it behind later messages.

    ``plain`` (derived, not a setting) is True when no message is lost, duplicated or held
    back: ``delays`` then makes exactly one draw, ``rng.uniform(min_latency, max_latency)``,
    and returns it as the one delay (the simulator's fast path makes that draw itself).
    """

    min_latency: float = 0.001
    max_latency: float = 0.010
    loss: float = 0.0
    duplicate: float = 0.0
    long_delay: float = 0.0
    long_delay_max: float = 0.5

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "long_delay"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"NetworkConfig.{name} must be in [0, 1], got {p}")
        if not 0.0 <= self.min_latency <= self.max_latency:
            raise ValueError("NetworkConfig needs 0 <= min_latency <= max_latency")
        if self.long_delay_max < 0.0:
            raise ValueError("NetworkConfig.long_delay_max must be >= 0")
        object.__setattr__(self, "plain", not (self.loss or self.duplicate or self.long_delay))

    @classmethod
    def settings(cls) -> tuple[str, ...]:
        """The names a caller may change (``Simulation.set_network``, the live router)."""
        return tuple(f.name for f in fields(cls))

    def delays(self, rng: random.Random) -> tuple[float, ...]:
        """One message's fate: ``()`` if it is lost, else one delay (seconds) per copy.

        The draws, in order: loss, duplication, then per copy its latency and its long delay
        (each probability drawn only when it is not 0), so a run replays exactly."""
        if self.plain:   # the common case, fast
            return (rng.uniform(self.min_latency, self.max_latency),)
        if self.loss and rng.random() < self.loss:
            return ()
        if self.duplicate and rng.random() < self.duplicate:
            first = self._delay(rng)
            return (first, self._delay(rng))
        return (self._delay(rng),)

    def _delay(self, rng: random.Random) -> float:
        delay = rng.uniform(self.min_latency, self.max_latency)
        if self.long_delay and rng.random() < self.long_delay:
            delay += rng.uniform(0.0, self.long_delay_max)
        return delay


class Links:
    """The cut links between ``nodes``. ``cut`` is a set of directed ``(src, dst)`` pairs,
    changed in place (a caller may keep a reference to it).

    Each change returns nothing; callers describe it in their own trace or status line."""

    def __init__(self, nodes: Sequence[str]):
        self.nodes = tuple(nodes)
        self.cut: set[tuple[str, str]] = set()

    def passes(self, src: str, dst: str) -> bool:
        return (src, dst) not in self.cut

    def partition(self, groups: Iterable[Iterable[str]]) -> list[tuple[str, ...]]:
        """Split into ``groups``; nodes not named form one more group. Links inside a group
        work; links between groups are cut both ways; any earlier cut is replaced. Returns
        the groups, the extra one included. (A node named twice ends up in its last group.)"""
        sets = [tuple(g) for g in groups]
        named = {n for g in sets for n in g}
        rest = tuple(n for n in self.nodes if n not in named)
        if rest:
            sets.append(rest)
        side = {n: i for i, g in enumerate(sets) for n in g}
        self.cut.clear()
        self.cut.update((a, b) for a in self.nodes for b in self.nodes if side[a] != side[b])
        return sets

    def isolate(self, node: str) -> None:
        """Cut every link to and from ``node``; other links stay as they are."""
        for other in self.nodes:
            if other != node:
                self.cut.add((node, other))
                self.cut.add((other, node))

    def cut_link(self, src: str, dst: str, both_ways: bool = False) -> None:
        self.cut.add((src, dst))
        if both_ways:
            self.cut.add((dst, src))

    def connect(self, a: str, b: str) -> None:
        """Restore the links between ``a`` and ``b``, both ways (e.g. to make a bridge)."""
        self.cut.discard((a, b))
        self.cut.discard((b, a))

    def heal(self) -> None:
        """Restore every link."""
        self.cut.clear()

    def groups(self) -> list[list[str]] | None:
        """The cut as partition groups (in node order), or None when it is not a partition
        (a one-way cut, an isolated node with a bridge, ...)."""
        if not self.cut:
            return [list(self.nodes)]
        found: list[list[str]] = []
        for n in self.nodes:
            for g in found:
                if (n, g[0]) not in self.cut:
                    g.append(n)
                    break
            else:
                found.append([n])
        side = {n: i for i, g in enumerate(found) for n in g}
        expected = {(a, b) for a in self.nodes for b in self.nodes if side[a] != side[b]}
        return found if expected == self.cut else None
