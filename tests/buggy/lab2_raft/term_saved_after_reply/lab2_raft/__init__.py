"""Bug: a node that learns a newer term from a message saves it only at the end of the
handler, after its reply (carrying the new term) went out; a crash at that save brings it
back in the older term.

Caught by: test_crash_right_after_acknowledging (acknowledged state survives).
Evidence: acknowledged state survives
Evidence: sent a message of term
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def become_follower(self, term, leader=None):
        if term > self.term:
            self.term, self.voted_for = term, None     # BUG: not saved here...
        super().become_follower(term, leader)

    def on_message(self, src, msg):
        newer = msg["term"] > self.term
        super().on_message(src, msg)
        if newer:
            self.save_term_and_vote()                  # ...but after the reply
