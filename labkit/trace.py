"""The trace of a run: every event, in order, and a digest that identifies the run.

A record is a tuple ``(time, kind, node, peer, detail, ref)``:

* ``time``: virtual seconds; ``kind``: one of ``KINDS``;
* ``node``: the node the event happened at (the sender for ``send``); ``peer``: the other node
  (the destination of a ``send``, the sender of a ``deliver``), or "";
* ``detail``: a short string (message JSON, timer name, log text, fault description);
* ``ref``: a message id linking ``send``/``deliver``/``drop``, or an operation id, or None.

``digest()`` hashes the records; the same seed and the same code give the same digest, byte for
byte, and any behavioural difference changes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

KINDS = ("send", "deliver", "drop", "timer", "request", "reply", "timeout", "crash", "restart",
         "pause", "resume", "fault", "log", "apply", "error", "start", "state")

Record = tuple  # (time, kind, node, peer, detail, ref)


class Trace:
    def __init__(self) -> None:
        self.records: list[Record] = []

    def add(self, time: float, kind: str, node: str, peer: str = "", detail: str = "",
            ref: int | None = None) -> None:
        self.records.append((time, kind, node, peer, detail, ref))

    def __len__(self) -> int:
        return len(self.records)

    def digest(self) -> str:
        """A SHA-256 over every record, as hex; equal digests mean identical runs."""
        h = hashlib.sha256()
        for rec in self.records:
            h.update(tuple.__repr__(rec).encode())
            h.update(b"\n")
        return h.hexdigest()

    def lines(self, records: Iterable[Record] | None = None) -> list[str]:
        return [format_record(r) for r in (self.records if records is None else records)]

    def tail(self, n: int = 30, until: float | None = None) -> list[str]:
        recs = self.records if until is None else [r for r in self.records if r[0] <= until]
        return self.lines(recs[-n:])

    def write_jsonl(self, path: str | Path) -> Path:
        """Write one JSON object per record to ``path`` (created with its folder)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as f:
            for t, kind, node, peer, detail, ref in self.records:
                f.write(json.dumps({"time": t, "kind": kind, "node": node, "peer": peer,
                                    "detail": detail, "ref": ref}) + "\n")
        return path


def format_record(rec: Record) -> str:
    t, kind, node, peer, detail, ref = rec
    arrow = f" -> {peer}" if kind == "send" else (f" <- {peer}" if peer else "")
    tag = f" #{ref}" if ref is not None else ""
    return f"{t:10.6f} {node:>4} {kind:<7}{arrow}{tag} {detail}"
