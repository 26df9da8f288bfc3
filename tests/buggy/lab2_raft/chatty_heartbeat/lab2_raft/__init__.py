"""Bug: the leader sends heartbeats every 10 ms instead of every 50 ms: five times the idle
traffic.

Caught by: test_idle_messages (message budget).
Evidence: message budget
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def broadcast_append_entries(self):
        super().broadcast_append_entries()
        self.set_timer("heartbeat", 0.010)                   # BUG: 10 ms, not 50 ms
