"""Lab 3 in live mode (``nox -s demo -- lab3``): the course text's quorum store over HTTP."""

from labkit.live.labs import LiveLab, Route, choice, describe_node

LIVE = LiveLab(
    package="lab3_partitions",
    node_class="QuorumNode",
    routes=(
        Route("/write/{key}/{value}",
              lambda p, q: {"op": "write", "key": p["key"], "value": p["value"]},
              "write the key through a majority quorum (no_quorum when a majority is "
              "unreachable)", "/write/k/v"),
        Route("/read/{key}",
              lambda p, q: {"op": "read", "key": p["key"],
                            "mode": choice(q, "mode", ("quorum", "local"), "quorum")},
              "read the key from a majority quorum; ?mode=local reads this node's replica",
              "/read/k?mode=quorum"),
    ),
    describe=lambda node: describe_node(node, ("replicas",)),
    examples=((0, "/write/k/v"), (1, "/read/k?mode=quorum"), (2, "/read/k?mode=local")),
)
