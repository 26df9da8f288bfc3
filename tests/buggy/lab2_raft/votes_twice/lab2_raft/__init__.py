"""Bug: a voter grants its vote without checking whom it already voted for in this term, so
two candidates of one term can both win.

Caught by: test_one_vote_per_term (one vote per term / election safety).
Evidence: one vote per term
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_request_vote(self, src, msg):
        up_to_date = ((msg["last_log_term"], msg["last_log_index"])
                      >= (self.term_at(len(self.entries)), len(self.entries)))
        granted = msg["term"] == self.term and up_to_date   # BUG: ignores voted_for
        if granted:
            self.voted_for = msg["candidate"]
            self.save_term_and_vote()
            self.reset_election_timer()
        self.send(src, {"type": "request_vote_reply", "term": self.term, "granted": granted})
