"""Bug: the election timer handler moves to the next term and so does become_candidate, so
every election skips a term (1, 3, 5, ...). Nothing breaks in the cluster, but a node no
longer moves to its term plus one when it stands, as the protocol says.

Caught by: test_initial_election (standing for election).
Evidence: standing for election
Evidence: moves to the next term
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def timer_election(self):
        if self.role != "leader":
            self.term += 1               # BUG: become_candidate increments it again
            self.become_candidate()
