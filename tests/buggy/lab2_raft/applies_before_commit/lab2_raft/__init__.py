"""Bug: a follower hands entries to the state machine as soon as it appends them, before
they are committed.

Caught by: test_no_commit_without_majority (in-order apply: only committed entries).
Evidence: in-order apply
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_append_entries(self, src, msg):
        super().handle_append_entries(src, msg)
        while self.last_applied < len(self.entries):         # BUG: applies uncommitted entries
            self.last_applied += 1
            self.apply(self.last_applied, self.entries[self.last_applied - 1]["command"])
