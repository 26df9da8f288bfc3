"""Bug: a strong read answers the newest entry of its R replies without writing it back to a
quorum first: a later read can miss a value an earlier read already returned (R+W>N alone is
not enough when a write is still in flight or failed half-way).
Caught by: test_strong_read_writes_back, and test_strong_linearizable (4.9: its runs cut off
writers whose put reached one home, so strong reads overlap half-done puts; the invariant
checked at every strong read's reply sees the read answer a version only one home holds).
Evidence: a value a strong read returned is seen by every later strong read
Evidence: seed:
Evidence: run it again:
Evidence (test_strong_linearizable): a strong read answers only once W = 2 distinct home replicas hold what it returns
Evidence (test_strong_linearizable): but only 1 of its home replicas holds that version"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash
newest = reference_lab("lab4_cache").store.newest


class CacheNode(ref.CacheNode):
    def strong_read_quorum(self, c):
        self.answer_read(c, newest(c.answers.values()))   # BUG: no write-back
        c.phase = "repair"
