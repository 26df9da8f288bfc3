"""Bug: each phase is sent once; a lost query or store is never sent again.

Without loss every request succeeds; on a lossy network a node that can reach a majority
refuses (no_quorum) requests it could have finished (handout 4.3: keep resending).
Caught by: test_lossy_network_majority_serves_minority_refuses
Evidence: the majority side succeeds under message loss"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def send_phase(self, op, targets):
        if len(targets) == len(self.peers):              # BUG: the first round only
            super().send_phase(op, targets)
