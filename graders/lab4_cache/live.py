"""Lab 4 in live mode (``nox -s demo -- lab4``): a load balancer "lb" in front of cache nodes
c1..c6, over HTTP."""

from labkit.live.labs import LiveLab, Route, consistency, seconds


def cache_names(n: int) -> tuple[str, ...]:
    return ("lb",) + tuple(f"c{i}" for i in range(1, n + 1))


LIVE = LiveLab(
    package="lab4_cache",
    node_class="CacheNode",
    classes={"lb": "LoadBalancer"},
    names=cache_names,
    nodes=6,
    routes=(
        Route("/put/{key}/{value}",
              lambda p, q: {"op": "put", "key": p["key"], "value": p["value"],
                            "consistency": consistency(q), **seconds(q, "ttl")},
              "store the key; ?consistency=strong waits for W replicas, ?ttl=SECONDS expires it",
              "/put/k/v?consistency=strong"),
        Route("/get/{key}", lambda p, q: {"op": "get", "key": p["key"],
                                          "consistency": consistency(q)},
              "read the key; ?consistency=strong reads R replicas", "/get/k?consistency=strong"),
        Route("/delete/{key}", lambda p, q: {"op": "delete", "key": p["key"],
                                             "consistency": consistency(q)},
              "delete the key (?consistency=strong as for put)", "/delete/k"),
        Route("/stats", lambda p, q: {"op": "stats"},
              "this cache node's keys, hits, misses, evictions and hints", "/stats"),
    ),
    examples=((0, "/put/k/v?consistency=strong"), (0, "/get/k?consistency=strong"),
              (1, "/stats")),
)
