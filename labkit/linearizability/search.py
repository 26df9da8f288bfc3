"""The search for one partition: Wing & Gong's, with Lowe's memoization, as in Porcupine.

``Search(model, ops, strategy).advance(n)`` runs up to ``n`` more model steps and says whether
the search is over; the checker interleaves searches (partitions, strategies) this way, in
rounds, so a hard partition cannot starve an easy one. The same ops and strategy always take the
same steps.

The list. Every call and every ``"ok"`` return is an entry of one doubly linked list over
arrays, sorted by time (calls before returns on a tie, so touching intervals are concurrent).
Walking it from the front, each call met before the first return is an operation that may take
effect next. Linearizing an operation steps the model and lifts its call and return out of the
list; backtracking puts them back. Both are O(1).

Invariants, for the configuration at the top of the loop:

* ``stack`` holds the linearized operations in order, with what is needed to undo each;
  ``state`` is the model state after them; ``placed[i]`` is 1 exactly for those operations.
* The ``"ok"`` operations are ranked by return (``rank``); ranks below ``low_rank`` are all
  linearized, and bit ``k`` of ``ahead`` says whether rank ``low_rank + k`` is. So the set of
  linearized ``"ok"`` operations is ``(low_rank, ahead)``, a pair whose size does not grow with
  the history, and the first return still in the list is that of rank ``low_rank``.
* ``optional`` is the set of timed-out operations placed, as a bitmask over their ranks.
* ``seen`` maps ``(low_rank, ahead, state)`` to the minimal ``optional`` sets met with it
  (Lowe: two orders that place the same operations and end in the same state have the same
  future; placing fewer timed-out operations only keeps more options open, so a superset of a
  set already met is pruned).

Which candidates come first, per configuration, in passes over the open calls:

* pass 0: reads (``Model.read_only``). A read that is legal now is linearized at once and its
  siblings are never tried: any order that explains the history can be changed into one that
  starts with it, since it changes no state and every operation that must precede it is
  already placed. If it fails, the configuration fails.
* then, for strategy ``"required_first"``, the other ``"ok"`` operations (pass 1) and only then
  the timed-out ones (pass 2): orders with few timed-out operations are met first, which wins
  when most timed-out operations never took effect (the Jepsen etcd histories);
* or, for strategy ``"call_order"``, all the others in the order of their calls (pass 1), as
  Porcupine does: a timed-out write that a later read saw is placed as early as it can be.

A timed-out operation is never placed where it changes nothing, and timed-out operations with
equal inputs are placed in the order of their calls (``after``): neither loses a solution.
"""

from __future__ import annotations

from typing import Any, Sequence

from .model import OK, Model, Op, State

STRATEGIES = ("required_first", "call_order")


class Search:
    """A resumable search over one partition. Read ``verdict`` once ``advance`` returns True.

    ``verdict``: None while running, then ``"ok"`` or ``"illegal"``. ``steps``: model steps so
    far. ``order``: the linearization (ok), else the longest order that reached the furthest
    dead end, ``frontier`` (its return entry, -1 if none), ending in ``state``.
    """

    def __init__(self, model: Model, ops: Sequence[Op], strategy: str):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}: expecting one of "
                             f"{', '.join(STRATEGIES)}")
        self.model, self.ops, self.strategy = model, ops, strategy
        n = len(ops)
        self.must = must = [op.status == OK for op in ops]
        events = []
        for i, op in enumerate(ops):
            events.append((op.call, 0, i))
            if must[i]:
                events.append((op.ret, 1, i))
        events.sort()
        m = len(events)
        self.entry_op = entry_op = [-1] * (m + 2)
        self.is_call = is_call = [False] * (m + 2)
        self.call_entry = call_entry = [0] * n
        self.ret_entry = ret_entry = [-1] * n            # -1: no return entry (timed out)
        rank = [-1] * n
        self.ret_of_rank: list[int] = []
        for e, (_, kind, i) in enumerate(events, start=1):
            entry_op[e] = i
            if kind == 0:
                is_call[e] = True
                call_entry[i] = e
            else:
                ret_entry[i] = e
                rank[i] = len(self.ret_of_rank)
                self.ret_of_rank.append(e)
        self.rank = rank
        self.ret_of_rank.append(m + 1)                   # sentinel: past the last return
        self.option_bit = [0] * n
        for k, i in enumerate(sorted((i for i in range(n) if not must[i]),
                                     key=call_entry.__getitem__)):
            self.option_bit[i] = 1 << k
        read_only = getattr(model, "read_only", None)
        reads = [bool(must[i] and read_only is not None and read_only(ops[i].input))
                 for i in range(n)]
        has_optional = not all(must)
        two_pass = strategy == "required_first" and has_optional
        self.pass_of = [0 if reads[i] else 1 if must[i] or not two_pass else 2
                        for i in range(n)]
        self.last_pass = 2 if two_pass else 1
        self.after = _interchangeable(ops)
        self.has_optional = has_optional
        self.steps = 0
        self.verdict: str | None = None
        self.order: list[int] = []
        self.frontier = -1
        self.depth = -1
        self.state: State = model.init()
        self._run = self._search()
        next(self._run)

    def advance(self, n: int) -> bool:
        """Run up to ``n`` more model steps; True when the verdict is known."""
        if self.verdict is not None:
            return True
        try:
            self._run.send(n)
        except StopIteration:
            return True
        return False

    def close(self) -> None:
        """Free the search's memory (its verdict, steps and evidence stay)."""
        self._run.close()

    def _search(self):  # noqa: C901 (one loop, kept whole so its variables stay local)
        n_ok = len(self.ret_of_rank) - 1
        m = len(self.entry_op) - 2
        entry_op, is_call, ret_entry = self.entry_op, self.is_call, self.ret_entry
        rank, ret_of_rank, option_bit = self.rank, self.ret_of_rank, self.option_bit
        pass_of, last_pass, after = self.pass_of, self.last_pass, self.after
        has_optional = self.has_optional
        inputs = [op.input for op in self.ops]
        outputs = [op.output if must else None for op, must in zip(self.ops, self.must)]
        step = self.model.step
        nxt = list(range(1, m + 3))
        prv = list(range(-1, m + 1))
        placed = bytearray(len(self.ops))

        state = self.state
        low_rank, ahead, optional = 0, 0, 0
        stack: list[tuple] = []      # (entry, op, state, pass, low_rank, ahead, optional, forced)
        seen: dict[tuple, list[int]] = {(0, 0, state): [0]}
        best_frontier, best_depth, best_state = -1, -1, state
        best_order = self.order      # == ops of stack[:low] at the last dead end recorded
        low = 0                      # lowest depth the stack fell to since that dead end
        steps = 0
        limit = yield
        cur_pass = 0
        entry = nxt[0]

        while low_rank < n_ok:
            if is_call[entry]:
                i = entry_op[entry]
                if pass_of[i] != cur_pass:
                    entry = nxt[entry]
                    continue
                j = after[i]
                if j >= 0 and not placed[j]:
                    entry = nxt[entry]                      # its twin goes first
                    continue
                if steps >= limit:
                    self.steps, self.frontier, self.depth = steps, best_frontier, best_depth
                    self.state = best_state
                    limit += yield
                steps += 1
                legal, new_state = step(state, inputs[i], outputs[i])
                if not legal:
                    entry = nxt[entry]
                    continue
                k = rank[i]
                if k >= 0:
                    new_optional = optional
                    d = k - low_rank
                    if d:
                        new_low, new_ahead = low_rank, ahead | 1 << d
                    else:
                        new_ahead = ahead | 1
                        t = (new_ahead ^ (new_ahead + 1)).bit_length() - 1
                        new_low, new_ahead = low_rank + t, new_ahead >> t
                elif new_state != state:
                    new_low, new_ahead, new_optional = low_rank, ahead, optional | option_bit[i]
                else:
                    entry = nxt[entry]                      # would change nothing
                    continue
                key = (new_low, new_ahead, new_state)
                minimal = seen.get(key)
                if minimal is None:
                    seen[key] = [new_optional]
                    fresh = True
                elif has_optional and not any(x | new_optional == new_optional
                                              for x in minimal):
                    minimal[:] = [x for x in minimal if x | new_optional != x]
                    minimal.append(new_optional)
                    fresh = True
                else:
                    fresh = False
                if fresh:
                    stack.append((entry, i, state, cur_pass, low_rank, ahead, optional,
                                  cur_pass == 0))
                    state, low_rank, ahead, optional = new_state, new_low, new_ahead, new_optional
                    placed[i] = 1
                    p, q = prv[entry], nxt[entry]           # lift the call ...
                    nxt[p], prv[q] = q, p
                    r = ret_entry[i]
                    if r >= 0:                              # ... and its return
                        p, q = prv[r], nxt[r]
                        nxt[p], prv[q] = q, p
                    cur_pass = 0
                    entry = nxt[0]
                    continue
                if cur_pass:
                    entry = nxt[entry]
                    continue
                # A legal read whose configuration is known to fail: so does this one.
            elif cur_pass < last_pass:
                cur_pass += 1                               # next pass over the open calls
                entry = nxt[0]
                continue

            # A dead end: the first return left cannot be met. Remember the furthest one.
            frontier, depth = ret_of_rank[low_rank], len(stack)
            if frontier > best_frontier or (frontier == best_frontier and depth > best_depth):
                del best_order[low:]
                best_order.extend([frame[1] for frame in stack[low:]])
                best_frontier, best_depth, best_state, low = frontier, depth, state, depth
            resumed = False
            while stack:
                entry, i, state, cur_pass, low_rank, ahead, optional, forced = stack.pop()
                placed[i] = 0
                r = ret_entry[i]
                if r >= 0:                                  # put back the return ...
                    nxt[prv[r]] = r
                    prv[nxt[r]] = r
                nxt[prv[entry]] = entry                     # ... then the call
                prv[nxt[entry]] = entry
                if not forced:                              # a forced read failed: so did
                    resumed = True                          # the configuration before it
                    break
            if len(stack) < low:
                low = len(stack)
            if not resumed:
                break
            entry = nxt[entry]

        self.steps, self.frontier, self.depth = steps, best_frontier, best_depth
        if low_rank == n_ok:
            self.verdict, self.state = "ok", state
            self.order[:] = [frame[1] for frame in stack]
        else:
            self.verdict, self.state = "illegal", best_state


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
