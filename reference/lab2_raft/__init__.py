"""Lab 2: Raft consensus (reference solution)."""

from .raft import ELECTION_TIMEOUT_MAX, ELECTION_TIMEOUT_MIN, HEARTBEAT_INTERVAL, RaftNode

__all__ = ["RaftNode", "ELECTION_TIMEOUT_MIN", "ELECTION_TIMEOUT_MAX", "HEARTBEAT_INTERVAL"]
