"""Bug: a candidate counts granted votes in a list, not a set of voters, so a duplicated
vote reply counts twice and a candidate with two real votes can win.

Caught by: test_leader_churn_unreliable (leader has a majority of votes).
Evidence: leader has a majority of votes
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def become_candidate(self):
        self.granted = [self.id]             # BUG: a list of replies, not a set of voters
        super().become_candidate()

    def handle_request_vote_reply(self, src, msg):
        if msg["granted"]:
            self.granted.append(src)
            self.maybe_win_election()

    def maybe_win_election(self):
        if self.role == ref.raft.CANDIDATE and len(self.granted) > (len(self.peers) + 1) // 2:
            self.become_leader()
