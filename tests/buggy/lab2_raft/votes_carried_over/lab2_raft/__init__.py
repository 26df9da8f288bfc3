"""Bug: a candidate keeps the voters of its earlier elections when it stands again, so votes
granted for an older term count in the new one.

Caught by: test_leader_churn_unreliable (leader has a majority of votes).
Evidence: leader has a majority of votes
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def become_candidate(self):
        before = set(getattr(self, "votes", ()))
        self.votes = before
        super().become_candidate()
        if self.role == ref.raft.CANDIDATE:
            self.votes |= before                       # BUG: voters of an earlier term
            self.maybe_win_election()
