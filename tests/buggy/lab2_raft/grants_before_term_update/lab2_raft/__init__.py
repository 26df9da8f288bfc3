"""Bug: a node answers a request_vote before it settles the term: it grants the vote, then
moves to the candidate's newer term, and moving to a newer term clears the vote it has just
given. A second candidate of that term then gets a vote from the same node. It needs two
candidates of one term asking one voter that is still in an older term: the search finds it
in six steps.

Caught by: test_search_election_safety (election safety, by the exhaustive search).
Evidence: election safety violated after 6 steps
Evidence: the shortest interleaving"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_message(self, src, msg):
        if msg["type"] == "request_vote":
            # BUG: the vote is decided before the term is settled; become_follower(newer
            # term) below then forgets it.
            granted = msg["term"] >= self.term and self.voted_for in (None, msg["candidate"])
            if granted:
                self.voted_for = msg["candidate"]
                self.save_term_and_vote()
                self.reset_election_timer()
            if msg["term"] > self.term:
                self.become_follower(msg["term"])
            self.send(src, ref.messages.request_vote_reply(self.term, granted))
            return
        super().on_message(src, msg)
