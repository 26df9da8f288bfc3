"""The labs of the module: short name, package, handout and title, in course order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Lab:
    short: str        # "lab1", what students type
    package: str      # "lab1_cap", the folder in starter/, reference/ and graders/
    title: str
    handout: str      # path of the handout, from the repository root
    has_nodes: bool = True  # False for Lab 0, which is plain Python objects

    @property
    def number(self) -> int:
        return int(self.short[3:])

    @property
    def grader_dir(self) -> Path:
        return REPO / "graders" / self.package


LABS = (
    Lab("lab0", "lab0_resilience", "Resilience patterns", "assignments/lab0-resilience.md",
        has_nodes=False),
    Lab("lab1", "lab1_cap", "CAP trade-offs", "assignments/lab1-cap.md"),
    Lab("lab2", "lab2_raft", "Raft consensus", "assignments/lab2-raft.md"),
    Lab("lab3", "lab3_partitions", "Partitions and quorum writes", "assignments/lab3-partitions.md"),
    Lab("lab4", "lab4_cache", "Distributed cache", "assignments/lab4-cache.md"),
)
BY_NAME = {**{lab.short: lab for lab in LABS}, **{lab.package: lab for lab in LABS}}


def find_lab(name: str) -> Lab:
    """``find_lab("lab1")`` or ``find_lab("lab1_cap")``; a clear ValueError otherwise."""
    lab = BY_NAME.get(name.strip().rstrip("/").split("/")[-1])
    if lab is None:
        known = ", ".join(f"{lab.short} ({lab.title})" for lab in LABS)
        raise ValueError(f"there is no lab called {name!r}; the labs are: {known}")
    return lab


def lab_of_path(path: str) -> Lab | None:
    """The lab a grader file belongs to, from its folder name."""
    for part in Path(path).parts:
        if part in BY_NAME and part.startswith("lab") and "_" in part:
            return BY_NAME[part]
    return None


def available_labs() -> list[Lab]:
    """The labs whose grader folder exists (the others are not released yet)."""
    return [lab for lab in LABS if lab.grader_dir.is_dir()]
