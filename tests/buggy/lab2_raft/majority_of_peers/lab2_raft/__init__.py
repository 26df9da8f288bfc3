"""Bug: "a majority" is computed from the peers alone, more than half of ``len(self.peers)``
(3 of 5 and 4 of 7 come out right), so in a cluster of four a candidate wins with 2 votes and
a leader commits with 2 copies.

Caught by: test_even_cluster (leader has a majority of votes).
Evidence: leader has a majority of votes
Evidence: 2 of 4 nodes
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def maybe_win_election(self):
        if self.role == "candidate" and len(self.votes) > len(self.peers) // 2:   # BUG
            self.become_leader()

    def advance_commit(self):
        matched = sorted([self.last_index(), *self.match_index.values()], reverse=True)
        index = matched[len(self.peers) // 2]                                    # BUG
        if index > self.commit_index and self.term_at(index) == self.term:
            self.commit_index = index
            self.apply_committed()
