"""The grader kit: the pieces every lab's harness needs, so that a harness keeps only what is
its lab's (its requests, its workload's mix, its properties).

* ``closed_loop``: clients that each send their next request once the previous one ended;
* ``describe_op``: ``op#7 (write x='a' on n3, called at t=0.100s) replied {...} after 0.012 s``;
* ``require_linearizable``: a linearizability verdict as a graded property, with the evidence;
* ``ShrinkBudget``: a deterministic bound on how many runs Hypothesis' shrinker may spend;
* ``run_without_faults_first``: the run with no fault, before Hypothesis starts.

The Hypothesis profile is ``labkit.strategies.grading_settings`` (its phases included); the
"run it again" command is ``labkit.grading.scenario.replay_command``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from ..errors import PropertyViolation, StudentCodeError
from ..history import FAIL, OK, Operation
from ..simulator import Simulation
from .history_view import linearizability_details


def closed_loop(sim: Simulation, starts: Iterable[tuple[str, float]],
                request: Callable[[str], Operation | None], *, until: float,
                pause: float | Callable[[], float] = 0.0, retry: float = 0.0) -> None:
    """Closed-loop clients. Client ``c`` of ``starts`` (``(c, time)`` pairs, scheduled in that
    order) calls ``request(c)`` at its time, which sends its next operation and returns it;
    ``pause`` seconds after that operation ends (a number, or a function that draws one at the
    call), the next. No operation starts at or after ``until``. ``request`` returns None when
    there is nobody to ask right now: the client tries again ``retry`` seconds later."""

    def issue(client: str) -> None:
        if sim.now >= until:
            return
        op = request(client)
        if op is None:
            sim.after(retry, lambda: issue(client))
            return
        delay = pause() if callable(pause) else pause
        op.then(lambda _: sim.after(delay, lambda: issue(client)))

    for client, at in starts:
        sim.at(at, lambda c=client: issue(c))


def describe_op(op: Operation, what: str, pending: str = "has no reply yet") -> str:
    """``op#7 ({what} on n3, called at t=0.100s) replied {...} after 0.012 s``, or that it got
    no reply within the client's timeout, or ``pending`` while it may still get one."""
    if op.status in (OK, FAIL):
        outcome = f"replied {op.output} after {op.latency:.3f} s"
    elif op.done:
        outcome = f"got no reply within the client's {op.timeout:g} s"
    else:
        outcome = pending
    return f"op#{op.id} ({what} on {op.node}, called at t={op.call:.3f}s) {outcome}"


def require_linearizable(sim: Simulation, result: Any, *, prop: str, note: str = "",
                         at_blocked_return: bool = False,
                         op_ids: Sequence[int | None] | None = None) -> None:
    """The verdict of a linearizability check (``labkit.linearizability.check``) as a graded
    property: nothing for "ok", else ``PropertyViolation(prop)`` with the checker's
    explanation and ``note``; "illegal" at ``sim.now`` (at the blocked operation's return if
    ``at_blocked_return``), and "unknown", which is never a pass, at ``sim.now``. An illegal
    verdict carries the failing keys' histories for the trace viewer (``history_view``;
    ``op_ids`` maps the checked operations to ``sim.history``, by default op#k at position k)."""
    if result.verdict == "ok":
        return
    if result.verdict == "illegal":
        when = sim.now
        if at_blocked_return:
            blocked = result.failures[0].blocked
            when = blocked.ret if blocked is not None and blocked.ret is not None else sim.now
        details = {"linearizability": linearizability_details(result, op_ids, sim.history)}
        raise PropertyViolation(prop, "\n" + result.describe() + note, time=when,
                                details=details)
    raise PropertyViolation(prop, "the checker could not decide (unknown is not a pass):\n"
                            + result.describe() + note, time=sim.now)


class ShrinkBudget:
    """Bounds the work Hypothesis spends shrinking a failure, deterministically (by runs, not
    by time). Once a schedule has failed, at most ``runs`` new schedules are really run; the
    others count as passing, so the shrinker stops soon with the smallest failure found so far.
    Schedules known to fail always run again, so the final replay fails as it should."""

    def __init__(self, runs: int = 60) -> None:
        self.runs = runs
        self.failing: set = set()
        self.spent = 0

    def skip(self, key: Any) -> bool:
        if not self.failing or key in self.failing:
            return False
        self.spent += 1
        return self.spent > self.runs

    def failed(self, key: Any) -> None:
        self.failing.add(key)


def run_without_faults_first(run: Callable[[], Any], *, only_unfinished: bool = False) -> None:
    """``run()``, the graded run with no fault, before Hypothesis starts: code that fails even
    then fails at once, with a plain message, instead of after a long and useless search and
    shrink. With ``only_unfinished``, only "not implemented yet" fails here; any other trouble
    is left to the generated test, which reports it with its fault schedule."""
    try:
        run()
    except StudentCodeError as exc:
        if not only_unfinished or exc.not_implemented:
            raise
    except Exception:  # noqa: BLE001 - the generated test reports it properly
        if not only_unfinished:
            raise
