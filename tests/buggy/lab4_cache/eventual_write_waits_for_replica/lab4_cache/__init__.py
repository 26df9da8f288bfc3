"""Bug: an eventual write at a node that is not a home replica waits for a home replica to
acknowledge before answering, so a node cut off from the homes cannot accept writes.
Caught by: test_eventual_writes_always_accepted.
Evidence: a running node accepts every eventual write
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def eventual_write(self, c):
        if self.id in c.homes:
            return super().eventual_write(c)
        c.strong = True                              # BUG: a quorum write in disguise
        self.ops[c.id] = c
        self.set_timer(f"deadline:{c.id}", self.STRONG_TIMEOUT, op=c.id)
        self.set_timer(f"retry:{c.id}", self.RETRY_INTERVAL, op=c.id)
        self.send_phase(c)
