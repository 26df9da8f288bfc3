"""Bug: the preference list takes the next n virtual nodes on the ring without skipping nodes
already taken, so one node can appear twice (and hold two of the N replicas).
Caught by: test_preference_lists_distinct.
Evidence: a preference list names distinct nodes"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
CacheNode, LoadBalancer, stable_hash = ref.CacheNode, ref.LoadBalancer, ref.stable_hash


class HashRing(ref.HashRing):
    def preference_list(self, key, n):
        wanted = min(n, len(self))
        start = self._start(key)
        return [self._owners[(start + i) % len(self._owners)] for i in range(wanted)]  # BUG
