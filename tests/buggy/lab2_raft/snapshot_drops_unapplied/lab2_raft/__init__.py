"""Bug: snapshot(index, data) compacts the whole log, entries past ``index`` included: entries
not yet applied (some not even committed) vanish into a snapshot that does not hold them.

Caught by: test_snapshot_catch_up (commit needs a majority).
Evidence: holds a snapshot up to index
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def snapshot(self, index, data):
        if index <= self.snapshot_index or index > self.last_applied:
            return
        index = self.last_index()                 # BUG: everything, not just 1..index
        self.snapshot_term = self.term_at(index)
        del self.entries[:index - self.snapshot_index]
        self.snapshot_index = index
        self.save_snapshot(data)
