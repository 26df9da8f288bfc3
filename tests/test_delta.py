"""The deltas of accessor results between the sandboxed child and the grader
(``labkit.sandbox.delta``): what the grader rebuilds is exactly the child's new result."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.sandbox.delta import copy_of, diff, patch

# No booleans or floats among the items: an item changed in place to an equal value of
# another type (1 to True or 1.0) is the one change a delta does not see (the module says so;
# see test_the_one_change_a_delta_does_not_see).
SCALARS = st.none() | st.integers(-5, 5) | st.text("ab", max_size=2)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text("xyz", max_size=1), inner, max_size=3),
                    max_leaves=12)
ENTRY = st.fixed_dictionaries({"term": st.integers(0, 3), "command": JSON})
STATE = st.fixed_dictionaries({"role": st.sampled_from(["leader", "follower"]),
                               "term": st.integers(0, 3), "log": st.lists(ENTRY, max_size=6)},
                              optional={"extra": JSON})


def _text(value) -> str:
    return json.dumps(value, sort_keys=True)


def _roundtrip(old, new):
    held = copy_of(old)[0]            # what the grader holds (and the child's copy of it)
    found = diff(held, new)
    assert found is not None
    change, kept = found
    rebuilt = patch(held, json.loads(json.dumps(change))) if change else held
    assert _text(rebuilt) == _text(new) == _text(kept)
    assert _text(held) == _text(old)     # the grader's old result is never changed
    return change


@settings(max_examples=300, deadline=None)
@given(STATE, STATE)
def test_a_delta_rebuilds_the_new_result_exactly(old, new):
    _roundtrip(old, new)


@settings(max_examples=200, deadline=None)
@given(st.lists(ENTRY, max_size=6), st.lists(ENTRY, max_size=6))
def test_a_list_result_travels_as_a_delta_too(old, new):
    _roundtrip(old, new)


def test_a_log_that_grew_by_one_entry_sends_that_entry_only():
    log = [{"term": 1, "command": {"op": "set", "key": str(i)}} for i in range(1000)]
    old = {"role": "leader", "term": 1, "log": log}
    new = {"role": "leader", "term": 1, "log": log + [{"term": 1, "command": "x"}]}
    change = _roundtrip(old, new)
    assert change == {"+": {"log": [1000, '[{"term":1,"command":"x"}]']}}
    assert _roundtrip(old, old) == {}


def test_a_log_cut_and_rewritten_in_the_middle_is_seen():
    log = [{"term": 1, "command": i} for i in range(10)]
    new = log[:4] + [{"term": 2, "command": "y"}]
    grown = {"+": {"log": [4, '[{"term":2,"command":"y"}]']}}
    assert _roundtrip({"log": log}, {"log": new}) == grown
    changed = [dict(e) for e in log]
    changed[7]["command"] = "z"                   # one entry changed in place
    assert _roundtrip({"log": log}, {"log": changed})["+"]["log"][0] == 7


def test_a_type_change_of_a_field_is_seen():
    assert _roundtrip({"term": 1}, {"term": True}) == {"=": {"term": "true"}}
    assert _roundtrip({"term": 1}, {"term": 1.0}) == {"=": {"term": "1.0"}}
    assert _roundtrip({"a": 1, "b": 2}, {"a": 1}) == {"-": ["b"]}


def test_the_one_change_a_delta_does_not_see():
    assert diff({"log": [1]}, {"log": [True]}) == ({}, {"log": [1]})
    assert diff({"x": {"a": 1}}, {"x": {"a": 1.0}}) == ({}, {"x": {"a": 1}})
    assert diff({"x": 1}, {"x": True})[0] == {"=": {"x": "true"}}   # but a field's type is


@pytest.mark.parametrize("new", [{"log": [(1, 2)]}, {"k": {1, 2}}, {1: "x"}, {"__lk__": "t"},
                                 {"log": [{"x": float("nan")}]}])
def test_what_json_cannot_hold_gives_no_delta(new):
    assert diff({"log": [], "k": 0}, new) is None


@pytest.mark.parametrize("bad", [[], {"?": 1}, {"=": {"a": 3}}, {"+": {"log": [9, "[]"]}},
                                 {"+": {"log": [0, "{}"]}}, {"+": {"term": [0, "[]"]}},
                                 {"-": [3]}, {"*": [0, "[]"]}, {"=": []}])
def test_a_malformed_delta_is_refused(bad):
    with pytest.raises(ValueError):
        patch({"term": 1, "log": [1, 2]}, bad)
