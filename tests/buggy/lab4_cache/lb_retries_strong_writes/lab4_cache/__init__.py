"""Bug: the load balancer retries every request whose forward timed out, strong writes
included: a strong put that may already have taken effect is sent again.
Caught by: test_retries_reads.
Evidence: a strong write that reached a crashed node is not sent again
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
CacheNode, HashRing, stable_hash = ref.CacheNode, ref.HashRing, ref.stable_hash


class Forwarding(ref.balancer.Forwarding):
    @property
    def repeatable(self):
        return True                                  # BUG: strong writes are not idempotent


class LoadBalancer(ref.LoadBalancer):
    def on_request(self, request):
        self.fid_count += 1
        f = Forwarding(self.fid_count, request)
        self.pending[f.fid] = f
        self.dispatch(f)
