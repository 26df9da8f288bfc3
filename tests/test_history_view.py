"""The adapter from a linearizability verdict to the viewer's per-key history panel."""

from __future__ import annotations

from labkit.grading.history_view import linearizability_details
from labkit.history import OK as DONE, Operation
from labkit.linearizability import OK, Op, check, kv_model


def op(i, client, body, out, call, ret):
    o = Operation(id=i, client=client, node="n1", input=body, call=call, timeout=1.0)
    o.output, o.ret, o.status = out, ret, DONE
    return o


def test_illegal_key_lists_its_ops_prefix_and_culprit():
    history = [
        op(1, "c1", {"op": "put", "key": "x", "value": "a"}, {}, 0.0, 0.1),
        op(2, "c2", {"op": "put", "key": "x", "value": "b"}, {}, 0.2, 0.3),
        op(3, "c3", {"op": "get", "key": "x"}, {"value": "a"}, 0.4, 0.5),
        op(4, "c1", {"op": "put", "key": "y", "value": "c"}, {}, 0.0, 0.1),
    ]
    ops = [Op(h.client, h.input, h.output, h.call, h.ret, OK) for h in history]
    result = check(kv_model, ops)
    assert result.verdict == "illegal"
    details = linearizability_details(result, [h.id for h in history], history)
    assert list(details["keys"]) == ["x"]
    entry = details["keys"]["x"]
    assert [o["id"] for o in entry["ops"]] == [1, 2, 3]
    assert entry["culprits"] == [3]
    assert entry["prefix"] == [1, 2]
    assert "x" in details["explanation"]


def test_a_legal_history_has_no_keys():
    history = [op(1, "c1", {"op": "put", "key": "x", "value": "a"}, {}, 0.0, 0.1),
               op(2, "c2", {"op": "get", "key": "x"}, {"value": "a"}, 0.2, 0.3)]
    ops = [Op(h.client, h.input, h.output, h.call, h.ret, OK) for h in history]
    result = check(kv_model, ops)
    assert result.verdict == "ok"
    assert linearizability_details(result, [1, 2], history)["keys"] == {}
