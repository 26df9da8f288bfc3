"""Bug: the leader commits any entry stored on a majority, including entries of earlier
terms (the situation of Figure 8 in the Raft paper), so a committed entry can later be
overwritten by a leader holding a different entry of a later term.

Caught by: test_figure8 (leader completeness / state-machine safety).
Evidence: Figure 8
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def advance_commit(self):
        matched = sorted([len(self.entries), *self.match_index.values()], reverse=True)
        index = matched[(len(self.peers) + 1) // 2]
        if index > self.commit_index:                        # BUG: no "of my own term" check
            self.commit_index = index
            self.apply_committed()
