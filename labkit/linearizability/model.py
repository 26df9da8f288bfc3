"""Operations and the model API the linearizability checker works with.

An ``Op`` is one client operation as a grader observed it: who issued it, what it asked, what
came back, when it was called and when it returned, and whether it completed. A ``Model`` is the
sequential specification the history must be explainable by: a start state and a ``step``
function that says whether an operation with a given input may return a given output in a given
state, and which state follows.

Rules:

* Statuses. ``"ok"``: the operation completed with ``output`` at time ``ret``. ``"fail"``: the
  operation definitely had no effect (the service refused it); the checker drops it.
  ``"unknown"``: no answer came (a timeout, a crash): the operation may or may not have taken
  effect, at any moment after ``call``. Its return time is treated as +infinity and its output
  as unknown, so it is never *required* to take effect.
* Output ``None`` means "any output": a model's ``step`` must accept it (for a write that is
  simply applying the write; for a read it constrains nothing).
* States are hashable and compared with ``==``: the checker memoizes ``(ops done, state)``.
  Use tuples, strings, numbers, None, frozensets; never lists or dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Sequence

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"
STATUSES = (OK, FAIL, UNKNOWN)

State = Hashable


@dataclass(frozen=True, slots=True, eq=False)
class Op:
    """One operation of a history, as the checker sees it.

    ``client``: who issued it (any printable value; used only in explanations).
    ``input``: what was asked, in the shape the model documents (e.g. ``{"op": "read"}``).
    ``output``: what came back (e.g. ``{"value": 3}``), or None when unknown.
    ``call``: the time the client sent it. ``ret``: the time the answer arrived, or None if
    it never did. ``status``: ``"ok"``, ``"fail"`` or ``"unknown"`` (see the module docstring).

    Times are any comparable numbers on one clock (virtual seconds, log line numbers). Two
    operations whose times touch (one returns at the very time the other is called) are treated
    as concurrent: the checker never orders operations on a tie.
    """

    client: Any
    input: Any
    output: Any
    call: float
    ret: float | None
    status: str = OK

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Op.status must be one of {', '.join(STATUSES)}; "
                             f"got {self.status!r}")
        if self.status == OK:
            if self.ret is None:
                raise ValueError(f"an 'ok' Op needs a return time; got ret=None for {self}")
            if self.ret < self.call:
                raise ValueError(f"Op returns before it is called: call={self.call}, "
                                 f"ret={self.ret} ({self.input!r})")

    @property
    def completed(self) -> bool:
        """True for ``ok`` operations: the ones that must have taken effect before ``ret``."""
        return self.status == OK


class Model:
    """A sequential specification. Subclass it and override ``init`` and ``step``.

    ``partition`` lets the checker split a history into independent parts, checked one by one
    (P-compositionality: a key-value store is linearizable iff every key is). ``describe_*``
    turn inputs, outputs and states into short text for explanations.
    """

    name = "model"
    part = "part"    # what one independent part of a history is called in explanations ("key")

    def init(self) -> State:
        """The state before any operation."""
        raise NotImplementedError

    def step(self, state: State, input: Any, output: Any) -> tuple[bool, State]:
        """Apply ``input`` in ``state``: (whether ``output`` is a legal answer, next state).

        ``output`` is None when the answer is unknown; accept it then.
        Must not mutate ``state``.
        """
        raise NotImplementedError

    def partition(self, ops: Sequence[Op]) -> list[list[Op]]:
        """Independent sub-histories. The default keeps the history whole."""
        return [list(ops)]

    def unobserved(self, op: Op, ops: Sequence[Op]) -> bool:
        """True if ``op`` timed out and nothing in ``ops`` (its partition) could observe it.

        The checker then leaves it out: every order that places it also works without it. An
        optional speed-up for models whose timed-out operations would otherwise multiply the
        search; the default, False, is always correct.
        """
        return False

    def read_only(self, input: Any) -> bool:
        """True if an operation with this input never changes the state, in any state (a read).

        An optional speed-up: the checker then places such an operation as soon as it is legal
        and tries nothing else there, since any order that explains the history can be changed
        into one that places it first. The default, False, is always correct.
        """
        return False

    def describe_partition(self, ops: Sequence[Op]) -> str:
        """A short name for one partition (e.g. ``key 'x'``), or "" when there is only one."""
        return ""

    def describe_op(self, input: Any, output: Any) -> str:
        """Short text for an operation, e.g. ``read() -> 3``."""
        return f"{input!r} -> {'?' if output is None else repr(output)}"

    def describe_state(self, state: State) -> str:
        """Short text for a state, e.g. ``value 3``."""
        return repr(state)
