"""Bug: every write (and every hint received) arms the handoff timer again, which restarts its
0.1 s countdown: on a node that coordinates a write more often than every HANDOFF_INTERVAL the
timer never fires, so its hints wait until the writes stop.
Caught by: test_hinted_handoff.
Evidence: a copy for a down replica goes to the next node and reaches the owner later
Evidence: a busy node still sends its hints every HANDOFF_INTERVAL"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def arm_handoff(self):
        if self.hints:
            self.set_timer("handoff", self.HANDOFF_INTERVAL)   # BUG: restarts the countdown
