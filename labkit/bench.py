"""``nox -s bench``: how fast the simulator and the checkers are, measured in one run.

Figures (all printed and written to ``reports/bench.json``):

* ``bare_heap_events_per_s``: a bare ``heapq`` loop pushing and popping one event per message:
  the ceiling any heap-based simulator in Python can reach on this machine;
* ``noop_node_messages_per_s``: delivered messages per wall second through the full simulator
  (JSON copy, latency, trace, dispatch) with nodes that do nothing but answer each message;
* ``overhead_ratio``: bare heap rate / no-op node rate: the simulator's cost per message;
* one block per lab whose ``graders/<lab>/bench.py`` defines ``bench()`` (reference nodes);
* ``search``: every graded exhaustive search on the reference (``labkit.search.bench``): its
  states, seconds and verdict, and ``search_states_per_s`` over them all;
* ``summary``: the throughput figures side by side, the no-op nodes' and every lab's
  ``*_delivered_messages_per_s`` (Lab 1's reference cluster: the design's 100,000 msg/s goal),
  and the search's states per second;
* ``sandbox``: what ``--sandbox`` costs (``labkit.sandbox.bench``): one call's round trip, the
  no-op nodes and each lab's workload sandboxed against in-process, and, side by side in this
  run, each lab's whole grader suite on the reference in-process and sandboxed
  (``grade_<lab>_s_inprocess`` / ``_sandbox``) with ``grading_ratio`` (sandboxed / in-process,
  all labs; also in the summary). ``--no-grading`` leaves the grader suites out (minutes).

The simulator figures are the best of ``--repeat`` runs (a loaded machine only slows a run).

Speed is measured here and only here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import heapq
import importlib
import json
import platform
import random
import sys
import time
from pathlib import Path

from .grading.labs import LABS, REPO
from .node import Node
from .simulator import Simulation

MESSAGES = 200_000


class PingPong(Node):
    """Keeps a fixed number of messages in flight, doing no work per message."""

    def on_start(self) -> None:
        for _ in range(8):
            self.send(self.peers[0], {"type": "ping"})

    def handle_ping(self, src: str, msg: dict) -> None:
        self.send(src, msg)


def best(measure, repeat: int):
    """The run with the highest first figure among ``repeat`` runs of ``measure()``."""
    runs = [measure() for _ in range(max(1, repeat))]
    return max(runs, key=lambda r: r[0] if isinstance(r, tuple) else r)


def bare_heap(n: int = MESSAGES) -> float:
    """Events per second of a bare heap loop: pop an event, push the next one."""
    rng = random.Random(0)
    heap = [(rng.uniform(0.001, 0.01), i, "n1") for i in range(16)]
    heapq.heapify(heap)
    seq = 16
    start = time.perf_counter()
    for _ in range(n):
        t, _, node = heapq.heappop(heap)
        seq += 1
        heapq.heappush(heap, (t + rng.uniform(0.001, 0.01), seq, node))
    return n / (time.perf_counter() - start)


def noop_nodes(n: int = MESSAGES) -> tuple[float, float]:
    """(delivered messages per wall second, simulated seconds per wall second)."""
    sim = Simulation(PingPong, 2, seed=0, max_events=10 * n)
    start = time.perf_counter()
    while sim.delivered < n:
        sim.run_for(1.0)
    wall = time.perf_counter() - start
    return sim.delivered / wall, sim.now / wall


def run(labs: list[str], repeat: int = 3, grading: bool = True) -> dict:
    heap_rate = best(bare_heap, repeat)
    noop_rate, noop_speed = best(noop_nodes, repeat)
    results: dict = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "simulator": {
            "bare_heap_events_per_s": round(heap_rate),
            "noop_node_messages_per_s": round(noop_rate),
            "noop_simulated_s_per_wall_s": round(noop_speed, 1),
            "overhead_ratio": round(heap_rate / noop_rate, 2),
        },
    }
    for lab in LABS:
        if labs and lab.short not in labs and lab.package not in labs:
            continue
        if not (REPO / "graders" / lab.package / "bench.py").exists():
            continue
        if not (REPO / "reference" / lab.package).is_dir():
            continue  # a lab's benchmark runs the reference nodes (not in the student release)
        module = importlib.import_module(f"graders.{lab.package}.bench")
        results[lab.package] = {k: (round(v, 2) if isinstance(v, float) else v)
                                for k, v in module.bench().items()}
    results["linearizability"] = importlib.import_module("labkit.linearizability.bench").run()
    results["search"] = importlib.import_module("labkit.search.bench").run(labs)
    summary = {"noop_node_messages_per_s": results["simulator"]["noop_node_messages_per_s"],
               "search_states_per_s": results["search"]["search_states_per_s"]}
    for section, figures in results.items():
        for name, value in figures.items():
            if name.endswith("_delivered_messages_per_s"):
                summary[name] = value
    results["summary"] = summary
    from .sandbox import bench as sandbox_bench

    results["sandbox"] = sandbox_bench.bench()
    if grading:
        results["sandbox"].update(sandbox_bench.grading_ratio(labs or None))
        if "grading_ratio" in results["sandbox"]:
            summary["sandbox_grading_ratio"] = results["sandbox"]["grading_ratio"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s bench --", description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="only these labs (default: all with a bench)")
    parser.add_argument("--out", default="reports/bench.json")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each simulator figure; the best is kept (default 3)")
    parser.add_argument("--no-grading", action="store_true",
                        help="leave out timing the grader suites in-process and sandboxed")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    results = run(args.labs, args.repeat, grading=not args.no_grading)
    for section, figures in results.items():
        print(section)
        for name, value in figures.items():
            shown = f"{value:,}" if isinstance(value, (int, float)) else value
            print(f"  {name:<40} {shown}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
