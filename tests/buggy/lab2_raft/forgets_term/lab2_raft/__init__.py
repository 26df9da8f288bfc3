"""Bug: the current term is not saved in storage, so a restarted node starts again at term 0
and can grant votes in terms it has already voted in.

Caught by: test_restart_all (terms never decrease).
Evidence: terms never decrease
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def save_term_and_vote(self):
        self.storage.put("voted_for", self.voted_for)        # BUG: the term is not saved
