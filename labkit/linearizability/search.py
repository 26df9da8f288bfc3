"""The search for one partition: Wing & Gong's, with Lowe's memoization, as in Porcupine.

``Search(model, ops, strategy).advance(n)`` runs up to ``n`` more model steps and says whether
the search is over; the checker interleaves searches (partitions, strategies) this way, in
rounds, so a hard partition cannot starve an easy one. The same ops and strategy always take the
same steps.

The lists. Every call and every ``"ok"`` return is an entry, numbered in the order of time
(calls before returns on a tie, so touching intervals are concurrent). Two doubly linked lists
over arrays hold the entries still open: the calls and returns of ``"ok"`` operations, and the
calls of timed-out operations. The operations that may take effect next are the calls met
before the first return. Linearizing an operation steps the model and lifts its entries out;
backtracking puts them back. Both are O(1) (opening the next call of a chain, below, walks
past the open timed-out calls of other chains only): no step costs more on a longer history.

Invariants, for the configuration at the top of the loop:

* ``stack`` holds the linearized operations in order, with what is needed to undo each;
  ``state`` is the model state after them.
* The ``"ok"`` operations are ranked by return (``rank``); ranks below ``low_rank`` are all
  linearized, and bit ``k`` of ``ahead`` says whether rank ``low_rank + k`` is. So the set of
  linearized ``"ok"`` operations is ``(low_rank, ahead)``, a pair whose size follows the
  concurrency, not the history, and the first return still open is that of rank ``low_rank``.
* ``optional`` is the set of timed-out operations placed, as a bitmask over their ranks.
* Timed-out operations with equal inputs are placed in the order of their calls (swapping two
  of them in an order that explains the history gives another): of each such chain only the
  first unplaced one is in the list, and placing it opens the next (``then``).
* ``seen`` maps ``(low_rank, ahead, state)`` to the minimal ``optional`` sets met with it
  (Lowe: two orders that place the same operations and end in the same state have the same
  future; placing fewer timed-out operations only keeps more options open, so a superset of a
  set already met is pruned).
* ``a`` and ``b`` are where the scan of the open calls goes on, in each list.

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

A timed-out operation is never placed where it changes nothing: that loses no solution.
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
        self.entry_op = entry_op = [-1] * (m + 4)
        self.is_call = is_call = [False] * (m + 4)
        self.call_entry = call_entry = [0] * n
        self.ret_entry = ret_entry = [-1] * n            # -1: no return entry (timed out)
        self.rank = rank = [-1] * n
        self.ret_of_rank = ret_of_rank = []
        for e, (_, kind, i) in enumerate(events, start=1):
            entry_op[e] = i
            if kind == 0:
                is_call[e] = True
                call_entry[i] = e
            else:
                ret_entry[i] = e
                rank[i] = len(ret_of_rank)
                ret_of_rank.append(e)
        ret_of_rank.append(m + 1)                        # sentinel: past the last return
        optional = sorted((i for i in range(n) if not must[i]), key=call_entry.__getitem__)
        self.option_bit = [0] * n
        for k, i in enumerate(optional):
            self.option_bit[i] = 1 << k
        # Timed-out operations with equal inputs are placed in the order of their calls, so
        # only the first unplaced one of each such chain is ever open (``after``, ``then``).
        after = _interchangeable(ops)
        self.then = then = [-1] * n
        for i in optional:
            if after[i] >= 0:
                then[after[i]] = call_entry[i]
        # Two lists over the entries: 0 .. m + 1 (head, tail) the "ok" calls and returns,
        # m + 2 .. m + 3 the open timed-out calls (one per chain), both sorted by time.
        self.lists = ([0] + [e for e in range(1, m + 1) if must[entry_op[e]]] + [m + 1],
                      [m + 2] + [call_entry[i] for i in optional if after[i] < 0] + [m + 3])
        read_only = getattr(model, "read_only", None)
        reads = [bool(must[i] and read_only is not None and read_only(ops[i].input))
                 for i in range(n)]
        self.has_optional = bool(optional)
        self.pass_of = [0 if reads[i] else 1 for i in range(n)]
        if not optional:
            self.last_pass, self.optional_pass = 1, -1
        elif strategy == "required_first":
            self.last_pass, self.optional_pass = 2, 2
        else:
            self.last_pass, self.optional_pass = 1, 1
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
        m = len(self.entry_op) - 4
        entry_op, is_call, ret_entry = self.entry_op, self.is_call, self.ret_entry
        rank, ret_of_rank, option_bit = self.rank, self.ret_of_rank, self.option_bit
        pass_of, last_pass, optional_pass = self.pass_of, self.last_pass, self.optional_pass
        then, has_optional = self.then, self.has_optional
        only_optional = optional_pass == 2           # that pass tries no "ok" operation
        inputs = [op.input for op in self.ops]
        outputs = [op.output if must else None for op, must in zip(self.ops, self.must)]
        step = self.model.step
        nxt, prv = [0] * (m + 4), [0] * (m + 4)
        for chain in self.lists:
            for before, after in zip(chain, chain[1:]):
                nxt[before], prv[after] = after, before
        opt_head, never = m + 2, m + 3               # ``never``: beyond every entry

        state = self.state
        low_rank, ahead, optional = 0, 0, 0
        stack: list[tuple] = []      # (entry, op, state, pass, a, b, low_rank, ahead,
        #                               optional, forced): what to undo and where to go on
        seen: dict[tuple, list[int]] = {(0, 0, state): [0]}
        best_frontier, best_depth, best_state = -1, -1, state
        best_order = self.order      # == ops of stack[:low] at the last dead end recorded
        low = 0                      # lowest depth the stack fell to since that dead end
        steps = 0
        limit = yield
        cur_pass = 0
        a, b = nxt[0], never         # the next "ok" entry and the next timed-out call to try

        while low_rank < n_ok:
            if b < a:                                       # a timed-out call comes first
                entry = b
                b = nxt[b]
            elif is_call[a]:
                entry = a
                a = nxt[a]
                if pass_of[entry_op[entry]] != cur_pass:
                    continue
            elif cur_pass < last_pass:                      # the next pass over the open calls
                cur_pass += 1
                if cur_pass == optional_pass:
                    b = nxt[opt_head]
                    a = ret_of_rank[low_rank] if only_optional else nxt[0]
                else:
                    a = nxt[0]
                continue
            else:
                entry = -1                                  # every candidate tried
            if entry >= 0:
                i = entry_op[entry]
                if steps >= limit:
                    self.steps, self.frontier, self.depth = steps, best_frontier, best_depth
                    self.state = best_state
                    limit += yield
                steps += 1
                legal, new_state = step(state, inputs[i], outputs[i])
                if not legal:
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
                    continue                                # would change nothing
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
                    stack.append((entry, i, state, cur_pass, a, b, low_rank, ahead, optional,
                                  cur_pass == 0))
                    state, low_rank, ahead, optional = new_state, new_low, new_ahead, new_optional
                    p, q = prv[entry], nxt[entry]           # lift the call ...
                    nxt[p], prv[q] = q, p
                    r = ret_entry[i]
                    if r >= 0:                              # ... and its return
                        p, q = prv[r], nxt[r]
                        nxt[p], prv[q] = q, p
                    else:
                        c = then[i]
                        if c >= 0:                          # ... or open the next of its chain
                            q = nxt[p]
                            while q < c:
                                p, q = q, nxt[q]
                            nxt[p], prv[c], nxt[c], prv[q] = c, p, q, c
                    cur_pass = 0
                    a, b = nxt[0], never
                    continue
                if cur_pass:
                    continue
                # A legal read whose configuration is known to fail: so does this one.

            # A dead end: the first return left cannot be met. Remember the furthest one.
            frontier, depth = ret_of_rank[low_rank], len(stack)
            if frontier > best_frontier or (frontier == best_frontier and depth > best_depth):
                del best_order[low:]
                best_order.extend([frame[1] for frame in stack[low:]])
                best_frontier, best_depth, best_state, low = frontier, depth, state, depth
            resumed = False
            while stack:
                (entry, i, state, cur_pass, a, b, low_rank, ahead, optional,
                 forced) = stack.pop()
                r = ret_entry[i]
                if r >= 0:                                  # put back the return ...
                    nxt[prv[r]] = r
                    prv[nxt[r]] = r
                else:
                    c = then[i]
                    if c >= 0:                              # ... or close the next of its chain
                        nxt[prv[c]] = nxt[c]
                        prv[nxt[c]] = prv[c]
                nxt[prv[entry]] = entry                     # ... then the call
                prv[nxt[entry]] = entry
                if not forced:                              # a forced read failed: so did
                    resumed = True                          # the configuration before it
                    break
            if len(stack) < low:
                low = len(stack)
            if not resumed:
                break

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
