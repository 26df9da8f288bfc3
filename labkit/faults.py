"""Faults as data: a fault schedule is a tuple of small, frozen, timed actions.

    schedule = (Partition(1.0, (("n1", "n2"), ("n3",))), Crash(1.5, "n1"), Heal(3.0))
    sim.apply_schedule(schedule)
    print(format_schedule(schedule))

Every action has ``at`` (virtual seconds), ``apply(sim)`` and a readable ``str``. Actions are
total: crashing a crashed node, resuming a running one or restarting a running one (a reboot)
are all allowed, so any generated sequence is a valid schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from .simulator import Simulation


@dataclass(frozen=True, slots=True)
class Crash:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        sim.crash(self.node)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s crash {self.node}"


@dataclass(frozen=True, slots=True)
class Restart:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        sim.restart(self.node)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s restart {self.node}"


@dataclass(frozen=True, slots=True)
class Pause:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        sim.pause(self.node)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s pause {self.node}"


@dataclass(frozen=True, slots=True)
class Resume:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        sim.resume(self.node)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s resume {self.node}"


@dataclass(frozen=True, slots=True)
class Partition:
    at: float
    groups: tuple[tuple[str, ...], ...]

    def apply(self, sim: "Simulation") -> None:
        sim.partition(*self.groups)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s partition " + " | ".join(",".join(g) for g in self.groups)


@dataclass(frozen=True, slots=True)
class Isolate:
    at: float
    node: str

    def apply(self, sim: "Simulation") -> None:
        sim.isolate(self.node)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s isolate {self.node}"


@dataclass(frozen=True, slots=True)
class Cut:
    """Cut the link ``src -> dst`` (one way unless ``both_ways``)."""
    at: float
    src: str
    dst: str
    both_ways: bool = False

    def apply(self, sim: "Simulation") -> None:
        sim.cut(self.src, self.dst, both_ways=self.both_ways)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s cut {self.src}{'<' if self.both_ways else ''}->{self.dst}"


@dataclass(frozen=True, slots=True)
class Heal:
    at: float

    def apply(self, sim: "Simulation") -> None:
        sim.heal()

    def __str__(self) -> str:
        return f"t={self.at:.3f}s heal"


@dataclass(frozen=True, slots=True)
class Network:
    """Change loss / duplication / long-delay probabilities from ``at`` on."""
    at: float
    loss: float = 0.0
    duplicate: float = 0.0
    long_delay: float = 0.0

    def apply(self, sim: "Simulation") -> None:
        sim.set_network(loss=self.loss, duplicate=self.duplicate, long_delay=self.long_delay)

    def __str__(self) -> str:
        return (f"t={self.at:.3f}s network loss={self.loss:g} duplicate={self.duplicate:g} "
                f"long_delay={self.long_delay:g}")


@dataclass(frozen=True, slots=True)
class RecoverAll:
    """End of the fault phase: heal every link, reset the network, resume paused nodes and
    restart crashed ones. Liveness checks start from here."""
    at: float

    def apply(self, sim: "Simulation") -> None:
        sim.heal()
        sim.set_network(loss=0.0, duplicate=0.0, long_delay=0.0)
        for n in sim.node_ids:
            if not sim.is_up(n):
                sim.restart(n)
            elif sim.is_paused(n):
                sim.resume(n)

    def __str__(self) -> str:
        return f"t={self.at:.3f}s recover all (heal, restart, resume)"


Action = Crash | Restart | Pause | Resume | Partition | Isolate | Cut | Heal | Network | RecoverAll


def format_schedule(schedule: Iterable[Action]) -> str:
    """One action per line, in time order; "(no faults)" for an empty schedule."""
    lines = [f"  {a}" for a in sorted(schedule, key=lambda a: a.at)]
    return "\n".join(lines) if lines else "  (no faults)"
