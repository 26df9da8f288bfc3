"""The linearizability checker against real histories with known verdicts.

The histories live outside the project, in ``../shared/data`` next to the repository root (see
its README.md): fifty Jepsen etcd logs (a compare-and-set register; ``verdicts.txt`` gives each
verdict) and four key-value logs with get/put/append (``-ok`` linearizable, ``-bad`` not). The
checker must agree with every verdict. The parser tests at the end need no data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.linearizability import FAIL, OK, UNKNOWN, KVModel, cas_register_model, check
from labkit.linearizability.search import STRATEGIES
from labkit.linearizability.jepsen import HistoryFormatError, parse_etcd_log, parse_kv_log

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ETCD = DATA / "jepsen-etcd"
KV = DATA / "kv-append"
MISSING = f"the shared history data is not at {DATA} (it sits beside the repository, not in it)"

# Search steps the hardest history of each set needs (7,776 for etcd, both orders of the
# timed-out operations taking turns; 1,050 for the key-value logs) is well below this; a
# regression that makes the search blow up shows here as a number, not as a slow test. Bigger
# histories (50 clients) are measured by ``python -m labkit.linearizability.bench``.
ETCD_STEP_CEILING = 20_000
KV_STEP_CEILING = 5_000


def _etcd_verdicts() -> list[tuple[str, str]]:
    path = ETCD / "verdicts.txt"
    if not path.exists():
        return []
    return [tuple(line.split()) for line in path.read_text().splitlines() if line.strip()]


ETCD_CASES = _etcd_verdicts()
KV_CASES = [("c01-ok.txt", "ok"), ("c01-bad.txt", "illegal"),
            ("c10-ok.txt", "ok"), ("c10-bad.txt", "illegal")]
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=MISSING)


@needs_data
def test_the_etcd_set_is_complete():
    assert len(ETCD_CASES) == 50
    assert sum(verdict == "linearizable" for _, verdict in ETCD_CASES) == 10
    assert all((ETCD / name).exists() for name, _ in ETCD_CASES)


@needs_data
@pytest.mark.parametrize("name, expected", ETCD_CASES or [("etcd_000.log", "?")])
def test_etcd_history_verdict(name, expected):
    ops = parse_etcd_log((ETCD / name).read_text())
    result = check(cas_register_model, ops)
    assert result.verdict == {"linearizable": "ok", "not-linearizable": "illegal"}[expected]
    assert result.steps < ETCD_STEP_CEILING
    if result.verdict == "illegal":
        failure = result.failures[0]
        assert failure.blocked is not None and failure.blocked.status == OK
        assert f"#{failure.index_of(failure.blocked)} " in result.describe()


@needs_data
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_order_of_timed_out_operations_alone_gets_every_etcd_verdict(strategy):
    wrong = []
    for name, expected in ETCD_CASES:
        ops = parse_etcd_log((ETCD / name).read_text())
        result = check(cas_register_model, ops, strategies=(strategy,), max_steps=2_000_000)
        if result.verdict != {"linearizable": "ok", "not-linearizable": "illegal"}[expected]:
            wrong.append(f"{name}: {result.verdict}, expected {expected}")
    assert not wrong, "\n".join(wrong)


@needs_data
@pytest.mark.parametrize("name, expected", KV_CASES)
def test_kv_append_history_verdict(name, expected):
    ops = parse_kv_log((KV / name).read_text())
    result = check(KVModel(missing=""), ops)
    assert result.verdict == expected, result.describe()
    assert result.steps < KV_STEP_CEILING
    assert len(result.partitions) == len({op.input["key"] for op in ops})
    everything = check(KVModel(missing=""), ops, every_partition=True)
    assert everything.verdict == expected
    assert all(p.verdict in ("ok", "illegal") for p in everything.partitions)
    assert [p.verdict for p in result.partitions if p.verdict != "unknown"] == [
        p.verdict for p in everything.partitions if p.label in
        {q.label for q in result.partitions if q.verdict != "unknown"}]


@needs_data
def test_kv_files_hold_what_the_readme_says():
    for name, _ in KV_CASES:
        ops = parse_kv_log((KV / name).read_text())
        assert {op.input["op"] for op in ops} <= {"get", "put", "append"}
        assert all(op.status == OK for op in ops)          # every invoke completed :ok
    clients = {op.client for op in parse_kv_log((KV / "c10-ok.txt").read_text())}
    assert len(clients) == 10


@needs_data
def test_etcd_timeouts_become_unknown_and_failed_cas_an_observation():
    ops = [op for name, _ in ETCD_CASES for op in parse_etcd_log((ETCD / name).read_text())]
    unknown = [op for op in ops if op.status == UNKNOWN]
    assert unknown and all(op.ret is None and op.input["op"] in ("write", "cas")
                           for op in unknown)
    failed_cas = [op for op in ops if op.input["op"] == "cas" and op.output == {"ok": False}]
    assert failed_cas and all(op.status == OK for op in failed_cas)


# ------------------------------------------------------------------------------ parsers, no data


def test_parse_etcd_log_pairs_invocations_with_completions():
    log = "\n".join([
        "INFO  jepsen.util - 0\t:invoke\t:write\t3",
        "INFO  jepsen.util - 1\t:invoke\t:read\tnil",
        "INFO  jepsen.util - 0\t:ok\t:write\t3",
        "INFO  jepsen.util - 1\t:ok\t:read\t3",
        "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 4]",
        "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2]",
        "INFO  jepsen.util - 2\t:info\t:cas\t:timed-out",
        "INFO  jepsen.util - 3\t:fail\t:cas\t[1 2]",
        "INFO  jepsen.util - 4\t:invoke\t:read\tnil",
    ])
    ops = parse_etcd_log(log)
    assert [(op.client, op.input, op.output, op.call, op.ret, op.status) for op in ops] == [
        (0, {"op": "write", "value": 3}, {}, 1, 3, OK),
        (1, {"op": "read"}, {"value": 3}, 2, 4, OK),
        (2, {"op": "cas", "from": 3, "to": 4}, None, 5, None, UNKNOWN),
        (3, {"op": "cas", "from": 1, "to": 2}, {"ok": False}, 6, 8, OK),
        (4, {"op": "read"}, None, 9, None, UNKNOWN),         # never completed
    ]
    assert check(cas_register_model, ops).ok


def test_parse_kv_log_reads_edn_maps():
    log = "\n".join([
        '{:process 0, :type :invoke, :f :put, :key "k", :value "a \\"q\\""}',
        '{:process 0, :type :ok, :f :put, :key "k", :value "a \\"q\\""}',
        '{:process 1, :type :invoke, :f :get, :key "k", :value nil}',
        '{:process 1, :type :ok, :f :get, :key "k", :value "a \\"q\\""}',
        '{:process 2, :type :invoke, :f :append, :key "k", :value "x"}',
        '{:process 2, :type :fail, :f :append, :key "k", :value "x"}',
    ])
    ops = parse_kv_log(log)
    assert [(op.client, op.input, op.output, op.status) for op in ops] == [
        (0, {"op": "put", "key": "k", "value": 'a "q"'}, {}, OK),
        (1, {"op": "get", "key": "k"}, {"value": 'a "q"'}, OK),
        (2, {"op": "append", "key": "k", "value": "x"}, None, FAIL),
    ]
    assert check(KVModel(missing=""), ops).ok


def test_parsers_name_the_bad_line():
    with pytest.raises(HistoryFormatError, match="line 2: not a jepsen.util event"):
        parse_etcd_log("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nhello")
    with pytest.raises(HistoryFormatError, match="line 1: process 0 completes an operation"):
        parse_kv_log('{:process 0, :type :ok, :f :get, :key "k", :value "v"}')
