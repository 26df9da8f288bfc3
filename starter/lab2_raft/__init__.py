"""Lab 2: Raft consensus. Your code goes in raft.py; the handout is assignments/lab2-raft.md."""

from .raft import ELECTION_TIMEOUT_MAX, ELECTION_TIMEOUT_MIN, HEARTBEAT_INTERVAL, RaftNode

__all__ = ["RaftNode", "ELECTION_TIMEOUT_MIN", "ELECTION_TIMEOUT_MAX", "HEARTBEAT_INTERVAL"]
