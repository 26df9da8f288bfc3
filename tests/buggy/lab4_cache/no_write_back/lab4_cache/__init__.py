"""Bug: a strong read answers the newest entry of its R replies without writing it back to a
quorum first: a later read can miss a value an earlier read already returned (R+W>N alone is
not enough when a write is still in flight or failed half-way).
Caught by: test_strong_read_writes_back.
Evidence: a value a strong read returned is seen by every later strong read
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash
newest = reference_lab("lab4_cache").store.newest


class CacheNode(ref.CacheNode):
    def strong_read_quorum(self, c):
        self.answer_read(c, newest(c.answers.values()))   # BUG: no write-back
        c.phase = "repair"
