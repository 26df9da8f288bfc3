"""What tamper-proof grading costs: the sandbox against the in-process simulator.

``bench() -> dict`` (wired into ``nox -s bench``):

* ``spawn_ms``: starting a sandboxed child and importing a lab package in it;
* ``call_roundtrip_us``: one method call on a student object (grader -> child -> grader);
* ``noop_messages_per_s_inprocess`` / ``_sandbox``: delivered messages per second with nodes
  that only answer each message (the simulator's own cost, then the sandbox's on top);
* ``lab1_reference_s_inprocess`` / ``_sandbox``: a Lab 1 workload on the reference nodes
  (writes and reads under a partition, then a heal), in wall seconds;
* ``slowdown_noop`` and ``slowdown_lab1``: sandbox time / in-process time.

Measured with ``time.perf_counter`` here only; nothing asserts a speed.
"""

from __future__ import annotations

import statistics
import tempfile
import textwrap
import time
from pathlib import Path

from ..grading.labs import REPO
from ..simulator import Simulation
from . import load_remote, shutdown_all

PING = textwrap.dedent('''
    from labkit import Node


    class Counter:
        def __init__(self):
            self.n = 0

        def add(self, k):
            self.n += k
            return self.n


    class PingPong(Node):
        def on_start(self):
            for _ in range(8):
                self.send(self.peers[0], {"type": "ping"})

        def handle_ping(self, src, msg):
            self.send(src, msg)
''')
MESSAGES = 20_000
CALLS = 5_000


def _noop(cls) -> float:
    sim = Simulation(cls, 2, seed=0, max_events=10 * MESSAGES)
    start = time.perf_counter()
    while sim.delivered < MESSAGES:
        sim.run_for(1.0)
    return sim.delivered / (time.perf_counter() - start)


def _lab1(lab) -> float:
    start = time.perf_counter()
    for seed in range(3):
        sim = Simulation(lab.KVNode, 3, seed=seed)
        ops = [sim.request("n1", {"op": "set", "key": f"k{i % 7}", "value": str(i)})
               for i in range(100)]
        sim.partition(["n1", "n2"], ["n3"])
        ops += [sim.request("n3", {"op": "get", "key": f"k{i % 7}"}) for i in range(50)]
        sim.run_for(2.0)
        sim.heal()
        sim.run_until_done(*ops)
        sim.run_for(3.0)
    return time.perf_counter() - start


def bench() -> dict[str, float]:
    from ..testing import reference_lab

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="labkit-sandbox-bench-") as tmp:
        pkg = Path(tmp) / "sandbox_bench"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(PING)
        spawns = []
        for _ in range(3):
            start = time.perf_counter()
            remote = load_remote(Path(tmp), "sandbox_bench")
            spawns.append(time.perf_counter() - start)
        out["spawn_ms"] = statistics.median(spawns) * 1000
        counter = remote.Counter()
        start = time.perf_counter()
        for _ in range(CALLS):
            counter.add(1)
        out["call_roundtrip_us"] = (time.perf_counter() - start) / CALLS * 1e6

        import importlib.util

        spec = importlib.util.spec_from_file_location("_sandbox_bench_local", pkg / "__init__.py")
        local = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(local)
        out["noop_messages_per_s_inprocess"] = _noop(local.PingPong)
        out["noop_messages_per_s_sandbox"] = _noop(remote.PingPong)
        out["slowdown_noop"] = out["noop_messages_per_s_inprocess"] / \
            out["noop_messages_per_s_sandbox"]
        if (REPO / "reference" / "lab1_cap" / "__init__.py").is_file():
            out["lab1_reference_s_inprocess"] = _lab1(reference_lab("lab1_cap"))
            out["lab1_reference_s_sandbox"] = _lab1(load_remote(REPO / "reference", "lab1_cap"))
            out["slowdown_lab1"] = out["lab1_reference_s_sandbox"] / \
                out["lab1_reference_s_inprocess"]
        shutdown_all()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


if __name__ == "__main__":
    for name, value in bench().items():
        print(f"  {name:<36} {value:,}")
