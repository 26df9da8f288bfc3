"""The models the labs check against: a register, a compare-and-set register, a key-value store.

Inputs and outputs are plain dicts, the shapes a client request and its reply have in the labs.
An output of None always means "unknown" (the operation timed out) and is accepted by every
step.

=================  ==========================================  ===============================
model              input                                       output of an ``ok`` operation
=================  ==========================================  ===============================
register           ``{"op": "write", "value": v}``             ignored (``{}`` is fine)
                   ``{"op": "read"}``                          ``{"value": v}``
cas register       the two above, and                          as above, and
                   ``{"op": "cas", "from": a, "to": b}``       ``{"ok": True}`` or ``{"ok": False}``
key-value store    ``{"op": "get", "key": k}``                 ``{"value": v}``
                   ``{"op": "put", "key": k, "value": v}``     ignored
                   ``{"op": "append", "key": k, "value": s}``  ignored
                   ``{"op": "delete", "key": k}``              ignored
=================  ==========================================  ===============================

A register starts with value None (a read that returns ``{"value": None}`` saw no write yet);
``RegisterModel(initial=0)`` changes that. A key-value store reads ``missing`` (None by default)
for an absent key; ``KVModel(missing="")`` suits stores that answer "" instead. ``append``
concatenates: the new value is ``current + s``, or ``s`` alone when the key is absent.

The key-value model is checked one key at a time (``partition`` splits by key), so its state is
just the value of that key.
"""

from __future__ import annotations

from typing import Any, Sequence

from .model import OK, Model, Op, State


def _read_value(output: Any, what: str) -> Any:
    try:
        return output["value"]
    except (TypeError, KeyError):
        raise ValueError(f"the output of {what} must look like {{'value': v}}; "
                         f"got {output!r}") from None


def _unknown_op(model: str, input: Any, known: tuple[str, ...]) -> ValueError:
    return ValueError(f"unknown {model} operation {input!r}: expecting an input with "
                      f"'op' one of {', '.join(known)}")


def _reads(op: Op, value: Any) -> bool:
    """Whether ``op`` is a completed read that returned ``value``."""
    return (op.status == OK and op.input.get("op") == "read" and op.output is not None
            and op.output.get("value") == value)


def _show(value: Any) -> str:
    return "nothing" if value is None else repr(value)


class RegisterModel(Model):
    """A single read/write register."""

    name = "register"
    operations = ("read", "write")

    def __init__(self, initial: Any = None):
        self.initial = initial

    def init(self) -> State:
        return self.initial

    def step(self, state: State, input: Any, output: Any) -> tuple[bool, State]:
        op = input.get("op") if isinstance(input, dict) else None
        if op == "read":
            return output is None or _read_value(output, "read") == state, state
        if op == "write":
            return True, input["value"]
        raise _unknown_op(self.name, input, self.operations)

    def read_only(self, input: Any) -> bool:
        return isinstance(input, dict) and input.get("op") == "read"

    def unobserved(self, op: Op, ops: Sequence[Op]) -> bool:
        # A write sets the value until the next write; any read in between returns it. If no
        # read returned it, no read was in between, and leaving the write out changes nothing
        # anyone saw.
        if op.status == OK or op.input.get("op") != "write":
            return False
        value = op.input["value"]
        return not any(_reads(other, value) for other in ops)

    def describe_op(self, input: Any, output: Any) -> str:
        op = input.get("op")
        if op == "write":
            return f"write({input['value']!r})"
        if op == "read":
            return "read() -> " + ("?" if output is None else _show(output.get("value")))
        return super().describe_op(input, output)

    def describe_state(self, state: State) -> str:
        return f"the register held {_show(state)}"


class CasRegisterModel(RegisterModel):
    """A register with compare-and-set: ``cas(a, b)`` sets ``b`` iff the value is ``a``."""

    name = "cas register"
    operations = ("read", "write", "cas")

    def step(self, state: State, input: Any, output: Any) -> tuple[bool, State]:
        if isinstance(input, dict) and input.get("op") == "cas":
            swapped = state == input["from"]
            new_state = input["to"] if swapped else state
            if output is None:
                return True, new_state
            try:
                claimed = output["ok"]
            except (TypeError, KeyError):
                raise ValueError(f"the output of cas must look like {{'ok': bool}}; "
                                 f"got {output!r}") from None
            return bool(claimed) == swapped, new_state
        return super().step(state, input, output)

    def unobserved(self, op: Op, ops: Sequence[Op]) -> bool:
        # A cas observes the value whether it succeeds or fails, and even a timed-out one may
        # act on it, so with any cas around the argument of the plain register does not hold.
        if any(other.input.get("op") == "cas" for other in ops):
            return False
        return super().unobserved(op, ops)

    def describe_op(self, input: Any, output: Any) -> str:
        if input.get("op") == "cas":
            verdict = "?" if output is None else ("ok" if output.get("ok") else "failed")
            return f"cas({input['from']!r} -> {input['to']!r}) -> {verdict}"
        return super().describe_op(input, output)


class KVModel(Model):
    """A key-value store, checked one key at a time; the state is that key's value."""

    name = "key-value store"
    part = "key"
    operations = ("get", "put", "append", "delete")

    def __init__(self, missing: Any = None):
        self.missing = missing

    def init(self) -> State:
        return self.missing

    def step(self, state: State, input: Any, output: Any) -> tuple[bool, State]:
        op = input.get("op") if isinstance(input, dict) else None
        if op == "get":
            return output is None or _read_value(output, "get") == state, state
        if op == "put":
            return True, input["value"]
        if op == "append":
            return True, (input["value"] if state is None else state + input["value"])
        if op == "delete":
            return True, self.missing
        raise _unknown_op(self.name, input, self.operations)

    def read_only(self, input: Any) -> bool:
        return isinstance(input, dict) and input.get("op") == "get"

    def partition(self, ops: Sequence[Op]) -> list[list[Op]]:
        by_key: dict[Any, list[Op]] = {}          # insertion order: first appearance of a key
        for op in ops:
            try:
                by_key.setdefault(op.input["key"], []).append(op)
            except (TypeError, KeyError):
                raise ValueError(f"every key-value input needs a hashable 'key'; "
                                 f"got {op.input!r}") from None
        return list(by_key.values())

    def unobserved(self, op: Op, ops: Sequence[Op]) -> bool:
        # A put or append of string s leaves a value containing s until the next put or delete:
        # any get in between returns a string containing s. If no get did, leaving it out
        # changes nothing anyone saw. Deletes and non-string values are always kept.
        kind, value = op.input.get("op"), op.input.get("value")
        if op.status == OK or kind not in ("put", "append") or not isinstance(value, str):
            return False
        for other in ops:
            if other.status != OK or other.input.get("op") != "get" or other.output is None:
                continue
            seen = other.output.get("value")
            if seen is not None and (not isinstance(seen, str) or value in seen):
                return False
        return True

    def describe_partition(self, ops: Sequence[Op]) -> str:
        return f"key {ops[0].input['key']!r}" if ops else ""

    def describe_op(self, input: Any, output: Any) -> str:
        op, key = input.get("op"), input.get("key")
        if op == "get":
            return f"get({key!r}) -> " + ("?" if output is None else _show(output.get("value")))
        if op in ("put", "append"):
            return f"{op}({key!r}, {input['value']!r})"
        if op == "delete":
            return f"delete({key!r})"
        return super().describe_op(input, output)

    def describe_state(self, state: State) -> str:
        return "the key was absent" if state is None else f"the key held {state!r}"


register_model = RegisterModel()
cas_register_model = CasRegisterModel()
kv_model = KVModel()
