"""The progress bar of batch grading: submissions done / total, failures so far, time left.

On a terminal it is a ``rich`` progress bar (redrawn in place, notes printed above it):

    grading ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━  12/24  ok 10, not ok 2 (timeout 1, invalid 1)  0:02:05 ~0:02:05  alice:lab2, bob:lab1

When the output is not a terminal (CI, a pipe, a log file), or ``rich`` is not installed, there
is no bar: one plain line per finished submission instead, so the log stays readable:

    [12/24] bob: timeout  (2:05 elapsed)
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

OK = "ok"


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 24):
        self._total = total
        self.stream = stream
        self.width = width
        self.finished = 0
        self.counts: dict[str, int] = {}
        self.names: list[str] = []
        self.started = time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._bar = self._task = None
        if self.tty:
            try:
                self._start_rich()
            except ImportError:
                self.tty = False

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        console = Console(file=self.stream, force_terminal=True)
        self._bar = Bar(TextColumn("grading"), BarColumn(bar_width=self.width * 2),
                        MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
                        TimeElapsedColumn(), TextColumn("~"), TimeRemainingColumn(),
                        TextColumn("{task.fields[names]}"), console=console,
                        refresh_per_second=4)
        self._task = self._bar.add_task("grading", total=self._total or None, counts="",
                                        names="")
        self._bar.start()

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, value: int) -> None:
        self._total = value
        if self._bar is not None:
            self._bar.update(self._task, total=value or None)

    def running(self, names: list[str]) -> None:
        self.names = names
        if self._bar is not None:
            self._bar.update(self._task, names=self._names())

    def done(self, name: str, status: str) -> None:
        self.finished += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        if self._bar is not None:
            self._bar.update(self._task, completed=self.finished, counts=self.summary())
        else:
            self.stream.write(f"[{self.finished}/{self.total}] {name}: {status}  "
                              f"({_clock(time.monotonic() - self.started)} elapsed)\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def summary(self) -> str:
        """``ok 10, not ok 2 (timeout 1, invalid 1)``: the failures so far."""
        bad = {s: n for s, n in sorted(self.counts.items()) if s != OK}
        text = f"ok {self.counts.get(OK, 0)}"
        if bad:
            text += f", not ok {sum(bad.values())} (" + \
                ", ".join(f"{s} {n}" for s, n in bad.items()) + ")"
        return text

    def line(self) -> str:
        """The state in one line of text (what the bar shows)."""
        elapsed = time.monotonic() - self.started
        eta = ""
        if 0 < self.finished < self.total:
            eta = f", ~{_clock(elapsed / self.finished * (self.total - self.finished))} left"
        return (f"{self.finished}/{self.total}  {self.summary()}  {_clock(elapsed)} "
                f"elapsed{eta}  {self._names()}").rstrip()

    def _names(self) -> str:
        return ", ".join(self.names[:3]) + (", ..." if len(self.names) > 3 else "")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"
