"""Bug: each phase of an operation is sent once; a lost read or write message is never sent
again (the retry timer only re-arms itself).

Without loss every request succeeds; on a lossy network a strong operation whose homes are
all up is refused (handout 4.2: resend every RETRY_INTERVAL).
Caught by: test_strong_ops_succeed_under_loss
Evidence: a strong operation succeeds under message loss when its homes are up"""

from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def timer_retry(self, op):
        if op in self.ops:                               # BUG: re-arms, never resends
            self.set_timer(f"retry:{op}", self.RETRY_INTERVAL, op=op)
