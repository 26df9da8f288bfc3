"""Bug: a leader that steps down drops what it thinks is its uncommitted tail, off by one:
it also drops its last committed entry, so its log shrinks below its commit index.

Caught by: test_old_leader_rejoins (committed entries stay).
Evidence: committed entries stay
Evidence: below its commit index
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def become_follower(self, term, leader=None):
        was_leader = self.role == ref.raft.LEADER
        super().become_follower(term, leader)
        if was_leader and self.commit_index > 0:
            del self.entries[self.commit_index - 1:]   # BUG: commit_index, not commit_index - 1
            self.save_log(len(self.entries) + 1)
