"""Bug: replication is fire-and-forget. Each replicate is sent once and never resent, so a
write made during a partition (or whose message is lost) never reaches the other side.

Caught by: test_eventual_available_on_both_sides (and test_replicas_converge_after_heal).
Evidence: replicas converge after the faults heal"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")


class KVNode(ref.KVNode):
    def arm_retry(self):
        self.outbox.clear()          # forget what was sent: no resend, ever
