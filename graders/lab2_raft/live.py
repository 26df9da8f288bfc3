"""Lab 2 in live mode (``nox -s demo -- lab2``): submit commands to a Raft cluster over HTTP."""

from labkit.live.labs import LiveLab, Route, describe_node, scalar
from labkit.node import Node


def describe_raft(node: Node) -> dict:
    """Role, term, vote, commit index, snapshot index and log length from ``raft_state()``
    accessor (or from plain attributes while it is not written yet)."""
    try:
        state = node.raft_state()  # type: ignore[attr-defined]
    except Exception:
        return describe_node(node)
    if not isinstance(state, dict):
        return describe_node(node)
    out = {k: scalar(state.get(k)) for k in ("role", "term", "voted_for", "commit_index",
                                             "snapshot_index")
           if scalar(state.get(k)) is not None}
    if isinstance(state.get("log"), list):
        out["log"] = len(state["log"])
    leader = scalar(getattr(node, "leader", None))
    if leader is not None:
        out["leader"] = leader
    return out


LIVE = LiveLab(
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
