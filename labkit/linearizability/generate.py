"""Random histories that are linearizable by construction, for tests and benchmarks.

Each client issues operations one after another. Every operation gets an interval
``[call, ret]`` and a point strictly inside it where it takes effect; running the operations
sequentially in the order of those points gives the outputs. So the history is linearizable: the
points themselves are a witness order.

Some operations can be made to fail (no effect; status ``"fail"``) or to time out (status
``"unknown"``, no return time; half of them take effect at their point, half never do).
"""

from __future__ import annotations

import heapq
import random
from typing import Any

from .model import FAIL, OK, UNKNOWN, Op

WORKLOADS = ("kv", "register", "cas")


def generate_history(seed: int, n_ops: int, n_keys: int = 10, n_clients: int = 5, *,
                     workload: str = "kv", unknown_rate: float = 0.0,
                     fail_rate: float = 0.0) -> list[Op]:
    """A linearizable history of ``n_ops`` operations by ``n_clients`` concurrent clients.

    ``workload`` picks the model the history is for: ``"kv"`` (``kv_model``: get, put, append,
    delete over ``n_keys`` keys named "k0", "k1", ...), ``"register"`` (``register_model``)
    or ``"cas"`` (``cas_register_model``); ``n_keys`` only matters for ``"kv"``. Values written
    are small integers for the registers (so reads are ambiguous, as in Jepsen's tests) and
    unique strings for the key-value store. The result is sorted by call time.
    """
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}: expecting one of {', '.join(WORKLOADS)}")
    rng = random.Random(seed)
    ready = [(rng.random(), c) for c in range(n_clients)]       # (free at, client)
    heapq.heapify(ready)
    drafts = []                    # (effect point or None, seq, client, input, call, ret, status)
    for seq in range(n_ops):
        call, client = heapq.heappop(ready)
        length = rng.uniform(0.1, 1.0)
        ret = call + length
        point = call + length * rng.uniform(0.01, 0.99)
        roll = rng.random()
        status = FAIL if roll < fail_rate else UNKNOWN if roll < fail_rate + unknown_rate else OK
        effect = point if status == OK or (status == UNKNOWN and rng.random() < 0.5) else None
        drafts.append([effect, seq, f"c{client}", _random_input(rng, workload, n_keys, seq),
                       call, ret, status])
        heapq.heappush(ready, (ret + rng.expovariate(4.0), client))

    outputs: dict[int, Any] = {}
    values: dict[Any, Any] = {}                                 # key (or None) -> value
    for effect, seq, _, inp, *_ in sorted(d for d in drafts if d[0] is not None):
        outputs[seq] = _apply(values, inp)
    ops = []
    for _, seq, client, inp, call, ret, status in drafts:
        if status == OK:
            ops.append(Op(client, inp, outputs[seq], call, ret, OK))
        elif status == FAIL:
            ops.append(Op(client, inp, {"error": "refused"}, call, ret, FAIL))
        else:
            ops.append(Op(client, inp, None, call, None, UNKNOWN))
    ops.sort(key=lambda op: op.call)
    return ops


def _random_input(rng: random.Random, workload: str, n_keys: int, seq: int) -> dict:
    roll = rng.random()
    if workload == "kv":
        key = f"k{rng.randrange(n_keys)}"
        if roll < 0.40:
            return {"op": "get", "key": key}
        if roll < 0.55:
            return {"op": "put", "key": key, "value": f"<{seq}>"}
        if roll < 0.95:
            return {"op": "append", "key": key, "value": f"<{seq}>"}
        return {"op": "delete", "key": key}
    if roll < 0.45:
        return {"op": "read"}
    if workload == "cas" and roll < 0.75:
        return {"op": "cas", "from": rng.randrange(5), "to": rng.randrange(5)}
    return {"op": "write", "value": rng.randrange(5)}


def _apply(values: dict, inp: dict) -> dict:
    """Run ``inp`` on the sequential store ``values``; return the output a client would see."""
    key = inp.get("key")
    current = values.get(key)
    op = inp["op"]
    if op in ("get", "read"):
        return {"value": current}
    if op in ("put", "write"):
        values[key] = inp["value"]
    elif op == "append":
        values[key] = inp["value"] if current is None else current + inp["value"]
    elif op == "delete":
        values.pop(key, None)
    elif op == "cas":
        swapped = current == inp["from"]
        if swapped:
            values[key] = inp["to"]
        return {"ok": swapped}
    return {}
