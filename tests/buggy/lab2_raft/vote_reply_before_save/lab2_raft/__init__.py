"""Bug: a voter sends its reply before it records and saves the vote, so a voter that
crashes right after granting comes back without the vote and may grant another in the same
term.

Caught by: test_crash_right_after_acknowledging (acknowledged state survives).
Evidence: acknowledged state survives
Evidence: granted its vote in term
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_request_vote(self, src, msg):
        up_to_date = ((msg["last_log_term"], msg["last_log_index"])
                      >= (self.term_at(len(self.entries)), len(self.entries)))
        granted = (msg["term"] == self.term and self.voted_for in (None, msg["candidate"])
                   and up_to_date)
        self.send(src, ref.raft.request_vote_reply(self.term, granted))   # BUG: reply first
        if granted:
            self.voted_for = msg["candidate"]
            self.save_term_and_vote()
            self.reset_election_timer()
