"""Lab 3 benchmarks (not graded): how fast a 5-node ABD cluster simulates under load, and how
fast the linearizability checker decides a 1,000-operation, 10-key history.

    python -c "from graders.lab3_partitions.bench import bench; print(bench())"

Self-contained (no imports from the grader modules), so it can be loaded by file path too.
"""

from __future__ import annotations

import random
import time

from labkit import Operation, Simulation, node_names
from labkit.grading.kit import closed_loop
from labkit.linearizability import check, generate_history, kv_model
from instructor.testing import reference_lab

SIM_SECONDS = 20.0
CLIENTS = 10
KEYS = tuple(f"k{i}" for i in range(10))


def _load(sim: Simulation, seed: int) -> None:
    """Closed-loop clients: each issues a quorum write or read on a random node as soon as its
    previous operation ends, for ``SIM_SECONDS`` simulated seconds."""
    rng = random.Random(seed)
    nodes = sim.node_ids
    count = [0]

    def issue(client: str) -> Operation:
        count[0] += 1
        key = rng.choice(KEYS)
        if rng.random() < 0.5:
            body = {"op": "write", "key": key, "value": f"{client}:{count[0]}"}
        else:
            body = {"op": "read", "key": key, "mode": "quorum"}
        return sim.request(rng.choice(nodes), body, client=client)

    closed_loop(sim, [(f"c{i}", 0.01 * i) for i in range(CLIENTS)], issue, until=SIM_SECONDS)


def bench() -> dict[str, float]:
    ref = reference_lab("lab3_partitions")
    sim = Simulation(ref.QuorumNode, node_names(5), seed=0, max_events=10_000_000,
                     client_timeout=1.0)
    _load(sim, seed=0)
    start = time.perf_counter()
    sim.run_until(SIM_SECONDS + 1.0)
    wall = time.perf_counter() - start
    ops = len(sim.history)

    history = generate_history(0, 1000, n_keys=10, workload="kv")
    start = time.perf_counter()
    result = check(kv_model, history)
    check_wall = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"the generated history should be linearizable: {result.verdict}")

    lab3_ops = [op for op in sim.history if op.input.get("mode") == "quorum"
                or op.input.get("op") == "write"]
    start = time.perf_counter()
    result = check(kv_model, _as_kv(lab3_ops))
    own_wall = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"the reference's history should be linearizable: {result.verdict}")

    return {
        "lab3_abd_sim_seconds_per_wall_second": (SIM_SECONDS + 1.0) / wall,
        "lab3_abd_client_ops_per_sim_second": ops / (SIM_SECONDS + 1.0),
        "lab3_abd_client_ops_per_wall_second": ops / wall,
        "lab3_abd_messages_delivered_per_wall_second": sim.delivered / wall,
        "lab3_checker_ops_per_second_generated_1000_ops_10_keys": len(history) / check_wall,
        "lab3_checker_ops_per_second_reference_history": len(lab3_ops) / own_wall,
        "lab3_reference_history_ops": float(len(lab3_ops)),
    }


def _as_kv(ops):
    from labkit.linearizability import Op
    out = []
    for op in ops:
        body = op.input
        if body["op"] == "write":
            inp = {"op": "put", "key": body["key"], "value": body["value"]}
            out.append(Op(op.client, inp, {}, op.call, op.ret, "ok") if op.ok else
                       Op(op.client, inp, None, op.call, None, "unknown"))
        elif op.ok:
            out.append(Op(op.client, {"op": "get", "key": body["key"]},
                          {"value": op.output["value"]}, op.call, op.ret, "ok"))
    return out


if __name__ == "__main__":
    for name, value in bench().items():
        print(f"{name:60s} {value:14,.1f}")
