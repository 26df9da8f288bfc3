"""Lab 1 in live mode (``nox -s demo -- lab1``): the course text's Flask routes over HTTP."""

from labkit.live.labs import LiveLab, Route, consistency, describe_node

LIVE = LiveLab(
    package="lab1_cap",
    node_class="KVNode",
    routes=(
        Route("/get/{key}",
              lambda p, q: {"op": "get", "key": p["key"], "consistency": consistency(q)},
              "read the key: this node's copy, or ?consistency=strong for a majority read",
              "/get/k"),
        Route("/set/{key}/{value}",
              lambda p, q: {"op": "set", "key": p["key"], "value": p["value"],
                            "consistency": consistency(q)},
              "write the key; ?consistency=strong waits for a majority (default eventual)",
              "/set/k/v?consistency=strong"),
    ),
    describe=lambda node: describe_node(node, ("data",)),
    examples=((0, "/set/k/v?consistency=strong"), (1, "/get/k"), (2, "/get/k?consistency=strong")),
)
