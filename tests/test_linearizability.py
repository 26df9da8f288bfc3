"""The linearizability checker on hand-made histories, generated histories and a brute force.

Hand-made histories read as timelines: ``op(client, input, output, call, ret)``. Times are
seconds on one clock; ``ret=None`` with status "unknown" is a timeout.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.linearizability import (FAIL, OK, UNKNOWN, KVModel, Model, Op, RegisterModel,
                                    cas_register_model, check, generate_history, kv_model,
                                    register_model)

# ------------------------------------------------------------------------------ helpers


def op(client, input, output, call, ret, status=OK):
    return Op(client, input, output, call, ret, status)


def write(client, value, call, ret, status=OK):
    return op(client, {"op": "write", "value": value}, {} if status == OK else None, call,
              ret, status)


def read(client, value, call, ret):
    return op(client, {"op": "read"}, {"value": value}, call, ret)


def cas(client, old, new, swapped, call, ret, status=OK):
    output = {"ok": swapped} if status == OK else None
    return op(client, {"op": "cas", "from": old, "to": new}, output, call, ret, status)


def timed_out(client, input, call):
    return op(client, input, None, call, None, UNKNOWN)


def kv(client, kind, key, call, ret, value=None, got=None):
    input = {"op": kind, "key": key}
    if kind in ("put", "append"):
        input["value"] = value
    output = {"value": got} if kind == "get" else {}
    return op(client, input, output, call, ret)


def assert_witness(model: Model, result) -> None:
    """An ok result's order replays through the model and respects real time."""
    for part in result.partitions:
        state = model.init()
        for placed in part.linearization:
            output = placed.output if placed.status == OK else None
            legal, state = model.step(state, placed.input, output)
            assert legal, f"witness step {placed} is not legal"
        order = part.linearization
        for early, late in itertools.combinations(order, 2):
            assert late.ret is None or late.status != OK or late.ret >= early.call, (
                f"{late} returned before {early} was called, but is placed after it")
        placed_ids = {id(x) for x in order}
        assert all(id(x) in placed_ids for x in part.ops if x.status == OK)


# ------------------------------------------------------------------------------ register


def test_sequential_write_then_read_is_linearizable():
    history = [write("c1", 1, 0, 1), read("c2", 1, 2, 3)]
    result = check(register_model, history)
    assert result.verdict == "ok"
    assert result.ok
    assert_witness(register_model, result)


def test_read_before_any_write_sees_the_initial_value():
    assert check(register_model, [read("c1", None, 0, 1)]).ok
    assert check(RegisterModel(initial=0), [read("c1", 0, 0, 1)]).ok
    assert check(register_model, [read("c1", 0, 0, 1)]).verdict == "illegal"


def test_stale_read_after_a_completed_write_is_illegal():
    history = [write("c1", 1, 0, 1), write("c2", 2, 2, 3), read("c3", 1, 4, 5)]
    result = check(register_model, history)
    assert result.verdict == "illegal"
    failure = result.failures[0]
    assert failure.blocked is history[2]
    assert [x.input for x in failure.linearization] == [history[0].input, history[1].input]
    assert failure.state == 2


@pytest.mark.parametrize("seen", [None, 1])
def test_a_read_concurrent_with_a_write_may_see_either_value(seen):
    history = [write("c1", 1, 0, 10), read("c2", seen, 1, 2)]
    assert check(register_model, history).ok


def test_reads_cannot_go_back_to_the_old_value_once_one_saw_the_new():
    history = [write("c1", 1, 0, 10), read("c2", 1, 1, 2), read("c3", None, 3, 4)]
    result = check(register_model, history)
    assert result.verdict == "illegal"
    assert result.failures[0].blocked is history[2]


def test_a_value_never_written_is_illegal():
    history = [write("c1", 1, 0, 1), read("c2", 7, 2, 3)]
    assert check(register_model, history).verdict == "illegal"


@pytest.mark.parametrize("seen", [None, 1])
def test_a_timed_out_write_may_or_may_not_take_effect(seen):
    history = [timed_out("c1", {"op": "write", "value": 1}, 0), read("c2", seen, 5, 6)]
    assert check(register_model, history).ok


def test_a_timed_out_write_may_take_effect_late_but_then_stays():
    late = [timed_out("c1", {"op": "write", "value": 1}, 0),
            read("c2", None, 5, 6), read("c2", 1, 7, 8)]
    assert check(register_model, late).ok
    undone = [timed_out("c1", {"op": "write", "value": 1}, 0),
              read("c2", 1, 5, 6), read("c2", None, 7, 8)]
    assert check(register_model, undone).verdict == "illegal"


def test_a_timed_out_write_cannot_take_effect_before_it_was_called():
    history = [read("c2", 1, 0, 1), timed_out("c1", {"op": "write", "value": 1}, 2)]
    assert check(register_model, history).verdict == "illegal"


def test_failed_operations_are_ignored():
    refused = write("c1", 1, 0, 1, status=FAIL)
    assert check(register_model, [refused, read("c2", None, 2, 3)]).ok
    result = check(register_model, [refused, read("c2", 1, 2, 3)])
    assert result.verdict == "illegal"
    assert refused not in result.partitions[0].ops


def test_an_ok_operation_with_no_output_constrains_nothing():
    history = [write("c1", 1, 0, 1), op("c2", {"op": "read"}, None, 2, 3)]
    assert check(register_model, history).ok


def test_touching_intervals_count_as_concurrent():
    # The write returns at the instant the read is called: the checker does not order them.
    history = [write("c1", 1, 0, 1), read("c2", None, 1, 2)]
    assert check(register_model, history).ok


# ------------------------------------------------------------------------------ cas register


def test_cas_swaps_when_the_value_matches():
    history = [write("c1", 0, 0, 1), cas("c2", 0, 1, True, 2, 3), read("c3", 1, 4, 5)]
    assert check(cas_register_model, history).ok


def test_cas_that_claims_success_on_the_wrong_value_is_illegal():
    history = [write("c1", 0, 0, 1), cas("c2", 5, 1, True, 2, 3)]
    result = check(cas_register_model, history)
    assert result.verdict == "illegal"
    assert result.failures[0].blocked is history[1]


def test_cas_that_fails_when_the_value_matches_is_illegal():
    history = [write("c1", 0, 0, 1), cas("c2", 0, 1, False, 2, 3)]
    assert check(cas_register_model, history).verdict == "illegal"


def test_a_failed_cas_leaves_the_value_alone():
    history = [write("c1", 0, 0, 1), cas("c2", 5, 1, False, 2, 3), read("c3", 0, 4, 5)]
    assert check(cas_register_model, history).ok


def test_two_concurrent_cas_from_the_same_value_cannot_both_succeed():
    history = [write("c1", 0, 0, 1), cas("c2", 0, 1, True, 2, 5), cas("c3", 0, 2, True, 2, 5)]
    assert check(cas_register_model, history).verdict == "illegal"
    history[2] = cas("c3", 0, 2, False, 2, 5)
    assert check(cas_register_model, history).ok


@pytest.mark.parametrize("seen", [0, 1])
def test_a_timed_out_cas_may_or_may_not_take_effect(seen):
    history = [write("c1", 0, 0, 1), timed_out("c2", {"op": "cas", "from": 0, "to": 1}, 2),
               read("c3", seen, 5, 6)]
    assert check(cas_register_model, history).ok


def test_a_timed_out_write_seen_only_through_a_timed_out_cas_is_kept():
    # write(0) and cas(0 -> 2) both timed out; only their joint effect explains the read of 2.
    history = [timed_out("c1", {"op": "write", "value": 0}, 0),
               timed_out("c2", {"op": "cas", "from": 0, "to": 2}, 0), read("c3", 2, 1, 2)]
    assert check(cas_register_model, history).ok


def test_the_register_model_refuses_cas():
    with pytest.raises(ValueError, match="expecting an input with 'op' one of read, write"):
        check(register_model, [cas("c1", 0, 1, True, 0, 1)])


# ------------------------------------------------------------------------------ key-value store


def test_keys_are_checked_independently():
    history = [kv("c1", "put", "a", 0, 1, value="x"),
               kv("c2", "put", "b", 0, 1, value="y"),
               kv("c1", "put", "b", 2, 3, value="z"),
               kv("c3", "get", "a", 4, 5, got="x"),
               kv("c3", "get", "b", 6, 7, got="y")]        # stale: b was overwritten with z
    result = check(kv_model, history)
    assert result.verdict == "illegal"
    assert [p.label for p in result.partitions] == ["key 'a'", "key 'b'"]
    assert [p.verdict for p in result.partitions] == ["ok", "illegal"]
    assert result.failures[0].blocked is history[4]
    assert "Key 'b': the history can be explained up to time 7" in result.describe()


@pytest.mark.parametrize("seen, verdict", [("xy", "ok"), ("yx", "illegal"), ("x", "illegal")])
def test_sequential_appends_concatenate_in_order(seen, verdict):
    history = [kv("c1", "append", "k", 0, 1, value="x"), kv("c1", "append", "k", 2, 3, value="y"),
               kv("c2", "get", "k", 4, 5, got=seen)]
    assert check(kv_model, history).verdict == verdict


@pytest.mark.parametrize("seen, verdict", [("xy", "ok"), ("yx", "ok"), ("x", "illegal")])
def test_concurrent_appends_may_apply_in_either_order(seen, verdict):
    history = [kv("c1", "append", "k", 0, 5, value="x"), kv("c2", "append", "k", 0, 5, value="y"),
               kv("c3", "get", "k", 6, 7, got=seen)]
    assert check(kv_model, history).verdict == verdict


@pytest.mark.parametrize("seen, verdict", [(None, "ok"), ("v", "illegal")])
def test_delete_makes_the_key_absent(seen, verdict):
    history = [kv("c1", "put", "k", 0, 1, value="v"), kv("c1", "delete", "k", 2, 3),
               kv("c2", "get", "k", 4, 5, got=seen)]
    assert check(kv_model, history).verdict == verdict


def test_a_store_can_answer_empty_string_for_absent_keys():
    history = [kv("c1", "get", "k", 0, 1, got=""), kv("c1", "append", "k", 2, 3, value="a"),
               kv("c1", "get", "k", 4, 5, got="a")]
    assert check(KVModel(missing=""), history).ok
    assert check(kv_model, history).verdict == "illegal"


def test_the_kv_model_names_its_operations_when_given_another():
    with pytest.raises(ValueError, match="one of get, put, append, delete"):
        check(kv_model, [op("c1", {"op": "incr", "key": "k"}, {}, 0, 1)])


def test_a_read_no_order_of_timed_out_appends_explains_is_illegal():
    history = [timed_out(f"t{k}", {"op": "append", "key": "k", "value": v}, k)
               for k, v in enumerate("abcde")]
    history += [kv("c1", "get", "k", 10, 11, got="ba"), kv("c1", "get", "k", 12, 13, got="bae"),
                kv("c1", "get", "k", 14, 15, got="baex")]
    result = check(kv_model, history)
    assert result.verdict == "illegal"
    assert result.failures[0].blocked is history[-1]
    history[-1] = kv("c1", "get", "k", 14, 15, got="baedc")
    assert check(kv_model, history).ok


# ------------------------------------------------------------------------------ checker API


def test_op_rejects_bad_status_and_missing_return():
    with pytest.raises(ValueError, match="one of ok, fail, unknown"):
        Op("c1", {"op": "read"}, None, 0, 1, "timeout")
    with pytest.raises(ValueError, match="needs a return time"):
        Op("c1", {"op": "read"}, {"value": 1}, 0, None)
    with pytest.raises(ValueError, match="returns before it is called"):
        Op("c1", {"op": "read"}, {"value": 1}, 5, 1)


def test_illegal_explanation_names_the_operation_its_client_and_times():
    history = [write("c1", 1, 0.0, 1.0), write("c2", 2, 2.0, 3.0), read("c3", 1, 4.0, 5.25)]
    text = check(register_model, history).describe()
    assert text.startswith("NOT LINEARIZABLE")
    assert "#2" in text and "client c3" in text
    assert "[4.000 .. 5.250]" in text and "read() -> 1" in text
    assert "At that point the register held 2." in text
    assert "cannot take effect here" in text


def test_ok_describe_is_one_line():
    text = check(register_model, [write("c1", 1, 0, 1)]).describe()
    assert text == "linearizable: 1 operation explained by the register model."


def test_a_search_budget_gives_unknown_which_is_not_a_pass():
    history = generate_history(3, 200, n_clients=8, workload="cas", unknown_rate=0.2)
    result = check(cas_register_model, history, max_steps=10)
    assert result.verdict == "unknown"
    assert not result.ok
    assert result.partitions[0].steps == 10
    text = result.describe()
    assert "UNDECIDED: the search budget of 10 steps ran out before the checker" in text
    assert "Unknown is not a pass" in text


def test_an_expired_timeout_gives_unknown():
    history = generate_history(3, 50, n_keys=3)
    assert check(kv_model, history, timeout=0.0).verdict == "unknown"


def test_an_illegal_partition_outranks_an_undecided_one():
    history = [kv("c1", "get", "a", 0, 1, got="never"), kv("c1", "put", "b", 2, 3, value="v"),
               kv("c1", "get", "b", 4, 5, got="v")]
    result = check(kv_model, history, max_steps=1)
    assert [p.verdict for p in result.partitions] == ["illegal", "unknown"]
    assert result.verdict == "illegal"


def test_the_checker_is_deterministic():
    history = generate_history(11, 300, n_keys=2, n_clients=6, unknown_rate=0.1)
    history[40] = Op(history[40].client, {"op": "get", "key": "k0"}, {"value": "junk"},
                     history[40].call, history[40].call + 0.5)
    first, second = check(kv_model, history), check(kv_model, history)
    assert first.steps == second.steps
    assert first.describe() == second.describe()


def test_records_with_the_same_attributes_are_accepted():
    records = [SimpleNamespace(client="c1", input={"op": "write", "value": 1}, output=None,
                               call=0.0, ret=None, status="pending"),
               SimpleNamespace(client="c2", input={"op": "read"}, output={"value": 1},
                               call=1.0, ret=2.0, status="ok")]
    assert check(register_model, records).ok


def test_long_histories_do_not_recurse():
    history = []
    for k in range(3000):                     # one client, strictly sequential
        history.append(write("c1", k, 2 * k, 2 * k + 1) if k % 2 == 0
                       else read("c1", k - 1, 2 * k, 2 * k + 1))
    result = check(register_model, history)
    assert result.ok
    assert len(result.partitions[0].linearization) == 3000


def test_many_timed_out_writes_of_equal_values_stay_cheap():
    # 40 timed-out writes of two values, then reads flipping between them: without treating
    # equal timed-out operations as interchangeable, this takes ~2^40 steps.
    history = [timed_out(f"t{k}", {"op": "write", "value": k % 2}, k) for k in range(40)]
    history += [read("c1", k % 2, 100 + 2 * k, 101 + 2 * k) for k in range(40)]
    result = check(register_model, history, max_steps=100_000)
    assert result.ok
    assert result.steps < 10_000


def test_a_1000_operation_10_key_history_is_cheap():
    history = generate_history(1, 1000, n_keys=10, n_clients=8)
    result = check(kv_model, history)
    assert result.ok
    assert len(result.partitions) == 10
    assert result.steps < 20_000             # about 1 ms of work per 100 steps


# ------------------------------------------------------------------------------ properties

histories = st.builds(
    dict,
    seed=st.integers(0, 2**32 - 1),
    n_ops=st.integers(1, 80),
    n_keys=st.integers(1, 3),
    n_clients=st.integers(1, 6),
    workload=st.sampled_from(["kv", "register", "cas"]),
    unknown_rate=st.sampled_from([0.0, 0.1, 0.3]),
    fail_rate=st.sampled_from([0.0, 0.1]),
)
MODELS = {"kv": kv_model, "register": register_model, "cas": cas_register_model}


@settings(max_examples=150, deadline=None)
@given(histories)
def test_histories_generated_from_a_sequential_run_are_linearizable(params):
    history = generate_history(**params)
    model = MODELS[params["workload"]]
    result = check(model, history)
    assert result.verdict == "ok", result.describe()
    assert_witness(model, result)


@settings(max_examples=150, deadline=None)
@given(histories, st.data())
def test_a_read_of_a_value_never_written_is_illegal_and_named(params, data):
    history = generate_history(**params)
    reads = [k for k, x in enumerate(history)
             if x.status == OK and x.input["op"] in ("get", "read")]
    if not reads:
        return
    k = data.draw(st.sampled_from(reads), label="corrupted read")
    bad = history[k]
    history[k] = Op(bad.client, bad.input, {"value": "never written"}, bad.call, bad.ret)
    result = check(MODELS[params["workload"]], history)
    assert result.verdict == "illegal"
    (failure,) = result.failures
    assert failure.blocked is history[k]
    assert failure.index_of(failure.blocked) == k
    assert f"#{k} " in result.describe()


# A brute force for tiny histories: try every subset of the timed-out operations and every order.

def brute_force(model: Model, ops: list[Op]) -> bool:
    live = [x for x in ops if x.status != FAIL]
    required = [x for x in live if x.status == OK]
    optional = [x for x in live if x.status == UNKNOWN]
    for size in range(len(optional) + 1):
        for chosen in itertools.combinations(optional, size):
            for order in itertools.permutations(required + list(chosen)):
                if _explains(model, order):
                    return True
    return False


def _explains(model: Model, order) -> bool:
    for early, late in itertools.combinations(order, 2):
        if late.status == OK and late.ret < early.call:
            return False
    state = model.init()
    for x in order:
        legal, state = model.step(state, x.input, x.output if x.status == OK else None)
        if not legal:
            return False
    return True


@st.composite
def tiny_histories(draw):
    ops = []
    for client in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["read", "write", "cas"]))
        call = draw(st.integers(0, 8))
        ret = call + draw(st.integers(0, 4))
        status = draw(st.sampled_from([OK, OK, OK, UNKNOWN, FAIL]))
        value = draw(st.integers(0, 2))
        if kind == "read":
            input, output = {"op": "read"}, {"value": draw(st.sampled_from([None, 0, 1, 2]))}
        elif kind == "write":
            input, output = {"op": "write", "value": value}, {}
        else:
            input = {"op": "cas", "from": value, "to": draw(st.integers(0, 2))}
            output = {"ok": draw(st.booleans())}
        if status == UNKNOWN:
            output, ret = None, None
        ops.append(Op(f"c{client}", input, output, call, ret, status))
    return ops


@st.composite
def tiny_kv_histories(draw):
    ops = []
    for client in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["get", "get", "put", "append", "append", "delete"]))
        call = draw(st.integers(0, 8))
        ret = call + draw(st.integers(0, 4))
        status = draw(st.sampled_from([OK, OK, UNKNOWN, UNKNOWN, FAIL]))
        input, output = {"op": kind, "key": "k"}, {}
        if kind in ("put", "append"):
            input["value"] = draw(st.sampled_from(["a", "b", "c"]))
        if kind == "get":
            output = {"value": draw(st.sampled_from([None, "a", "b", "ab", "ba", "abc", "ca"]))}
        if status == UNKNOWN:
            output, ret = None, None
        ops.append(Op(f"c{client}", input, output, call, ret, status))
    return ops


@settings(max_examples=400, deadline=None)
@given(tiny_histories(), st.sampled_from([register_model, cas_register_model]))
def test_the_checker_agrees_with_a_brute_force_on_tiny_histories(history, model):
    if model is register_model:
        history = [x for x in history if x.input["op"] != "cas"]
    result = check(model, history)
    assert result.ok == brute_force(model, history)
    if result.ok:
        assert_witness(model, result)


@settings(max_examples=400, deadline=None)
@given(tiny_kv_histories())
def test_the_checker_agrees_with_a_brute_force_on_tiny_kv_histories(history):
    result = check(kv_model, history)
    assert result.ok == brute_force(kv_model, history)
    if result.ok:
        assert_witness(kv_model, result)
