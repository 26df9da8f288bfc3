"""Bug: a restarted node hands its snapshot to the state machine, then applies again from the
snapshot's last entry instead of the one after it.

Caught by: test_snapshot_restart (in-order apply).
Evidence: in-order apply
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_start(self):
        super().on_start()
        if self.snapshot_index:
            self.last_applied = self.snapshot_index - 1   # BUG: entry snapshot_index again
