"""Bug: a strong write is acknowledged as soon as it is sent to the replicas, before W of them
have answered; with two replicas down it still says "ok".
Caught by: test_strong_refuses_without_quorum.
Evidence: acknowledged only once W = 2 distinct home replicas hold it
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def strong_write_begin(self, c):
        super().strong_write_begin(c)
        self.answer(c.origin, {"ok": True, "version": c.entry["version"]})   # BUG: no acks yet
        c.answered = True
        self.finish(c)
