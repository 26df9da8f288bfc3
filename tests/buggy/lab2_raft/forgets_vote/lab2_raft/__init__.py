"""Bug: the vote is not saved in storage (only the term is), so a node that crashes and
restarts in the middle of an election can vote a second time in the same term.

Caught by: test_vote_survives_restart (acknowledged state survives).
Evidence: acknowledged state survives
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def save_term_and_vote(self):
        self.storage.put("term", self.term)                  # BUG: voted_for is not saved
