"""Failure context for graded runs: every failure says what broke, the seed, the faults, the
last events and how to run it again.

    with scenario(sim, seed=seed, schedule=schedule):
        sim.run_until(5.0)
        check_converged(sim)          # raises PropertyViolation / AssertionError

Any ``PropertyViolation``, ``AssertionError``, ``BudgetExceeded`` or ``StudentCodeError`` raised
inside the block is re-raised as ``ScenarioFailure`` (an AssertionError) whose message adds the
seed, the fault schedule, the trace's last events and a replay command. The original exception
stays attached as ``__cause__`` (so "not implemented yet" is still recognised).
"""

from __future__ import annotations

import os
import shlex
from contextlib import contextmanager
from typing import Iterable, Iterator

from ..errors import BudgetExceeded, PropertyViolation, StudentCodeError
from ..faults import format_schedule
from ..simulator import Simulation
from . import failures


class ScenarioFailure(AssertionError):
    """A graded run failed; ``str()`` is the full student-facing explanation."""

    def __init__(self, message: str, *, seed: int | None, schedule: tuple, digest: str,
                 prop: str = ""):
        super().__init__(message)
        self.seed = seed
        self.schedule = schedule
        self.digest = digest
        self.prop = prop
        self.capture = None  # set by scenario(): the run, for the failure record


def current_test() -> str:
    """``path::name`` of the running pytest test (without the "(call)" suffix)."""
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]


RUN_OPTIONS: list[str] = []
"""The options of this grading run that a student must repeat to run one test again
(``--impl``, ``--sandbox``, ``-m``, ``-o``...): set by the grading plugin at start-up."""

# what nox -s grade adds by itself, and what names the tests to run (replaced by -k)
_IMPLIED = {"-q", "--no-header", "-rN", "--tb=no", "-p", "no:cacheprovider"}
_SELECTING = {"-k"}


def run_options(args: Iterable[str]) -> list[str]:
    """``args`` (pytest's command line) without test paths, -k and what nox adds itself."""
    out: list[str] = []
    args = list(args)
    i = 0
    while i < len(args):
        arg = args[i]
        takes_value = arg in ("--impl", "--report-dir", "-m", "-o", "--timeout", "-k", "-p")
        value = args[i + 1] if takes_value and i + 1 < len(args) else None
        i += 2 if takes_value else 1
        if arg in _SELECTING or (arg == "-p" and value == "no:cacheprovider") or arg in _IMPLIED:
            continue
        if not arg.startswith("-"):
            continue                                   # a test path: the lab name replaces it
        if arg == "--impl" and value == "starter":
            continue                                   # the default
        out += [arg] + ([value] if value is not None else [])
    return out


def replay_command() -> str:
    test = current_test()
    if not test:
        return ""
    path, _, name = test.partition("::")
    lab = next((p for p in path.split("/") if p.startswith("lab")), "")
    short = lab.split("_")[0]
    extra = "".join(f" {shlex.quote(a)}" for a in RUN_OPTIONS)
    return f"nox -s grade -- {short} -k '{name.split('[')[0]}'{extra}"


@contextmanager
def scenario(sim: Simulation, *, seed: int | None = None, schedule: Iterable = (),
             events: int = 25) -> Iterator[Simulation]:
    schedule = tuple(schedule)
    try:
        yield sim
    except (PropertyViolation, AssertionError, BudgetExceeded, StudentCodeError) as exc:
        if isinstance(exc, ScenarioFailure):
            raise
        if isinstance(exc, StudentCodeError) and exc.not_implemented:
            raise  # the plugin shows "not implemented yet"; a trace would only distract
        message = explain(exc, sim, seed, schedule, events)
        cap = failures.capture(sim, seed, schedule, exc, message)
        cap.shown = _minimal(exc, sim, schedule)[0]
        failure = ScenarioFailure(message, seed=seed, schedule=schedule,
                                  digest=sim.trace.digest(),
                                  prop=getattr(exc, "prop", type(exc).__name__))
        failure.capture = cap  # the record of *this* failure travels with it
        raise failure from exc


def _minimal(exc: BaseException, sim: Simulation, schedule: tuple) -> tuple[tuple, int, int]:
    """The schedule as the student should read it (``failures.minimal_schedule``)."""
    at = getattr(exc, "time", None)
    try:
        return failures.minimal_schedule(schedule, sim, sim.now if at is None else at)
    except Exception:  # noqa: BLE001 - a schedule we cannot follow is shown whole
        return tuple(schedule), 0, 0


def explain(exc: BaseException, sim: Simulation, seed: int | None, schedule: tuple,
            events: int = 25) -> str:
    lines = [str(exc).rstrip()]
    if seed is not None:
        lines.append(f"seed: {seed}   nodes: {', '.join(sim.node_ids)}   "
                     f"virtual time reached: {sim.now:.3f}s")
    if schedule:
        shown, noop, late = _minimal(exc, sim, schedule)
        left = [f"{noop} that changed nothing"] * bool(noop) + \
            [f"{late} after the failure"] * bool(late)
        lines.append("fault schedule:" + (f" (left out: {' and '.join(left)})" if left else ""))
        lines.append(format_schedule(shown, sim))
    at = getattr(exc, "time", None)  # a checker that runs after the run says when it broke
    tail = sim.trace.tail(events, until=at)
    if tail:
        lines.append(f"last {len(tail)} events{'' if at is None else f' up to t={at:.3f}s'} "
                     f"(time, node, event):")
        lines += [f"  {line[:160]}" for line in tail]
    replay = replay_command()
    if replay:
        lines.append(f"run it again: {replay}")
    return "\n".join(lines)
