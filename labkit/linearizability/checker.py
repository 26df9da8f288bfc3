"""The linearizability checker: is there one order of the operations that explains everything?

A history is linearizable when every operation can be given a single instant between its call
and its return such that, taken in the order of those instants, the operations are a legal run of
the model. ``check`` searches for such an order, one partition of the history at a time.

The search (Wing & Gong, with Lowe's memoization, as in Porcupine):

* Every call and every return is an entry in one list, sorted by time. Walking the list from the
  front, each call met before the first return is an operation that may take effect next.
* Linearizing an operation steps the model and lifts its call and return out of the list (a
  doubly linked list over arrays, so lifting and putting back are O(1)). Meeting a return means
  its operation should already have taken effect: the search backtracks to the last choice.
* Invariant: ``linearized`` (a bitset in a Python int) holds exactly the operations whose
  entries are lifted, and ``state`` is the model state after them, in the order of ``stack``.
* Memoization (Lowe): two orders of the same operations that end in the same state have the
  same future, so a configuration ``(linearized, state)`` is explored once.
* Operations with status ``"unknown"`` have no return entry, so they are never required: the
  search may place them anywhere after their call, or leave them out. It succeeds when every
  ``"ok"`` operation has been placed. As k timed-out operations could multiply the search by
  2^k, five rules keep them in check. (0) Before the search, the model may drop those nobody
  could have observed (``Model.unobserved``: a write whose value no read returned). (1) Each
  configuration tries the required operations first and the timed-out ones in a second pass,
  so configurations with few timed-out operations are met first. (2) The memo maps (required
  operations placed, state) to the minimal sets of timed-out operations placed with them, and
  prunes any superset: leaving a timed-out operation out only keeps more options open. (3) A
  timed-out operation is never placed where it changes nothing. (4) Timed-out operations with
  equal inputs are interchangeable, so they are placed in the order of their calls
  (``after``).
* What stays expensive: proving a history illegal when many operations overlap the read that
  nothing explains, above all timed-out writes whose values were read, or appends (a state
  that records their order): the search may have to try every order of them. Correct
  histories are cheap, as an order that works is usually among the first tried.

The search is iterative (histories of thousands of operations) and deterministic: the same
history always takes the same steps. It stops with verdict ``"unknown"`` when a partition uses
``max_steps`` model steps (counted, so the cut-off is reproducible) or, as a safety net only,
when ``timeout`` wall-clock seconds have passed. **Unknown is never a pass.**

When a partition is illegal, the search reports the furthest point in time it could explain: the
operation whose return no order could get past (``blocked``), the longest order it found up to
that point, and why none of the operations still open could come next.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .model import FAIL, OK, UNKNOWN, Model, Op, State

OK_VERDICT, ILLEGAL, UNDECIDED = "ok", "illegal", "unknown"

DEFAULT_MAX_STEPS = 1_000_000
"""Model steps one partition may take before its verdict is "unknown"."""

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
    ``unknown``: ``reason`` says which budget ran out; ``blocked``, ``linearization`` and
    ``state`` show the furthest point the search had reached (no proof of anything).
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

    def describe(self, max_ops: int = 12) -> str:
        """Readable text for a student: the verdict and, if it is not ok, the evidence."""
        return _describe(self, max_ops)


# --------------------------------------------------------------------------------------------
# Entry point


def check(model: Model, ops: Iterable[Any], timeout: float | None = None, *,
          max_steps: int = DEFAULT_MAX_STEPS) -> Result:
    """Check that ``ops`` is a linearizable history of ``model``.

    ``ops`` are ``Op`` values, or any records with the same attributes (``client``, ``input``,
    ``output``, ``call``, ``ret``, ``status``; a status of ``"pending"`` counts as unknown).
    Operations with status ``"fail"`` are dropped: they had no effect. So are timed-out ones
    for which ``model.unobserved`` says so. Each partition the model defines is searched with
    at most ``max_steps`` model steps (a few microseconds each); ``timeout`` (wall seconds, for
    the whole history) is a safety net, not a budget to rely on, since it makes the verdict
    depend on the machine.
    """
    history = [_as_op(record) for record in ops]
    position = {id(op): k for k, op in enumerate(history)}
    live = [op for op in history if op.status != FAIL]
    deadline = None if timeout is None else _time.monotonic() + timeout

    results = []
    for whole in model.partition(live):
        label = model.describe_partition(whole)
        part = [op for op in whole if op.status == OK or not model.unobserved(op, whole)]
        indices = tuple(position[id(op)] for op in part)
        if deadline is not None and _time.monotonic() > deadline:
            results.append(PartitionResult(label, UNDECIDED, tuple(part), indices, 0,
                                           reason=f"the {timeout} s timeout had passed"))
            continue
        results.append(_check_partition(model, part, indices, label, max_steps, deadline))

    verdicts = {p.verdict for p in results}
    verdict = (ILLEGAL if ILLEGAL in verdicts else UNDECIDED if UNDECIDED in verdicts
               else OK_VERDICT)
    return Result(verdict, tuple(results), model)


def _as_op(record: Any) -> Op:
    if isinstance(record, Op):
        return record
    status = record.status if record.status in (OK, FAIL) else UNKNOWN
    return Op(record.client, record.input, record.output, record.call,
              record.ret if status == OK else None, status)


# --------------------------------------------------------------------------------------------
# The search


def _check_partition(model: Model, ops: Sequence[Op], indices: tuple[int, ...], label: str,
                     max_steps: int, deadline: float | None) -> PartitionResult:
    n = len(ops)
    inputs = [op.input for op in ops]
    outputs = [op.output if op.status == OK else None for op in ops]
    must = [op.status == OK for op in ops]

    # Entries 1..m sorted by (time, call before return, op); 0 is the head, m + 1 the tail.
    events = []
    for i, op in enumerate(ops):
        events.append((op.call, 0, i))
        if must[i]:
            events.append((op.ret, 1, i))
    events.sort()
    m = len(events)
    entry_op = [-1] * (m + 2)
    is_call = [False] * (m + 2)
    call_entry = [0] * n
    ret_entry = [-1] * n                   # -1: no return entry (unknown operation)
    for e, (_, kind, i) in enumerate(events, start=1):
        entry_op[e] = i
        if kind == 0:
            is_call[e] = True
            call_entry[i] = e
        else:
            ret_entry[i] = e
    nxt = list(range(1, m + 3))
    prv = list(range(-1, m + 1))
    bit = [1 << i for i in range(n)]
    after = _interchangeable(ops)
    step = model.step

    state = model.init()
    linearized = 0
    remaining = sum(must)                  # ok operations not yet linearized
    stack: list[tuple[int, State, bool]] = []   # (call entry, state before it, pass)
    optional_mask = sum(bit[i] for i in range(n) if not must[i])
    seen: dict[tuple[int, State], list[int]] = {(linearized, state): [0]}
    best = (-1, -1)                        # (blocking return entry, depth) furthest so far
    best_order: list[int] = []
    best_state: State = state
    steps = 0
    optional_pass = False                  # first try required ops, then timed-out ones
    entry = nxt[0]

    while remaining:
        if is_call[entry]:
            i = entry_op[entry]
            j = after[i]
            if must[i] == optional_pass or (j >= 0 and not linearized >> j & 1):
                entry = nxt[entry]                          # not in this pass, or twin first
                continue
            steps += 1
            if steps > max_steps or (deadline is not None and not steps % _CLOCK_EVERY
                                     and _time.monotonic() > deadline):
                why = (f"the search budget of {max_steps:,} steps ran out"
                       if steps > max_steps else
                       f"the wall-clock timeout passed after {steps:,} steps")
                return _evidence(model, ops, indices, label, UNDECIDED, steps - 1, best[0],
                                 best_order, best_state, entry_op, call_entry, must, reason=why)
            legal, new_state = step(state, inputs[i], outputs[i])
            if legal and (must[i] or new_state != state):
                new_linearized = linearized | bit[i]
                optional = new_linearized & optional_mask
                base = (new_linearized ^ optional, new_state)
                minimal = seen.get(base)
                if minimal is None:
                    seen[base] = minimal = []
                if not any(m | optional == optional for m in minimal):
                    if optional:
                        minimal[:] = [m for m in minimal if m | optional != m]
                    minimal.append(optional)
                    stack.append((entry, state, optional_pass))
                    state, linearized = new_state, new_linearized
                    optional_pass = False
                    p, q = prv[entry], nxt[entry]           # lift the call ...
                    nxt[p], prv[q] = q, p
                    r = ret_entry[i]
                    if r >= 0:                              # ... and its return
                        p, q = prv[r], nxt[r]
                        nxt[p], prv[q] = q, p
                        remaining -= 1
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
        elif optional_mask and not optional_pass:
            optional_pass = True                            # second pass: timed-out ops
            entry = nxt[0]
        else:
            # A return whose operation has not taken effect: this order is a dead end.
            if (entry, len(stack)) > best:
                best = (entry, len(stack))
                best_order = [entry_op[e] for e, _, _ in stack]
                best_state = state
            if not stack:
                break
            entry, state, optional_pass = stack.pop()
            i = entry_op[entry]
            linearized ^= bit[i]
            r = ret_entry[i]
            if r >= 0:                                      # put back the return ...
                nxt[prv[r]] = r
                prv[nxt[r]] = r
                remaining += 1
            nxt[prv[entry]] = entry                         # ... then the call
            prv[nxt[entry]] = entry
            entry = nxt[entry]

    if not remaining:
        order = tuple(ops[entry_op[e]] for e, _, _ in stack)
        return PartitionResult(label, OK_VERDICT, tuple(ops), indices, steps,
                               linearization=order, state=state)
    return _evidence(model, ops, indices, label, ILLEGAL, steps, best[0], best_order, best_state,
                     entry_op, call_entry, must)


def _evidence(model: Model, ops: Sequence[Op], indices: tuple[int, ...], label: str,
              verdict: str, steps: int, frontier: int, order: list[int], state: State,
              entry_op: list[int], call_entry: list[int], must: list[bool],
              reason: str = "") -> PartitionResult:
    """The furthest dead end: the order that reached it, the op it blocks on, what was open.

    ``frontier`` is the return entry the search could not get past (-1: it met no dead end).
    """
    if frontier < 0:
        return PartitionResult(label, verdict, tuple(ops), indices, steps, reason=reason)
    placed = set(order)
    candidates = []
    open_ops = [] if verdict != ILLEGAL else sorted(
        (i for i in range(len(ops)) if i not in placed and call_entry[i] < frontier),
        key=call_entry.__getitem__)
    for i in open_ops:
        output = ops[i].output if must[i] else None
        legal, new_state = model.step(state, ops[i].input, output)
        if not legal:
            why = "cannot take effect here"
        elif not must[i] and new_state == state:
            why = "timed out; taking effect here would change nothing"
        else:
            why = "could take effect here, but every order of the rest fails after it"
        candidates.append(Candidate(ops[i], indices[i], why))
    return PartitionResult(label, verdict, tuple(ops), indices, steps,
                           linearization=tuple(ops[i] for i in order), state=state,
                           blocked=ops[entry_op[frontier]], candidates=tuple(candidates),
                           reason=reason)


def _interchangeable(ops: Sequence[Op]) -> list[int]:
    """For each timed-out op, the latest earlier-called timed-out op with an equal input, or -1.

    Requiring that earlier op to be placed first loses no solution: the earlier call is available
    whenever the later one is, and swapping two such operations in an order that explains the
    history gives another one, since neither has a return to meet.
    """
    after = [-1] * len(ops)
    last: dict[Any, int] = {}
    for i in sorted(range(len(ops)), key=lambda k: (ops[k].call, k)):
        if ops[i].status == OK:
            continue
        try:
            key = _frozen(ops[i].input)
            hash(key)
        except TypeError:
            continue                       # unhashable input: no pruning, still correct
        after[i] = last.get(key, -1)
        last[key] = i
    return after


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return ("dict", frozenset((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(_frozen(v) for v in value))
    return value


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
    parts = f" in {n_parts} partitions" if n_parts > 1 else ""
    if result.verdict == OK_VERDICT:
        return (f"linearizable: {_count(n_ops, 'operation')}{parts} explained by the "
                f"{model.name} model.")
    lines = []
    failures = result.failures
    if failures:
        lines.append(f"NOT LINEARIZABLE: {len(failures)} of {n_parts} partitions cannot be "
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
