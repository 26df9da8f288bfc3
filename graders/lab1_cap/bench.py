"""Lab 1 benchmark (not graded): how fast a busy 3-node reference cluster simulates.

    python -c "from graders.lab1_cap.bench import bench; print(bench())"

Closed-loop clients keep the cluster busy for ``SIM_SECONDS`` virtual seconds: each issues an
eventual write (60 %), a strong write (25 %) or a strong read (15 %) on a random node as soon
as its previous operation ends. Self-contained (imports nothing from the grader modules).
"""

from __future__ import annotations

import random
import time

from labkit import Operation, Simulation, node_names
from labkit.grading.kit import closed_loop
from instructor.testing import reference_lab

SIM_SECONDS = 60.0
CLIENTS = 6
KEYS = tuple(f"k{i}" for i in range(20))


def _load(sim: Simulation, seed: int) -> None:
    rng = random.Random(seed)
    nodes = sim.node_ids
    count = [0]

    def issue(client: str) -> Operation:
        count[0] += 1
        key, roll = rng.choice(KEYS), rng.random()
        if roll < 0.60:
            body = {"op": "set", "key": key, "value": f"{client}:{count[0]}"}
        elif roll < 0.85:
            body = {"op": "set", "key": key, "value": f"{client}:{count[0]}",
                    "consistency": "strong"}
        else:
            body = {"op": "get", "key": key, "consistency": "strong"}
        return sim.request(rng.choice(nodes), body, client=client)

    # eventual writes answer at once: pace the clients so virtual time moves on
    closed_loop(sim, [(f"c{i}", 0.001 * i) for i in range(CLIENTS)], issue, until=SIM_SECONDS,
                pause=0.002)


def bench() -> dict[str, float]:
    ref = reference_lab("lab1_cap")
    sim = Simulation(ref.KVNode, node_names(3), seed=0, max_events=20_000_000,
                     max_time=SIM_SECONDS + 10.0, client_timeout=1.0)
    _load(sim, seed=0)
    start = time.perf_counter()
    sim.run_until(SIM_SECONDS + 1.0)
    wall = time.perf_counter() - start
    done = [op for op in sim.history if op.done]
    return {
        "lab1_delivered_messages_per_s": round(sim.delivered / wall),
        "lab1_simulated_s_per_wall_s": round(sim.now / wall, 2),
        "lab1_client_ops_per_s": round(len(done) / wall),
        "lab1_events": sim.events,
        "lab1_wall_s": round(wall, 3),
    }


def sandbox_workload(lab) -> None:
    """What ``labkit.sandbox.bench`` times in-process and sandboxed: writes and reads under a
    partition, then a heal, on three seeds (``lab`` is the imported lab package)."""
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


if __name__ == "__main__":  # pragma: no cover
    print(bench())
