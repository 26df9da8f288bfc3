"""A search's verdict as a graded test sees it: the shortest counterexample becomes a failure
record like any other run's (``reports/failures/<id>.json`` and the trace viewer page, written
by the grading plugin), and a search a bound stopped early is never a pass.

    result = expect_no_violation(space, depth=6, max_states=50_000, max_seconds=60,
                                 rerun="nox -s search -- lab2 --test election_safety")

On a violation it rebuilds the path from a fresh start state (``bfs.rebuild``: the same steps,
recorded as ``labkit.events.Event`` records, one step per virtual millisecond) and raises
``ScenarioFailure`` with a ``labkit.grading.failures.Capture`` attached, so the plugin writes
the record, re-runs the test to check the digest, and ``nox -s replay -- <id>`` runs the test
again: the search is deterministic, so it finds the same path and the same trace, byte for
byte. Before it raises, it checks that the rebuilt path ends in the state the search reached
(same fingerprint): the trace shown is the run that broke the invariant.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from ..events import Event
from ..history import OK, PENDING, Operation
from ..trace import Trace
from .bfs import Result, Space, _check, fingerprint, rebuild, search
from .world import STEP, enabled

#: ``nox -s replay`` puts a search failure's recorded steps here (JSON): the test then rebuilds
#: exactly that path, with no new search (``labkit.replay``)
REPLAY_PATH_ENV = "LABKIT_SEARCH_PATH"


class SearchRun:
    """What a failure record reads of a run (``failures.to_record``), for a rebuilt path."""

    def __init__(self, node_ids: Sequence[str], records: list[Event], history: list[Operation]):
        self.node_ids = tuple(node_ids)
        self.trace = Trace()
        self.trace.records = list(records)
        self.history = history
        self.now = records[-1].time if records else 0.0


def describe_step(step: tuple) -> str:
    kind = step[0]
    if kind == "deliver":
        return f"{step[1]} <- {step[2]}: {_short(step[3])}"
    if kind == "timer":
        return f"{step[1]}: timer {step[2]!r} fires"
    if kind == "request":
        return f"{step[1]}: gets client operation op#{step[2]}"
    if kind == "crash":
        return f"{step[1]} crashes"
    if kind == "restart":
        return f"{step[1]} restarts over its storage"
    if kind == "drop":
        return f"the network drops {step[2]} -> {step[1]}: {_short(step[3])}"
    if kind == "duplicate":
        return f"the network duplicates {step[2]} -> {step[1]}: {_short(step[3])}"
    return repr(step)


def _short(data: str, limit: int = 110) -> str:
    return data if len(data) <= limit else data[:limit - 3] + "..."


def history_of(records: list[Event], inputs: dict[int, str]) -> list[Operation]:
    """The client operations of a rebuilt path, from its request and reply events."""
    ops: dict[int, Operation] = {}
    for ev in records:
        if ev.kind == "request" and ev.ref not in ops:
            ops[ev.ref] = Operation(ev.ref, "client", ev.node, json.loads(inputs[ev.ref]),
                                    ev.time, 0.0)
        elif ev.kind == "reply" and ev.ref in ops and ops[ev.ref].status == PENDING:
            out = json.loads(ev.detail)
            if "error" not in out:
                op = ops[ev.ref]
                op.output, op.status, op.ret, op.node = out, OK, ev.time, ev.node
    return [ops[k] for k in sorted(ops)]


def counterexample(space: Space, result: Result) -> tuple[SearchRun, str]:
    """The rebuilt run of ``result.path`` and the listing of its steps."""
    world, records = rebuild(space, result.path)
    if result.verdict == "violated" and fingerprint(world) != result.final:
        raise AssertionError("labkit bug: the rebuilt path ends in another state than the "
                             "search reached (a step is not deterministic)")
    run = SearchRun(space.node_ids, records, history_of(records, world.inputs))
    steps = "\n".join(f"  {i:2}. {describe_step(s)}" for i, s in enumerate(result.path, 1))
    return run, steps


def replay_path(space: Space, path: list[tuple], bounds: dict) -> Result:
    """The recorded ``path`` run again with no search: "violated" if its last state breaks an
    invariant now, "ok" (stopped by "depth") if it no longer does."""
    from ..errors import StudentCodeError
    from .world import SearchRuntime, apply_step

    rt = SearchRuntime(space.node_ids)
    world = space.start(rt)
    for i, step in enumerate(path, 1):
        if step not in enabled(world, space.node_ids, space.quiet):
            raise AssertionError(f"the recorded path cannot be run again: its step {i} "
                                 f"({describe_step(step)}) cannot happen now (the code "
                                 f"changed since it was recorded)")
        try:
            apply_step(rt, world, space.node_class, step)
        except StudentCodeError as exc:
            if exc.not_implemented:
                raise
            return Result("error", i, i, 0.0, "", bounds, tuple(path[:i]), error=exc)
    hit = _check(space, world)
    if hit is None:
        return Result("ok", len(path), len(path), 0.0, "depth", bounds)
    return Result(hit[0], len(path), len(path), 0.0, "", bounds, tuple(path), hit[1], hit[2],
                  final=fingerprint(world), replayed=True)


def expect_graded(search: Any, lab: Any, lab_name: str, depth: int | None = None) -> Result:
    """A graded search test: ``search`` is a lab's search spec (``name``, ``depth``,
    ``max_states``, ``max_seconds``, ``reference_states`` and ``build(lab) -> Space``), run on
    ``lab`` (the code under test) with ``expect_no_violation``; a failure names the
    ``nox -s search -- <lab_name>`` command that searches it again and what the reference
    explores."""
    depth = search.depth if depth is None else depth
    return expect_no_violation(
        search.build(lab), depth=depth, max_states=search.max_states,
        max_seconds=search.max_seconds,
        rerun=f"nox -s search -- {lab_name} --test {search.name} --depth {depth}",
        reference=f"(The reference explores {search.reference_states:,} states.) "
        if search.reference_states else "")


def expect_no_violation(space: Space, *, depth: int, max_states: int, max_seconds: float | None,
                        rerun: str = "", reference: str = "") -> Result:
    """Search ``space``; return the result when no invariant breaks within the bounds, raise
    a failure (with its record) when one does, or an ``AssertionError`` when a bound other
    than the depth stopped the search (an unfinished search proves nothing)."""
    from ..errors import PropertyViolation
    from ..grading import failures
    from ..grading.scenario import ScenarioFailure, replay_command

    recorded = os.environ.get(REPLAY_PATH_ENV)
    if recorded:
        result = replay_path(space, [tuple(s) for s in json.loads(recorded)],
                             {"depth": depth, "max_states": max_states,
                              "max_seconds": max_seconds})
    else:
        result = search(space, depth=depth, max_states=max_states, max_seconds=max_seconds)
    if result.verdict == "ok":
        if not result.complete:
            raise AssertionError(
                f"the search did not finish, so it proves nothing: {result.summary()}. "
                f"{reference}Nodes whose fields differ in every state (a counter, a "
                f"timestamp, a list that only grows) make many more distinct states; keep "
                f"only what the protocol needs.")
        return result
    run, steps = counterexample(space, result)
    lines = [result.summary(),
             f"the {len(result.path)} steps (breadth-first search: no shorter sequence of "
             f"deliveries, timers, client operations and faults breaks it):", steps]
    tail = run.trace.tail(30)
    if tail:
        lines.append(f"last {len(tail)} events of that run (time, node, event; one step per "
                     f"virtual millisecond):")
        lines += [f"  {line[:160]}" for line in tail]
    again = replay_command()
    if again:
        lines.append(f"run it again: {again}")
    if rerun:
        lines.append(f"search it yourself: {rerun}")
    message = "\n".join(lines)
    prop, evidence = result.predicate, result.evidence
    if result.verdict == "error":   # a handler raised: its message, file and line, and the path
        prop, evidence = "a handler raised", str(result.error).splitlines()[0]
    exc = PropertyViolation(prop, evidence, time=len(result.path) * STEP)
    cap = failures.Capture(sim=run, seed=None, schedule=(), prop=prop,
                           evidence=evidence, message=message,
                           time=len(result.path) * STEP,
                           details={"search": {"steps": [list(s) for s in result.path],
                                               "states": result.states,
                                               "bounds": result.bounds}})
    failure = ScenarioFailure(message, seed=None, schedule=(), digest=run.trace.digest(),
                              prop=prop)
    failure.capture = cap
    raise failure from (result.error or exc)
