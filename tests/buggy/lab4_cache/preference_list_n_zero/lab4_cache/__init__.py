"""Bug: the preference list walk appends the owner before it compares the list's length with
n (a do-while loop), so preference_list(key, 0) names one node, or every node, instead of none.
Caught by: test_preference_lists_distinct.
Evidence: a preference list names distinct nodes
Evidence: it must hold min(n, nodes) = 0 nodes"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
CacheNode, LoadBalancer, stable_hash = ref.CacheNode, ref.LoadBalancer, ref.stable_hash


class HashRing(ref.HashRing):
    def preference_list(self, key, n):
        wanted = min(n, len(self))
        found = []
        if not self._owners:
            return found
        start = self._start(key)
        total = len(self._owners)
        for step in range(total):
            node = self._owners[(start + step) % total]
            if node not in found:
                found.append(node)
                if len(found) >= max(wanted, 1):          # BUG: at least one node, even for n=0
                    break
        return found
