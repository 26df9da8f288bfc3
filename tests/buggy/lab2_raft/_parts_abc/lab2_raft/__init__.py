"""Lab 2: Raft consensus, parts A-C only (the reference before Part D: no snapshots). A test
fixture: a student solution that has not done Part D (tests/test_lab2_raft.py)."""

from .raft import ELECTION_TIMEOUT_MAX, ELECTION_TIMEOUT_MIN, HEARTBEAT_INTERVAL, RaftNode

__all__ = ["RaftNode", "ELECTION_TIMEOUT_MIN", "ELECTION_TIMEOUT_MAX", "HEARTBEAT_INTERVAL"]
