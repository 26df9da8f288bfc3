"""Bug: snapshot(index, data) keeps entry ``index`` at the head of the log after compaction,
so every later index is off by one.

Caught by: test_snapshot_catch_up (log matching).
Evidence: log matching
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def snapshot(self, index, data):
        if index <= self.snapshot_index or index > self.last_applied:
            return
        self.snapshot_term = self.term_at(index)
        del self.entries[:index - self.snapshot_index - 1]   # BUG: keeps entry index
        self.snapshot_index = index
        self.save_snapshot(data)
