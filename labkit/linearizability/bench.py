"""How fast the linearizability checker is: steps and seconds on real and generated histories.

    python -m labkit.linearizability.bench          # prints the figures
    python -m labkit.linearizability.bench --json   # the same as JSON

``run()`` returns the figures as a flat dict (``labkit/bench.py`` puts them in
``reports/bench.json`` under ``linearizability``). A "step" is one call of the model's ``step``,
the unit of the checker's budget, so step counts compare with Porcupine's (Go, one core) on the
same histories; steps per second is the per-step cost, which should not grow with the history.

* ``etcd_*``: the fifty Jepsen etcd histories (cas register, 5% to 20% timed-out operations),
  with the verdicts of ``verdicts.txt``; ``etcd_<strategy>_*`` the same with one order for the
  timed-out operations only (``required_first`` or ``call_order``).
* ``kv_<file>_*``: the key-value histories of ``kv-append`` (one key per partition).
* ``register_<n>_c<k>_*``, ``kv_<n>_c<k>_*``: generated linearizable histories of n operations by
  k clients (one register; ten keys).
* ``register_10000_c10_unknown5_*``: 10,000 operations, 5% of them timed out, for each order.
* ``kv_c50_one_illegal_key_*``: a generated 50-client, ten-key history (2,000 operations) where
  one read in the middle returns a value never written: the checker may stop at that key.
* ``kv_5000_c50_bad_read_*``: the same with 5,000 operations (Porcupine: 0.75 s).

Seconds are CPU seconds of this process (``time.process_time``: the checker is single-threaded,
and the figure moves less than wall time when the machine is shared). Speed is measured here,
never asserted in tests. The shared data (``../shared/data`` beside the
repository) is optional: without it the real-history figures are left out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

from . import check, generate_history, kv_model, register_model
from .jepsen import parse_etcd_log, parse_kv_log
from .model import OK, Op
from .models import KVModel, cas_register_model

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BIG = 50_000_000                  # a budget no benchmark history reaches: report real costs


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    value = fn()
    return value, time.process_time() - start


def _figures(prefix: str, result: Any, seconds: float) -> dict:
    return {f"{prefix}_verdict": result.verdict, f"{prefix}_steps": result.steps,
            f"{prefix}_s": round(seconds, 4),
            f"{prefix}_steps_per_s": round(result.steps / seconds) if seconds else 0}


def _strategies() -> tuple[str, ...]:
    try:
        from .search import STRATEGIES
    except ImportError:                      # an older checker with one order only
        return ()
    return STRATEGIES


def etcd(out: dict) -> None:
    folder = DATA / "jepsen-etcd"
    if not (folder / "verdicts.txt").exists():
        return
    cases = [line.split() for line in (folder / "verdicts.txt").read_text().splitlines()
             if line.strip()]
    histories = [(parse_etcd_log((folder / name).read_text()),
                  "ok" if verdict == "linearizable" else "illegal") for name, verdict in cases]
    for strategy in (None, *_strategies()):
        options = {} if strategy is None else {"strategies": (strategy,)}
        prefix = "etcd" if strategy is None else f"etcd_{strategy}"
        agree, steps, worst = 0, 0, 0
        start = time.process_time()
        for ops, expected in histories:
            result = check(cas_register_model, ops, max_steps=BIG, **options)
            agree += result.verdict == expected
            steps += result.steps
            worst = max(worst, result.steps)
        out.update({f"{prefix}_histories": len(histories), f"{prefix}_verdicts_agree": agree,
                    f"{prefix}_steps": steps, f"{prefix}_max_steps": worst,
                    f"{prefix}_s": round(time.process_time() - start, 4)})


def kv_files(out: dict) -> None:
    folder = DATA / "kv-append"
    for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        ops = parse_kv_log(path.read_text())
        result, seconds = _timed(lambda: check(KVModel(missing=""), ops, max_steps=BIG))
        out.update(_figures(f"kv_{path.stem.replace('-', '_')}", result, seconds))


def generated(out: dict) -> None:
    for n in (1000, 5000, 20000):
        ops = generate_history(0, n, n_clients=10, workload="register")
        result, seconds = _timed(lambda: check(register_model, ops, max_steps=BIG))
        out.update(_figures(f"register_{n}_c10", result, seconds))
    for n in (1000, 5000, 20000):
        ops = generate_history(0, n, n_keys=10, n_clients=50, workload="kv")
        result, seconds = _timed(lambda: check(kv_model, ops, max_steps=BIG))
        out.update(_figures(f"kv_{n}_c50", result, seconds))
    ops = generate_history(0, 10_000, n_clients=10, workload="register", unknown_rate=0.05)
    result, seconds = _timed(lambda: check(register_model, ops, max_steps=BIG))
    out.update(_figures("register_10000_c10_unknown5", result, seconds))
    for strategy in _strategies():
        result, seconds = _timed(lambda: check(register_model, ops, max_steps=BIG,
                                               strategies=(strategy,)))
        out.update(_figures(f"register_10000_c10_unknown5_{strategy}", result, seconds))


def one_bad_read(n_ops: int, seed: int = 1) -> list[Op]:
    """A generated 50-client, ten-key history whose middle read returns a value never written."""
    ops = generate_history(seed, n_ops, n_keys=10, n_clients=50, workload="kv")
    reads = [k for k, op in enumerate(ops) if op.status == OK and op.input["op"] == "get"]
    k = reads[len(reads) // 2]
    bad = ops[k]
    ops[k] = Op(bad.client, bad.input, {"value": "never written"}, bad.call, bad.ret)
    return ops


def illegal_keys(out: dict) -> None:
    for prefix, n_ops in (("kv_c50_one_illegal_key", 2000), ("kv_5000_c50_bad_read", 5000)):
        ops = one_bad_read(n_ops)
        result, seconds = _timed(lambda: check(kv_model, ops))
        out.update(_figures(prefix, result, seconds))


def run() -> dict:
    """Every figure, in a flat dict of numbers and verdicts."""
    out: dict = {}
    for part in (etcd, kv_files, generated, illegal_keys):
        part(out)
    if "register_1000_c10_steps_per_s" in out:
        out["register_steps_per_s_20000_over_1000"] = round(
            out["register_20000_c10_steps_per_s"] / out["register_1000_c10_steps_per_s"], 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.linearizability.bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    figures = run()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, value in figures.items():
            shown = f"{value:,}" if isinstance(value, (int, float)) else value
            print(f"  {name:<48} {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
