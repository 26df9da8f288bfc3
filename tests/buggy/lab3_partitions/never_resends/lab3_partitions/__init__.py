"""Bug: each phase is sent once; a lost query or store is never sent again.

Without loss every request succeeds; on a lossy network a node that can reach a majority
refuses (no_quorum) requests it could have finished (handout 4.3: keep resending).
Caught by: test_lossy_network_majority_serves_minority_refuses, and test_course_text_four_phases
(its lossy round: 30% of messages lost on the whole cluster).
Evidence: the majority side succeeds under message loss
Evidence (test_course_text_four_phases): 30% of messages are lost: resend every RETRY_INTERVAL"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def send_phase(self, op, targets):
        if len(targets) == len(self.peers):              # BUG: the first round only
            super().send_phase(op, targets)
