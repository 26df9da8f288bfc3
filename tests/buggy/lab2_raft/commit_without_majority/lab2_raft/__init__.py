"""Bug: an off-by-one in the majority: the leader reads the wrong element of its sorted match
indices and counts an entry as committed once 2 of 5 nodes hold it.

Caught by: test_no_commit_without_majority (commit needs a majority).
Evidence: commit needs a majority
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def advance_commit(self):
        matched = sorted([len(self.entries), *self.match_index.values()], reverse=True)
        index = matched[len(self.peers) // 2 - 1]            # BUG: the 2nd largest, not 3rd
        if index > self.commit_index and self.term_at(index) == self.term:
            self.commit_index = index
            self.apply_committed()
