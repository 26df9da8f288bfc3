"""Bug: a candidate counts itself among its votes but does not record the vote (voted_for
stays None), so in its own term it can still grant its vote to another candidate.

Caught by: test_initial_election (standing for election).
Evidence: standing for election
Evidence: a candidate votes for itself
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def become_candidate(self):
        self.role, self.step = "candidate", self.step_candidate
        self.term += 1
        self.voted_for = None            # BUG: the candidate's own vote is not recorded
        self.save_term_and_vote()
        self.leader = None
        self.votes = {self.id}
        self.reset_election_timer()
        ask = ref.messages.request_vote(self.term, self.id, last_log_index=self.last_index(),
                                        last_log_term=self.term_at(self.last_index()))
        for peer in self.peers:
            self.send(peer, ask)
        self.maybe_win_election()
