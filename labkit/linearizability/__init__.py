"""Linearizability checking: is there one order of the operations that explains what clients saw?

Three small pieces, as in Porcupine:

* ``model``: ``Op`` (one operation of a history) and ``Model`` (a sequential specification);
* ``models``: ``register_model``, ``cas_register_model``, ``kv_model`` (and their classes);
* ``checker``: ``check(model, ops) -> Result`` with verdict ``"ok"``, ``"illegal"`` or
  ``"unknown"`` (a search budget ran out: never a pass), and ``Result.describe()``; it
  searches the partitions in rounds and stops at the first illegal one;
* ``search``: the search over one partition (Wing & Gong with Lowe's memoization).

``generate`` makes random linearizable histories; ``jepsen`` reads two real history formats;
``bench`` measures steps and seconds (``python -m labkit.linearizability.bench``).

Example::

    from labkit.linearizability import Op, check, register_model

    history = [
        Op("c1", {"op": "write", "value": 1}, {}, call=0.0, ret=1.0),
        Op("c2", {"op": "read"}, {"value": None}, call=2.0, ret=3.0),   # stale: illegal
    ]
    result = check(register_model, history)
    assert result.verdict == "illegal"
    print(result.describe())
"""

from .checker import (DEFAULT_MAX_STEPS, Candidate, PartitionResult, Result, check)
from .generate import generate_history
from .model import FAIL, OK, UNKNOWN, Model, Op
from .models import (CasRegisterModel, KVModel, RegisterModel, cas_register_model, kv_model,
                     register_model)

__all__ = [
    "DEFAULT_MAX_STEPS", "FAIL", "OK", "UNKNOWN",
    "Candidate", "CasRegisterModel", "KVModel", "Model", "Op", "PartitionResult",
    "RegisterModel", "Result",
    "cas_register_model", "check", "generate_history", "kv_model", "register_model",
]
