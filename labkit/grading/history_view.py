"""What the trace viewer's per-key history panel shows for a linearizability failure.

``linearizability_details(result, op_ids, history)`` turns a checker ``Result``
(``labkit.linearizability``) into the ``details["linearizability"]`` entry of a failure record
(the format is in ``labkit.viewer``'s docstring): for each illegal key, its operations as the
simulator recorded them (with ``lane``: the client as the checker saw it), the longest linearizable prefix the search found, and the operation
that no order could get past. The checker and the picture stay separate pieces (Porcupine's
split); this module is the small adapter between them.

    result = check(kv_model, ops)
    if result.verdict == "illegal":
        details = {"linearizability": linearizability_details(result, ids, sim.history)}
        raise PropertyViolation(LINEARIZABLE, result.describe(), time=t, details=details)

``op_ids[k]`` is the simulator operation id (``Operation.id``) of ``ops[k]``, the k-th
operation given to ``check``, or None for an entry that stands for no operation; without
``op_ids``, ``ops[k]`` is op#k (the graders' convention: a placeholder at position 0).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

MAX_OPS_PER_KEY = 400   # a page stays readable (and small); the rest of the key is left out


def linearizability_details(result: Any, op_ids: Sequence[int | None] | None,
                            history: Sequence[Any]) -> dict:
    by_id = {op.id: op for op in history}
    if op_ids is None:
        op_ids = range(max((i for p in result.partitions for i in p.indices), default=-1) + 1)
    keys: dict[str, dict] = {}
    for part in result.failures:
        lanes = {op_ids[i]: op.client for i, op in zip(part.indices, part.ops)
                 if 0 <= i < len(op_ids)}
        ids = [op_ids[i] for i in part.indices if 0 <= i < len(op_ids)]
        ops = [{**by_id[i].to_json(), "lane": lanes[i]} for i in ids if i in by_id]
        ops = ops[:MAX_OPS_PER_KEY]
        shown = {op["id"] for op in ops}
        prefix = [_id_of(part, op, op_ids) for op in part.linearization]
        blocked = _id_of(part, part.blocked, op_ids) if part.blocked is not None else None
        names = {json_key(op["input"]) for op in ops}
        keys[names.pop() if len(names) == 1 else str(part.label)] = {
            "ops": ops,
            "prefix": [i for i in prefix if i in shown],
            "culprits": [blocked] if blocked in shown else [],
            "truncated": len(ids) > len(ops),
        }
    return {"explanation": result.describe(), "keys": keys}


def read_panel(history: Sequence[Any], read: Any, lane: Any, explanation: str) -> dict:
    """``details`` for the per-key panel when a read answered too early (an invariant, not the
    checker, found it): the operations of the read's key called before it returned (a lane per
    client, ``lane(op)``), the read as the culprit, no order claimed."""
    key = read.input.get("key")
    ops = [{**op.to_json(), "lane": lane(op)} for op in history
           if op.input.get("key") == key and op.call <= read.ret][:MAX_OPS_PER_KEY]
    return {"linearizability": {"explanation": explanation, "keys": {str(key): {
        "ops": ops, "prefix": [], "culprits": [read.id],
        "truncated": len(ops) == MAX_OPS_PER_KEY}}}}


def json_key(body: Any) -> str:
    """The key an operation's request names (``{"op": "get", "key": "x"}`` -> ``x``)."""
    key = body.get("key") if isinstance(body, dict) else None
    return key if isinstance(key, str) else json.dumps(key)


def _id_of(part: Any, op: Any, op_ids: Sequence[int | None]) -> int | None:
    index = part.index_of(op)
    return op_ids[index] if 0 <= index < len(op_ids) else None
