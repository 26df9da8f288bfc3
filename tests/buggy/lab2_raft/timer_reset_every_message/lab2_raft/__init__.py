"""Bug: a node resets its election timer on every message it receives, including heartbeats
of a deposed leader's old term, so a stale leader can keep the cluster from electing anyone.

Caught by: test_deposed_leader_does_not_block_election (liveness).
Evidence: liveness
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_message(self, src, msg):
        if self.role != "leader":
            self.reset_election_timer()                      # BUG: whatever the message
        super().on_message(src, msg)
