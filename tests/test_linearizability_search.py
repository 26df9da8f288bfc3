"""How the checker spends its steps: rounds over partitions, the first illegal one ends the
check, both orders of timed-out operations, reads placed at once, and a memo whose keys do not
grow with the history. Verdicts are checked against a brute force and against each other; costs
are checked as step counts (deterministic), never as times (those are in
``python -m labkit.linearizability.bench``).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.linearizability import (OK, KVModel, Op, RegisterModel, cas_register_model,
                                    check, generate_history, kv_model, register_model)
from labkit.linearizability.checker import FIRST_ROUND
from labkit.linearizability.search import STRATEGIES, Search

from test_linearizability import brute_force, tiny_histories, tiny_kv_histories


def rekey(ops: list[Op], key: str) -> list[Op]:
    return [Op(o.client, {**o.input, "key": key}, o.output, o.call, o.ret, o.status) for o in ops]


def hard_key() -> list[Op]:
    """A linearizable key with 8 clients appending at once: tens of thousands of steps."""
    return rekey(generate_history(0, 40, n_keys=1, n_clients=8), "hard")


def bad_key(start: float) -> list[Op]:
    return [Op("c9", {"op": "put", "key": "bad", "value": "v"}, {}, start, start + 1),
            Op("c9", {"op": "get", "key": "bad"}, {"value": "never"}, start + 2, start + 3)]


def easy_key(name: str, start: float) -> list[Op]:
    return [Op("c8", {"op": "put", "key": name, "value": "v"}, {}, start, start + 1),
            Op("c8", {"op": "get", "key": name}, {"value": "v"}, start + 2, start + 3)]


# ------------------------------------------------------------------------------ rounds


def test_the_hard_key_needs_many_steps_alone():
    result = check(kv_model, hard_key())
    assert result.ok
    assert result.steps > 20 * FIRST_ROUND


def test_the_first_illegal_key_ends_the_check_however_hard_the_others_are():
    history = hard_key() + bad_key(0.5)           # "hard" appears first in the history
    result = check(kv_model, history)
    assert result.verdict == "illegal"
    hard, bad = result.partitions
    assert (hard.label, bad.label) == ("key 'hard'", "key 'bad'")
    assert bad.verdict == "illegal" and bad.blocked is history[-1]
    assert hard.verdict == "unknown" and hard.steps == FIRST_ROUND
    assert "stopped at the first partition found not linearizable (key 'bad')" in hard.reason
    assert result.undecided == (hard,)
    assert result.steps < 2 * FIRST_ROUND
    text = result.describe()
    assert "1 of 2 keys cannot be explained" in text   # "keys", not "partitions", in a lab
                                                         # about network partitions
    assert ("The checker stopped there (one illegal part decides); not checked to the end: "
            "key 'hard'.") in text


def test_every_partition_decides_them_all():
    history = hard_key() + bad_key(0.5)
    result = check(kv_model, history, every_partition=True)
    assert [p.verdict for p in result.partitions] == ["ok", "illegal"]
    assert result.undecided == ()
    assert "not checked to the end" not in result.describe()


def test_a_key_over_budget_does_not_starve_the_others():
    history = hard_key() + easy_key("a", 0.2) + easy_key("b", 0.4)
    result = check(kv_model, history, max_steps=10_000)
    assert [p.verdict for p in result.partitions] == ["unknown", "ok", "ok"]
    hard = result.partitions[0]
    assert hard.steps == 10_000
    assert hard.reason == "the search budget of 10,000 steps ran out"
    assert result.verdict == "unknown" and not result.ok
    assert "UNDECIDED for key 'hard': the search budget of 10,000 steps ran out" in (
        result.describe())


def test_rounds_give_the_same_verdicts_as_one_partition_at_a_time():
    history = generate_history(4, 600, n_keys=6, n_clients=12, unknown_rate=0.1)
    for k in (100, 350):
        old = history[k]
        if old.status == OK and old.input["op"] == "get":
            history[k] = Op(old.client, old.input, {"value": "junk"}, old.call, old.ret)
    together = check(kv_model, history, every_partition=True)
    for part in together.partitions:
        alone = check(kv_model, list(part.ops))
        assert alone.verdict == part.verdict, part.label


def test_the_rounds_are_deterministic():
    history = hard_key() + bad_key(0.5) + easy_key("a", 0.2)
    first, second = check(kv_model, history), check(kv_model, history)
    assert [p.steps for p in first.partitions] == [p.steps for p in second.partitions]
    assert first.describe() == second.describe()


# ------------------------------------------------------------------------------ strategies


def test_an_unknown_strategy_is_named():
    with pytest.raises(ValueError, match="expecting one of required_first, call_order"):
        check(register_model, [], strategies=("fastest",))


def test_a_partition_with_timed_out_operations_runs_both_orders():
    history = generate_history(2, 300, n_clients=6, workload="register", unknown_rate=0.1)
    result = check(register_model, history)
    assert result.ok
    assert result.partitions[0].strategy in STRATEGIES
    alone = {name: check(register_model, history, strategies=(name,)) for name in STRATEGIES}
    assert all(r.ok for r in alone.values())
    winner = alone[result.partitions[0].strategy]
    assert result.steps <= 2 * winner.steps + FIRST_ROUND
    no_timeouts = generate_history(2, 300, n_clients=6, workload="register")
    assert check(register_model, no_timeouts).partitions[0].strategy == "required_first"


@pytest.mark.parametrize("seed, faster, slower", [(277, "call_order", "required_first"),
                                                   (110, "required_first", "call_order")])
def test_each_order_of_timed_out_operations_wins_on_some_history(seed, faster, slower):
    # 30% of the operations timed out. Neither order is better everywhere, hence both.
    history = generate_history(seed, 60, n_clients=6, workload="register", unknown_rate=0.3)
    results = {name: check(register_model, history, strategies=(name,)) for name in STRATEGIES}
    assert all(r.ok for r in results.values())
    assert 2 * results[faster].steps < results[slower].steps


@settings(max_examples=300, deadline=None)
@given(tiny_histories(), st.sampled_from([register_model, cas_register_model]),
       st.sampled_from(STRATEGIES))
def test_each_order_alone_agrees_with_a_brute_force(history, model, strategy):
    if model is register_model:
        history = [x for x in history if x.input["op"] != "cas"]
    assert check(model, history, strategies=(strategy,)).ok == brute_force(model, history)


@settings(max_examples=300, deadline=None)
@given(tiny_kv_histories(), st.sampled_from(STRATEGIES))
def test_each_order_alone_agrees_with_a_brute_force_on_kv(history, strategy):
    assert check(kv_model, history, strategies=(strategy,)).ok == brute_force(kv_model, history)


# ------------------------------------------------------------------------------ reads at once


class NoReads(RegisterModel):
    """The register model without the read-only hint: the plain search."""

    def read_only(self, input):
        return False


class NoReadsKV(KVModel):
    def read_only(self, input):
        return False


def corrupted(params: dict, picks: list[int]) -> list[Op]:
    history = generate_history(**params)
    reads = [k for k, x in enumerate(history)
             if x.status == OK and x.input["op"] in ("get", "read")]
    for pick in picks[:1] if reads else []:
        k = reads[pick % len(reads)]
        bad = history[k]
        seen = [x.input["value"] for x in history if "value" in x.input]
        value = seen[pick % len(seen)] if seen and pick % 3 else "junk"
        history[k] = Op(bad.client, bad.input, {"value": value}, bad.call, bad.ret)
    return history


medium = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1), "n_ops": st.integers(1, 60), "n_keys": st.integers(1, 2),
    "n_clients": st.integers(1, 6), "workload": st.sampled_from(["kv", "register"]),
    "unknown_rate": st.sampled_from([0.0, 0.1, 0.3])})


@settings(max_examples=200, deadline=None)
@given(medium, st.lists(st.integers(0, 10**6), max_size=1))
def test_placing_legal_reads_at_once_changes_no_verdict(params, picks):
    history = corrupted(params, picks)
    plain, hinted = ((NoReadsKV(), kv_model) if params["workload"] == "kv"
                     else (NoReads(), register_model))
    with_hint = check(hinted, history, every_partition=True, max_steps=200_000)
    without = check(plain, history, every_partition=True, max_steps=200_000)
    decided = [(a.verdict, b.verdict) for a, b in zip(with_hint.partitions, without.partitions)
               if "unknown" not in (a.verdict, b.verdict)]
    assert all(a == b for a, b in decided)


def test_reads_at_once_cut_the_steps_on_a_register():
    history = generate_history(0, 1000, n_clients=10, workload="register")
    hinted, plain = check(register_model, history), check(NoReads(), history)
    assert hinted.ok and plain.ok
    assert hinted.steps * 5 < plain.steps


# ------------------------------------------------------------------------------ memo keys


def test_memo_keys_stay_small_on_a_long_history():
    # The set of linearized "ok" operations is kept as (first rank not placed, bits ahead of
    # it): its size follows the concurrency (10 clients), not the length of the history.
    history = generate_history(0, 5000, n_clients=10, workload="register")
    search = Search(register_model, history, "required_first")
    seen = search._run.gi_frame.f_locals["seen"]          # the memo of the paused search
    widest, ranks = 0, set()
    while not search.advance(1000):
        recent = list(itertools.islice(reversed(seen.keys()), 300))
        widest = max([widest] + [ahead.bit_length() for _, ahead, _ in recent])
        ranks.update(low for low, _, _ in recent)
    assert search.verdict == "ok"
    assert max(ranks) > 1000                 # the search went deep into the history ...
    assert 0 < widest < 64                   # ... with keys of a few bits all the way
