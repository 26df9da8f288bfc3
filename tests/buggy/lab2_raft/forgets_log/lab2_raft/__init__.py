"""Bug: the log is kept only in memory, so a restarted node comes back empty and committed
entries are lost.

Caught by: test_restart_all (acknowledged state survives).
Evidence: acknowledged state survives
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def save_log(self, first):
        pass                                                 # BUG: nothing reaches storage
