"""Bug: a voter grants its vote without the up-to-date check (section 5.4.1), so a candidate
whose log lacks committed entries can become leader and overwrite them.

Caught by: test_stale_log_cannot_win (leader completeness).
Evidence: leader completeness
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_request_vote(self, src, msg):
        granted = msg["term"] == self.term and self.voted_for in (None, msg["candidate"])
        if granted:                                          # BUG: no log comparison
            self.voted_for = msg["candidate"]
            self.save_term_and_vote()
            self.reset_election_timer()
        self.send(src, {"type": "request_vote_reply", "term": self.term, "granted": granted})
