"""The trace of a run: every event, in order, and a digest that identifies the run.

``records`` holds the run's ``labkit.events.Event`` records (time, kind, node, peer, detail,
ref; see that module for what each field means). The simulator appends to it; a checker that
reacts to events subscribes (``Simulation.subscribe``) rather than reading it; reports and the
replay read it whole.

``digest()`` hashes the records; the same seed and the same code give the same digest, byte for
byte, and any behavioural difference changes it.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from .events import Event


class Trace:
    def __init__(self) -> None:
        self.records: list[Event] = []

    def __len__(self) -> int:
        return len(self.records)

    def digest(self) -> str:
        """A SHA-256 over every record, as hex; equal digests mean identical runs."""
        h = hashlib.sha256()
        for rec in self.records:
            h.update(tuple.__repr__(rec).encode())
            h.update(b"\n")
        return h.hexdigest()

    def lines(self, records: Iterable[Event] | None = None) -> list[str]:
        return [format_record(r) for r in (self.records if records is None else records)]

    def tail(self, n: int = 30, until: float | None = None) -> list[str]:
        recs = self.records if until is None else [r for r in self.records if r[0] <= until]
        return self.lines(recs[-n:])


def format_record(rec: Event) -> str:
    """One line of a trace listing: ``time node kind [-> peer|<- peer] [#ref] detail``."""
    t, kind, node, peer, detail, ref = rec
    arrow = f" -> {peer}" if kind == "send" else (f" <- {peer}" if peer else "")
    tag = f" #{ref}" if ref is not None else ""
    return f"{t:10.6f} {node:>4} {kind:<7}{arrow}{tag} {detail}"
