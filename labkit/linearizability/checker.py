"""The linearizability checker: is there one order of the operations that explains everything?

A history is linearizable when every operation can be given a single instant between its call
and its return such that, taken in the order of those instants, the operations are a legal run of
the model. ``check`` searches for such an order, one partition of the history at a time.

The search for one partition is in ``search`` (Wing & Gong, with Lowe's memoization, as in
Porcupine; its module docstring states the invariants). Here: the rounds over partitions, the
verdict, and the explanation a student reads.

* Partitions (``Model.partition``, P-compositionality: a key-value store is linearizable iff
  every key is) are searched in rounds: round r gives every undecided partition
  ``FIRST_ROUND * 2**r`` more steps, up to ``max_steps`` in all. An easy partition is decided
  in the first rounds whatever the hard ones cost, and the first illegal partition ends the
  check (one illegal key decides the verdict); ``every_partition=True`` decides them all.
* Operations with status ``"unknown"`` (timed out) have no return, so they are never required:
  the search may place them anywhere after their call, or leave them out. It succeeds when
  every ``"ok"`` operation has been placed. Before the search the model may drop those nobody
  could have observed (``Model.unobserved``: a write whose value no read returned). Which of
  the rest to try first depends on the history: late, after every required operation that
  could go instead (``"required_first"``: wins when most timed-out operations never took
  effect, as in the Jepsen etcd histories), or in the order of their calls (``"call_order"``,
  Porcupine's: wins when a timed-out write was read later). A partition with timed-out
  operations runs both, taking turns in each round; the first to decide gives the verdict,
  and both count against the partition's budget.
* What stays expensive: proving a history illegal when many operations overlap the read that
  nothing explains, above all timed-out writes whose values were read, or appends (a state
  that records their order): the search may have to try every order of them. Correct
  histories are cheap, as an order that works is usually among the first tried.

The search is iterative (histories of thousands of operations) and deterministic: the same
history always takes the same steps. A partition's verdict is ``"unknown"`` when it used
``max_steps`` model steps (counted, so the cut-off is reproducible), when the check stopped at
an illegal partition before it was decided, or, as a safety net only, when ``timeout``
wall-clock seconds have passed. **Unknown is never a pass.**

When a partition is illegal, the search reports the furthest point in time it could explain: the
operation whose return no order could get past (``blocked``), the longest order it found up to
that point, and why none of the operations still open could come next.
"""

from __future__ import annotations

import gc
import time as _time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .model import FAIL, OK, UNKNOWN, Model, Op, State
from .search import STRATEGIES, Search

OK_VERDICT, ILLEGAL, UNDECIDED = "ok", "illegal", "unknown"

DEFAULT_MAX_STEPS = 1_000_000
"""Model steps one partition may take before its verdict is "unknown"."""

FIRST_ROUND = 1_000
"""Steps each undecided partition (and strategy) gets in the first round; doubled each round."""

_CLOCK_EVERY = 4096          # steps between two looks at the wall clock


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Candidate:
    """An operation that was open at the point of failure, and why it could not come next."""

    op: Op
    index: int
    reason: str


@dataclass(frozen=True)
class PartitionResult:
    """The verdict for one independent part of the history (one key of a key-value store).

    ``ops`` are the partition's operations the search considered (failed ones are dropped, and
    so are timed-out ones the model says nobody could observe); ``indices[k]`` is the position
    of ``ops[k]`` in the list given to ``check``. ``steps`` counts model steps.

    ``ok``: ``linearization`` is one order that explains the partition (it includes the
    ``"unknown"`` operations the search chose to let take effect).
    ``illegal``: ``blocked`` is the operation whose return no order could get past;
    ``linearization`` is the longest order found up to it, ending in ``state``;
    ``candidates`` are the operations open at that point, each with why it could not go next.
    ``unknown``: ``reason`` says which budget ran out, or that the check stopped at another,
    illegal partition first; ``blocked``, ``linearization`` and ``state`` show the furthest
    point the search had reached (no proof of anything).
    ``strategy``: which order of the timed-out operations decided it (see ``check``), or "".
    """

    label: str
    verdict: str
    ops: tuple[Op, ...]
    indices: tuple[int, ...]
    steps: int
    linearization: tuple[Op, ...] = ()
    state: State = None
    blocked: Op | None = None
    candidates: tuple[Candidate, ...] = ()
    reason: str = ""
    strategy: str = ""

    def index_of(self, op: Op) -> int:
        """Position of ``op`` (one of ``ops``) in the history given to ``check``."""
        for k, mine in enumerate(self.ops):
            if mine is op:
                return self.indices[k]
        raise ValueError(f"{op!r} is not an operation of this partition")


@dataclass(frozen=True)
class Result:
    """The verdict for a whole history.

    ``verdict`` is ``"ok"`` (every partition explained), ``"illegal"`` (some partition cannot be
    explained by any order; see ``failures``) or ``"unknown"`` (no partition is illegal but the
    search budget ran out on at least one). Only ``"ok"`` is a pass.
    """

    verdict: str
    partitions: tuple[PartitionResult, ...]
    model: Model

    @property
    def ok(self) -> bool:
        return self.verdict == OK_VERDICT

    @property
    def steps(self) -> int:
        return sum(p.steps for p in self.partitions)

    @property
    def failures(self) -> tuple[PartitionResult, ...]:
        """The illegal partitions, in history order."""
        return tuple(p for p in self.partitions if p.verdict == ILLEGAL)

    @property
    def undecided(self) -> tuple[PartitionResult, ...]:
        """The partitions left "unknown" (budget, timeout, or the check stopped before them)."""
        return tuple(p for p in self.partitions if p.verdict == UNDECIDED)

    def describe(self, max_ops: int = 12) -> str:
        """Readable text for a student: the verdict and, if it is not ok, the evidence."""
        return _describe(self, max_ops)


# --------------------------------------------------------------------------------------------
# Entry point


def check(model: Model, ops: Iterable[Any], timeout: float | None = None, *,
          max_steps: int = DEFAULT_MAX_STEPS, every_partition: bool = False,
          strategies: Sequence[str] | None = None) -> Result:
    """Check that ``ops`` is a linearizable history of ``model``.

    ``ops`` are ``Op`` values, or any records with the same attributes (``client``, ``input``,
    ``output``, ``call``, ``ret``, ``status``; a status of ``"pending"`` counts as unknown).
    Operations with status ``"fail"`` are dropped: they had no effect. So are timed-out ones
    for which ``model.unobserved`` says so.

    Each partition the model defines may take at most ``max_steps`` model steps (a microsecond
    or so each) before its verdict is ``"unknown"``. The partitions are searched in rounds, each
    round giving every undecided partition twice the steps of the last, so a hard partition
    cannot starve the easy ones. The search stops at the first illegal partition (the verdict
    is then "illegal" whatever the others are; those not finished are left ``"unknown"``)
    unless ``every_partition`` is true, which searches every partition to its verdict.

    ``strategies`` (default: both of ``search.STRATEGIES`` for partitions with timed-out
    operations, which take turns and the first to decide wins; the first alone otherwise) picks
    the orders tried for timed-out operations. ``timeout`` (wall seconds, for the whole
    history) is a safety net, not a budget to rely on, since it makes the verdict depend on the
    machine.
    """
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0; got {max_steps}")
    for name in strategies or ():
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}: expecting one of "
                             f"{', '.join(STRATEGIES)}")
    history = [_as_op(record) for record in ops]
    position = {id(op): k for k, op in enumerate(history)}
    live = [op for op in history if op.status != FAIL]
    deadline = None if timeout is None else _time.monotonic() + timeout

    parts = []
    for whole in model.partition(live):
        part = [op for op in whole if op.status == OK or not model.unobserved(op, whole)]
        parts.append(_Part(model.describe_partition(whole), part,
                           tuple(position[id(op)] for op in part)))
    collecting = gc.isenabled()
    gc.disable()        # millions of small objects and no cycles: the collector only costs time
    try:
        _schedule(model, parts, max_steps, every_partition, strategies, deadline, timeout)
    finally:
        if collecting:
            gc.enable()
    results = tuple(part.result for part in parts)
    verdicts = {p.verdict for p in results}
    verdict = (ILLEGAL if ILLEGAL in verdicts else UNDECIDED if UNDECIDED in verdicts
               else OK_VERDICT)
    return Result(verdict, results, model)


def _as_op(record: Any) -> Op:
    if isinstance(record, Op):
        return record
    status = record.status if record.status in (OK, FAIL) else UNKNOWN
    return Op(record.client, record.input, record.output, record.call,
              record.ret if status == OK else None, status)


# --------------------------------------------------------------------------------------------
# Rounds over the partitions


class _Part:
    """One partition on its way to a verdict: its searches (one per strategy) and steps used."""

    def __init__(self, label: str, ops: list[Op], indices: tuple[int, ...]):
        self.label, self.ops, self.indices = label, ops, indices
        self.searches: list[Search] = []
        self.used = 0
        self.result: PartitionResult | None = None


def _schedule(model: Model, parts: list[_Part], max_steps: int, every_partition: bool,
              strategies: Sequence[str] | None, deadline: float | None,
              timeout: float | None) -> None:
    """Give every partition a result: rounds of doubling budgets until each is decided."""
    for part in parts:
        names = strategies or (STRATEGIES if any(op.status != OK for op in part.ops)
                               else STRATEGIES[:1])
        part.searches = [Search(model, part.ops, name) for name in names]
    budget = FIRST_ROUND
    open_parts = list(parts)
    stopped = ""                                   # why the rounds ended early, if they did
    while open_parts and not stopped:
        still_open = []
        for part in open_parts:
            if not stopped and deadline is not None and _time.monotonic() > deadline:
                stopped = f"the wall-clock timeout of {timeout} s passed"
            if stopped:
                still_open.append(part)
                continue
            winner = None
            for search in part.searches:
                give = min(budget, max_steps - part.used)
                if give <= 0:
                    break
                before = search.steps
                done = _advance(search, give, deadline)
                part.used += search.steps - before
                if done:
                    winner = search
                    break
                if deadline is not None and _time.monotonic() > deadline:
                    stopped = f"the wall-clock timeout of {timeout} s passed"
                    break
            if winner is not None:
                part.result = _decided(model, part, winner)
                if part.result.verdict == ILLEGAL and not every_partition:
                    stopped = (f"the search stopped at the first partition found not "
                               f"linearizable ({part.label or 'the history'})")
            elif part.used >= max_steps:
                part.result = _undecided(model, part, f"the search budget of {max_steps:,} "
                                                      f"steps ran out")
            else:
                still_open.append(part)
        open_parts = still_open
        budget *= 2
    for part in open_parts:
        part.result = _undecided(model, part, stopped)
    for part in parts:
        for search in part.searches:
            search.close()
        part.searches = []


def _advance(search: Search, steps: int, deadline: float | None) -> bool:
    """``search.advance(steps)``, looking at the clock every few thousand steps if asked."""
    if deadline is None:
        return search.advance(steps)
    target = search.steps + steps
    while search.steps < target:
        if search.advance(min(_CLOCK_EVERY, target - search.steps)):
            return True
        if _time.monotonic() > deadline:
            return False
    return False


def _decided(model: Model, part: _Part, search: Search) -> PartitionResult:
    if search.verdict == OK_VERDICT:
        return PartitionResult(part.label, OK_VERDICT, tuple(part.ops), part.indices,
                               part.used, linearization=tuple(part.ops[i] for i in search.order),
                               state=search.state, strategy=search.strategy)
    return _evidence(model, part, ILLEGAL, search)


def _undecided(model: Model, part: _Part, reason: str) -> PartitionResult:
    furthest = max(part.searches, key=lambda s: (s.frontier, s.depth), default=None)
    return _evidence(model, part, UNDECIDED, furthest, reason)


def _evidence(model: Model, part: _Part, verdict: str, search: Search | None,
              reason: str = "") -> PartitionResult:
    """The furthest dead end: the order that reached it, the op it blocks on, what was open."""
    ops = part.ops
    if search is None or search.frontier < 0:
        return PartitionResult(part.label, verdict, tuple(ops), part.indices, part.used,
                               reason=reason)
    frontier, order, state = search.frontier, search.order, search.state
    placed = set(order)
    candidates = []
    open_ops = [] if verdict != ILLEGAL else sorted(
        (i for i in range(len(ops)) if i not in placed and search.call_entry[i] < frontier),
        key=search.call_entry.__getitem__)
    for i in open_ops:
        output = ops[i].output if search.must[i] else None
        legal, new_state = model.step(state, ops[i].input, output)
        if not legal:
            why = "cannot take effect here"
        elif not search.must[i] and new_state == state:
            why = "timed out; taking effect here would change nothing"
        else:
            why = "could take effect here, but every order of the rest fails after it"
        candidates.append(Candidate(ops[i], part.indices[i], why))
    return PartitionResult(part.label, verdict, tuple(ops), part.indices, part.used,
                           linearization=tuple(ops[i] for i in order), state=state,
                           blocked=ops[search.entry_op[frontier]],
                           candidates=tuple(candidates), reason=reason,
                           strategy=search.strategy if verdict == ILLEGAL else "")


# --------------------------------------------------------------------------------------------
# Explanations


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "no reply"
    if isinstance(t, int):
        return str(t)
    return f"{t:.3f}"


def _fmt_op(model: Model, op: Op, index: int) -> str:
    output = op.output if op.status == OK else None
    what = model.describe_op(op.input, output)
    ret = _fmt_time(op.ret if op.status == OK else None)
    return f"#{index:<4} client {op.client!s:<6} [{_fmt_time(op.call)} .. {ret}]  {what}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _describe(result: Result, max_ops: int) -> str:
    model = result.model
    n_ops = sum(len(p.ops) for p in result.partitions)
    n_parts = len(result.partitions)
    parts = f" in {n_parts} {model.part}s" if n_parts > 1 else ""
    if result.verdict == OK_VERDICT:
        return (f"linearizable: {_count(n_ops, 'operation')}{parts} explained by the "
                f"{model.name} model.")
    lines = []
    failures = result.failures
    if failures:
        lines.append(f"NOT LINEARIZABLE: {len(failures)} of {n_parts} {model.part}s cannot be "
                     f"explained by any order of the operations ({model.name} model)."
                     if n_parts > 1 else
                     f"NOT LINEARIZABLE: no order of the {_count(n_ops, 'operation')} explains "
                     f"what the clients saw ({model.name} model).")
        lines.append("")
        lines.extend(_describe_illegal(model, failures[0], max_ops))
        if len(failures) > 1:
            others = ", ".join(p.label or "?" for p in failures[1:6])
            more = f" and {len(failures) - 6} more" if len(failures) > 6 else ""
            lines += ["", f"Also not linearizable: {others}{more}."]
        undecided = result.undecided
        if undecided:
            names = ", ".join(p.label or "?" for p in undecided[:6])
            more = f" and {len(undecided) - 6} more" if len(undecided) > 6 else ""
            lines += ["", f"The checker stopped there (one illegal part decides); not checked "
                          f"to the end: {names}{more}."]
        return "\n".join(lines)
    for p in result.partitions:
        if p.verdict != UNDECIDED:
            continue
        where = f" for {p.label}" if p.label else ""
        lines.append(f"UNDECIDED{where}: {p.reason} before the checker could decide "
                     f"({_count(len(p.ops), 'operation')}).")
        if p.blocked is not None:
            lines.append(f"  The furthest it got: no order tried so far gets past time "
                         f"{_fmt_time(p.blocked.ret)}, when this operation returned:")
            lines.append("    " + _fmt_op(model, p.blocked, p.index_of(p.blocked)))
    lines += ["", "Unknown is not a pass. Correct systems are checked well within budget; a "
              "search this long usually means many operations overlap in time, often "
              "because many requests timed out (each one may or may not have taken effect), "
              "and that one of them saw something no order explains."]
    return "\n".join(lines)


def _describe_illegal(model: Model, p: PartitionResult, max_ops: int) -> list[str]:
    blocked = p.blocked
    assert blocked is not None
    where = f"{p.label[:1].upper()}{p.label[1:]}: the" if p.label else "The"
    lines = [f"{where} history can be explained up to time {_fmt_time(blocked.ret)}, "
             f"but not past it, when this operation returned:",
             "  " + _fmt_op(model, blocked, p.index_of(blocked)),
             "No order of the operations called before then lets it take effect between its "
             "call and its return with this result.", ""]
    order = p.linearization
    if order:
        shown = order[-max_ops:]
        lines.append(f"The longest order found that explains the history up to that point "
                     f"({_count(len(order), 'operation')}, in the order they take effect):")
        if len(order) > len(shown):
            lines.append(f"  ... {_count(len(order) - len(shown), 'earlier operation')}")
        lines.extend("  " + _fmt_op(model, op, p.index_of(op)) for op in shown)
        lines.append(f"At that point {model.describe_state(p.state)}.")
    else:
        lines.append(f"Not even the first operation can be explained: at the start, "
                     f"{model.describe_state(p.state)}.")
    if p.candidates:
        lines.append("None of the operations in progress at that point can take effect next:")
        lines.extend(f"  {_fmt_op(model, c.op, c.index)}: {c.reason}"
                     for c in p.candidates[:max_ops])
        if len(p.candidates) > max_ops:
            lines.append(f"  ... and {len(p.candidates) - max_ops} more")
    return lines
