"""Lab 4 benchmarks (not graded): ring lookups per second, how fast the six cache nodes and the
load balancer simulate under load, and how long the linearizability checker takes on the
largest strong history.

    python -c "from graders.lab4_cache.bench import bench; print(bench())"

Self-contained (no imports from the grader modules), so it can be loaded by file path too.
"""

from __future__ import annotations

import random
import sys
import time

from labkit import Operation, Simulation
from labkit.grading.kit import closed_loop
from labkit.faults import Crash, Isolate, Network, RecoverAll, Restart
from labkit.linearizability import Op, check, kv_model
from instructor.testing import reference_lab

CACHE = ("c1", "c2", "c3", "c4", "c5", "c6")
LOOKUPS = 200_000
SIM_SECONDS = 20.0
CLIENTS = 12
KEYS = tuple(f"k{i}" for i in range(20))
CHECK_SECONDS = 10.0      # the strong history: 10 simulated seconds, 8 clients, 2 keys, faults


def ring_lookups_per_second(ref) -> float:
    """``preference_list(key, 3)`` on the cluster's ring (6 nodes x 64 virtual nodes)."""
    ring = ref.HashRing(list(CACHE), vnodes=ref.VNODES)
    keys = [f"user:{i}" for i in range(LOOKUPS)]
    start = time.perf_counter()
    for key in keys:
        ring.preference_list(key, 3)
    return LOOKUPS / (time.perf_counter() - start)


def _cluster(ref, seed: int, **options) -> Simulation:
    classes = {n: ref.CacheNode for n in CACHE}
    classes["lb"] = ref.LoadBalancer
    return Simulation(classes, tuple(classes), seed=seed, max_events=20_000_000, **options)


def _clients(sim: Simulation, seed: int, *, until: float, clients: int, keys, node_choices,
             consistency) -> None:
    """Closed-loop clients: each issues a put or get as soon as its previous one ended."""
    rng = random.Random(seed)
    count = [0]

    def issue(client: str) -> Operation:
        count[0] += 1
        key = rng.choice(keys)
        level = consistency or rng.choice(("strong", "eventual"))
        node = rng.choice([n for n in node_choices if sim.is_up(n)] or list(node_choices))
        if rng.random() < 0.5:
            body = {"op": "put", "key": key, "value": f"{client}:{count[0]}", "consistency": level}
        else:
            body = {"op": "get", "key": key, "consistency": level}
        return sim.request(node, body, client=client)

    closed_loop(sim, [(f"a{i}", 0.2 + 0.01 * i) for i in range(clients)], issue, until=until)


def cluster_under_load(ref) -> dict[str, float]:
    """Clients send a mix of strong and eventual puts/gets through ``lb`` for SIM_SECONDS."""
    sim = _cluster(ref, seed=0, client_timeout=4.0)
    _clients(sim, 0, until=SIM_SECONDS, clients=CLIENTS, keys=KEYS, node_choices=("lb",),
             consistency=None)
    start = time.perf_counter()
    sim.run_until(SIM_SECONDS + 1.0)
    wall = time.perf_counter() - start
    return {
        "lab4_cluster_sim_seconds_per_wall_second": (SIM_SECONDS + 1.0) / wall,
        "lab4_cluster_client_ops_per_wall_second": len(sim.history) / wall,
        "lab4_cluster_messages_delivered_per_wall_second": sim.delivered / wall,
    }


def largest_history_check(ref) -> dict[str, float]:
    """A strong-only history far larger than any grader's, under crashes, isolation and loss."""
    sim = _cluster(ref, seed=1, client_timeout=1.0)
    sim.apply_schedule((Crash(1.0, "c2"), Restart(2.5, "c2"), Isolate(3.0, "c4"),
                        Network(4.0, loss=0.2, duplicate=0.2, long_delay=0.2), Crash(6.0, "c5"),
                        RecoverAll(8.0)))
    _clients(sim, 1, until=CHECK_SECONDS, clients=8, keys=("x", "y"), node_choices=CACHE,
             consistency="strong")
    sim.run_until(CHECK_SECONDS + 1.0)
    ops = []
    for op in sim.history:
        body = op.input
        spec = {"op": body["op"], "key": body["key"]}
        if body["op"] == "put":
            spec["value"] = body["value"]
            ops.append(Op(op.client, spec, {}, op.call, op.ret, "ok") if op.ok else
                       Op(op.client, spec, None, op.call, None, "unknown"))
        elif op.ok:
            ops.append(Op(op.client, spec, {"value": op.output["value"]}, op.call, op.ret, "ok"))
    start = time.perf_counter()
    result = check(kv_model, ops)
    wall = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"the reference's strong history should be linearizable: "
                           f"{result.verdict}\n{result.describe()}")
    return {
        "lab4_checker_seconds_largest_history": wall,
        "lab4_checker_history_ops": float(len(ops)),
        "lab4_checker_steps": float(result.steps),
    }


def reference():
    """The reference Lab 4. Its load balancer imports ``lab0_resilience``: outside a grading run
    that name is not importable, so it is bound to the reference Lab 0 first."""
    if "lab0_resilience" not in sys.modules:
        try:
            import lab0_resilience  # noqa: F401
        except ImportError:
            sys.modules["lab0_resilience"] = reference_lab("lab0_resilience")
    return reference_lab("lab4_cache")


def bench() -> dict[str, float]:
    ref = reference()
    figures = {"lab4_ring_lookups_per_second": ring_lookups_per_second(ref)}
    figures.update(cluster_under_load(ref))
    figures.update(largest_history_check(ref))
    return figures


if __name__ == "__main__":
    for name, value in bench().items():
        print(f"{name:60s} {value:14,.3f}")
