"""The trace of a run: every event, in order, and a digest that identifies the run.

``records`` holds the run's ``labkit.events.Event`` records (time, kind, node, peer, detail,
ref; see that module for what each field means). The simulator adds to it; a checker that
reacts to events subscribes (``Simulation.subscribe``) rather than reading it; reports and the
replay read it whole.

``digest()`` hashes the records; the same seed and the same code give the same digest, byte for
byte, and any behavioural difference changes it.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from .events import Event

_new = tuple.__new__   # Event(*fields) without NamedTuple's Python-level __new__


class Trace:
    """Every record of a run, in order.

    ``add(record)`` appends one: an ``Event``, or a plain tuple of its six fields, in order.
    The simulator adds tuples (building a NamedTuple costs about three times as much as a
    tuple, and most records are never read by name). ``records`` turns each tuple into its
    ``Event``, in place, and returns the list; ``entries`` is the same list as it stands, for
    a reader that names records itself (the simulator's feed to its subscribers).
    Invariant: ``entries[:_named]`` are ``Event`` records."""

    def __init__(self) -> None:
        self.entries: list[tuple] = []
        self._named = 0
        self.add = self.entries.append

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def records(self) -> list[Event]:
        """Every record, as ``Event`` records (the same list object for the whole run)."""
        entries = self.entries
        for i in range(self._named, len(entries)):
            if type(entries[i]) is not Event:
                entries[i] = _new(Event, entries[i])
        self._named = len(entries)
        return entries

    @records.setter
    def records(self, records: Iterable[Event]) -> None:
        self.entries[:] = records   # in place: ``add`` stays bound to this list
        self._named = 0

    def digest(self) -> str:
        """A SHA-256 over every record, as hex; equal digests mean identical runs."""
        h = hashlib.sha256()
        for rec in self.entries:   # a tuple's repr: the same for an Event and its plain tuple
            h.update(tuple.__repr__(rec).encode())
            h.update(b"\n")
        return h.hexdigest()

    def lines(self, records: Iterable[Event] | None = None) -> list[str]:
        return [format_record(r) for r in (self.entries if records is None else records)]

    def tail(self, n: int = 30, until: float | None = None) -> list[str]:
        recs = self.entries if until is None else [r for r in self.entries if r[0] <= until]
        return self.lines(recs[-n:])


def format_record(rec: Event) -> str:
    """One line of a trace listing: ``time node kind [-> peer|<- peer] [#ref] detail``."""
    t, kind, node, peer, detail, ref = rec
    arrow = f" -> {peer}" if kind == "send" else (f" <- {peer}" if peer else "")
    tag = f" #{ref}" if ref is not None else ""
    return f"{t:10.6f} {node:>4} {kind:<7}{arrow}{tag} {detail}"
