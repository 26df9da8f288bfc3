"""Bug: the election timeout is not randomized (always 200 ms), so nodes that start together
time out together and split the vote forever.

Caught by: test_initial_election (liveness).
Evidence: liveness
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def reset_election_timer(self):
        self.set_timer("election", 0.200)                    # BUG: same timeout everywhere
