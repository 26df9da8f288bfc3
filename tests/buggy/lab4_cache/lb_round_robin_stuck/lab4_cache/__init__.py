"""Bug: round-robin moves its position on only when the node at the position was picked; when
it skips a node whose breaker is open, the position stays on the dead node, so every request
goes to the node right after it while the other four get none.
Caught by: test_routes_around_crash.
Evidence: with one node down, the balancer spreads requests over the other five
Evidence: got fewer than 5"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
CacheNode, HashRing, stable_hash = ref.CacheNode, ref.HashRing, ref.stable_hash


class LoadBalancer(ref.LoadBalancer):
    def pick(self):
        count = len(self.backends)
        for step in range(count):
            node = self.backends[(self.next_index + step) % count]
            if self.breakers[node].state == "closed":
                if step == 0:                            # BUG: a skip leaves the position
                    self.next_index = (self.next_index + 1) % count
                return node
        return None
