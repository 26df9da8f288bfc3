"""Client operations and the history a run records.

Every ``Simulation.request`` creates an ``Operation`` that is appended to ``sim.history`` at
invocation. It completes exactly once:

* ``ok``: the node replied without an ``"error"`` field;
* ``fail``: the node replied with an ``"error"`` field (the operation must have had no effect);
* ``unknown``: no reply before the client's timeout (it may or may not have taken effect).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

PENDING, OK, FAIL, UNKNOWN = "pending", "ok", "fail", "unknown"


@dataclass(eq=False)
class Operation:
    id: int
    client: str
    node: str
    input: dict
    call: float
    timeout: float
    ret: float | None = None
    output: dict | None = None
    status: str = PENDING
    callbacks: list[Callable[["Operation"], None]] = field(default_factory=list, repr=False)

    @property
    def done(self) -> bool:
        return self.status != PENDING

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def error(self) -> Any:
        """The reply's ``"error"`` field, or None."""
        return None if self.output is None else self.output.get("error")

    @property
    def latency(self) -> float | None:
        return None if self.ret is None else self.ret - self.call

    def then(self, fn: Callable[["Operation"], None]) -> "Operation":
        """Call ``fn(op)`` when the operation completes (at once if it already has)."""
        if self.done:
            fn(self)
        else:
            self.callbacks.append(fn)
        return self

    def describe(self) -> str:
        end = f"{self.ret:.3f}" if self.ret is not None else "never"
        out = self.output if self.output is not None else "(no reply)"
        return (f"op#{self.id} {self.client}->{self.node} {self.input} "
                f"[{self.call:.3f}s..{end}] {self.status}: {out}")

    def to_json(self) -> dict:
        return {"id": self.id, "client": self.client, "node": self.node, "input": self.input,
                "call": self.call, "ret": self.ret, "output": self.output, "status": self.status}
