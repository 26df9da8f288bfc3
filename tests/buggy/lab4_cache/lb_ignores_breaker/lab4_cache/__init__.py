"""Bug: the load balancer keeps its breakers up to date but picks nodes round-robin without
asking them, so a crashed node keeps getting requests.
Caught by: test_routes_around_crash.
Evidence: the balancer stops sending to a crashed node
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
CacheNode, HashRing, stable_hash = ref.CacheNode, ref.HashRing, ref.stable_hash


class LoadBalancer(ref.LoadBalancer):
    def pick(self):
        node = self.backends[self.next_index % len(self.backends)]   # BUG: breaker not asked
        self.next_index += 1
        return node
