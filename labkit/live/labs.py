"""Per-lab live specs: which class each node runs, and the HTTP routes clients call.

A route turns an HTTP request into the request body the lab's contract defines, so that
``curl localhost:5001/set/k/v?consistency=strong`` reaches ``on_request`` as
``{"op": "set", "key": "k", "value": "v", "consistency": "strong"}``, exactly what the graders
send in simulation. The node's reply comes back as the JSON body of the HTTP response.

Every route answers GET and POST. Path parameters are URL-decoded (``/set/a%2Fb/1`` sets the
key ``a/b``). A bad query parameter is answered ``400`` by the runtime, before the node sees it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..node import Node
from ..simulator import node_names

Params = Mapping[str, str]


class BadRequest(ValueError):
    """A route's parameters are not what the lab accepts (answered with HTTP 400)."""


@dataclass(frozen=True)
class Route:
    """One client operation over HTTP. ``path`` uses aiohttp's ``{name}`` placeholders;
    ``build(path_params, query)`` returns the request body for ``on_request``."""

    path: str
    build: Callable[[Params, Params], dict]
    doc: str
    example: str


@dataclass(frozen=True)
class LiveLab:
    """What the live runtime needs to know about a lab.

    ``node_class`` names the class in ``package`` the nodes run (``classes`` overrides it per
    node id, e.g. a load balancer in front of cache nodes); ``names(n)`` gives the node ids for
    ``--nodes n``; ``describe(node)`` returns the few fields the status page shows (role,
    term, ...), read from the node object. ``client_timeout`` is how long an HTTP request
    waits for the node's reply before the client gets ``504`` (outcome unknown)."""

    package: str
    node_class: str
    routes: tuple[Route, ...]
    describe: Callable[[Node], dict] = field(default=lambda node: describe_node(node))
    client_timeout: float = 5.0
    nodes: int = 3
    examples: tuple[tuple[int, str], ...] = ()   # (node index, path): what the demo suggests
    names: Callable[[int], tuple[str, ...]] = node_names
    classes: Mapping[str, str] = field(default_factory=dict)

    def class_for(self, node: str) -> str:
        return self.classes.get(node, self.node_class)

    def try_it(self) -> tuple[tuple[int, str], ...]:
        return self.examples or tuple((0, r.example) for r in self.routes)


def choice(query: Params, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = query.get(name, default)
    if value not in allowed:
        raise BadRequest(f"{name}={value!r} is not one of: {', '.join(allowed)}")
    return value


def consistency(query: Params) -> str:
    return choice(query, "consistency", ("eventual", "strong"), "eventual")


def seconds(query: Params, name: str) -> dict:
    """``{name: float}`` if the query has a positive number there, ``{}`` if it has none."""
    if name not in query:
        return {}
    try:
        value = float(query[name])
    except ValueError:
        raise BadRequest(f"{name}={query[name]!r} is not a number of seconds") from None
    if not value > 0:
        raise BadRequest(f"{name} must be > 0 seconds, got {value:g}")
    return {name: value}


# ----- reading role and term off a node object (for the status page) ----------------------------

def _scalar(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return None


def describe_node(node: Node, names: tuple[str, ...] = ()) -> dict:
    """Role, term and leader of a node if it has such attributes (any common spelling), plus
    the attributes in ``names``; only plain values are shown."""
    out: dict[str, Any] = {}
    for key, candidates in (("role", ("role", "state")),
                            ("term", ("term", "current_term", "currentTerm")),
                            ("leader", ("leader", "leader_id", "leader_hint")),
                            ("commit_index", ("commit_index", "commitIndex"))):
        for attr in candidates:
            value = _scalar(getattr(node, attr, None))
            if value is not None:
                out[key] = value
                break
    for attr in names:
        value = getattr(node, attr, None)
        if isinstance(value, (dict, list, tuple, set)):
            out[attr] = len(value)
        elif _scalar(value) is not None:
            out[attr] = _scalar(value)
    return out


# ----- lab 1: CAP (the course text's Flask routes) -----------------------------------------------

LAB1 = LiveLab(
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

# ----- lab 2: Raft --------------------------------------------------------------------------------

def describe_raft(node: Node) -> dict:
    """Role, term, vote, commit index and log length from the lab's ``raft_state()``
    accessor (or from plain attributes while it is not written yet)."""
    try:
        state = node.raft_state()  # type: ignore[attr-defined]
    except Exception:
        return describe_node(node)
    if not isinstance(state, dict):
        return describe_node(node)
    out = {k: _scalar(state.get(k)) for k in ("role", "term", "voted_for", "commit_index")
           if _scalar(state.get(k)) is not None}
    if isinstance(state.get("log"), list):
        out["log"] = len(state["log"])
    leader = _scalar(getattr(node, "leader", None))
    if leader is not None:
        out["leader"] = leader
    return out


LAB2 = LiveLab(
    package="lab2_raft",
    node_class="RaftNode",
    routes=(
        Route("/submit/{command}", lambda p, q: {"op": "submit", "command": p["command"]},
              "append a command to the leader's log; the reply gives its index and term (a "
              "follower answers not_leader with a leader hint); GET /_live/applied shows what "
              "each node applied", "/submit/x=1"),
    ),
    describe=describe_raft,
)

# ----- lab 3: partitions and quorum writes (the course text's A, B, C) --------------------------

LAB3 = LiveLab(
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

# ----- lab 4: distributed cache (a load balancer "lb" in front of cache nodes c1..c6) -------------


def _cache_names(n: int) -> tuple[str, ...]:
    return ("lb",) + tuple(f"c{i}" for i in range(1, n + 1))


LAB4 = LiveLab(
    package="lab4_cache",
    node_class="CacheNode",
    classes={"lb": "LoadBalancer"},
    names=_cache_names,
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

LIVE_LABS: dict[str, LiveLab] = {spec.package: spec for spec in (LAB1, LAB2, LAB3, LAB4)}


def live_lab(package: str) -> LiveLab:
    """The live spec of a lab package, or a ValueError that lists the labs that have one."""
    spec = LIVE_LABS.get(package)
    if spec is None:
        raise ValueError(f"{package} has no live mode; labs with one: "
                         f"{', '.join(sorted(LIVE_LABS))}")
    return spec


def load_spec(ref: str) -> LiveLab:
    """``lab1_cap`` (a lab package) or ``module:NAME`` (any LiveLab, e.g. labkit.live.toy:TOY)."""
    if ":" in ref:
        import importlib
        module, _, name = ref.partition(":")
        spec = getattr(importlib.import_module(module), name, None)
        if not isinstance(spec, LiveLab):
            raise ValueError(f"{ref} is not a LiveLab")
        return spec
    return live_lab(ref)
