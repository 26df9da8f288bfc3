"""Bug: election timeouts are drawn from [300, 450) ms, past the handout's [150, 300) ms
("at least the maximum, plus some jitter"), so a cluster without a leader waits longer than
the handout allows before anyone stands; it still elects a leader within the 1 s deadline.

Caught by: test_initial_election (election timeout).
Evidence: election timeout
Evidence: no node had started an election 300 ms after
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def reset_election_timer(self):
        # BUG: from the maximum up, not from the minimum to the maximum
        self.set_timer("election", self.rng.uniform(ref.ELECTION_TIMEOUT_MAX,
                                                    ref.ELECTION_TIMEOUT_MAX
                                                    + ref.ELECTION_TIMEOUT_MIN))
