"""A progress bar for batch grading, with no dependency.

On a terminal it redraws one line (``\\r``); in a log (CI, a pipe) it prints one line per
finished submission instead, so the log stays readable:

    [##########----------]  12/24  ok 10  timeout 1  invalid 1  2:05 elapsed, ~2:05 left  (alice, bob)
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 24):
        self.total = total
        self.stream = stream
        self.width = width
        self.finished = 0
        self.counts: dict[str, int] = {}
        self.names: list[str] = []
        self.started = time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def running(self, names: list[str]) -> None:
        self.names = names
        if self.tty:
            self._draw()

    def done(self, name: str, status: str) -> None:
        self.finished += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.tty:
            self._draw()
        else:
            self.stream.write(f"[{self.finished}/{self.total}] {name}: {status}  "
                              f"({_clock(time.monotonic() - self.started)} elapsed)\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        total = max(self.total, 1)
        filled = round(self.width * self.finished / total)
        bar = "#" * filled + "-" * (self.width - filled)
        counts = "  ".join(f"{s} {n}" for s, n in sorted(self.counts.items()))
        elapsed = time.monotonic() - self.started
        eta = ""
        if 0 < self.finished < self.total:
            eta = f", ~{_clock(elapsed / self.finished * (self.total - self.finished))} left"
        names = f"  ({', '.join(self.names[:3])}{', ...' if len(self.names) > 3 else ''})" \
            if self.names else ""
        return (f"[{bar}] {self.finished:>3}/{self.total}  {counts}  {_clock(elapsed)} "
                f"elapsed{eta}{names}")

    def _draw(self) -> None:
        self.stream.write("\r\x1b[2K" + self.line()[:160])
        self.stream.flush()

    def _clear(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"
