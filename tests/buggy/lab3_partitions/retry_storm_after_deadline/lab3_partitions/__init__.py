"""Bug: a quorum operation gives up only well after its deadline, and once the deadline has
passed its retry timer is armed with the time left, which is now 0: the node retries in a loop
at one instant (a retry storm) instead of answering no_quorum within 0.5 s.
Caught by: test_course_text_four_phases.
Evidence: a message storm or a livelock
Evidence: budget of 50,000 events"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def retry(self, op_id):
        op = self.pending.get(op_id)
        if op is None:
            return
        if self.now() >= op.deadline + 1.0:              # BUG: the deadline is op.deadline
            self.give_up(op)
            return
        self.send_phase(op, [p for p in self.peers if p not in op.answered])
        self.arm(op)                                     # 0 s once the deadline has passed
