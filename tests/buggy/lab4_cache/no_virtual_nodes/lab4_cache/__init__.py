"""Bug: the ring ignores vnodes and puts one point per node on it, so a few nodes own most of
the circle.
Caught by: test_balance.
Evidence: virtual nodes spread keys evenly"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
CacheNode, LoadBalancer, stable_hash = ref.CacheNode, ref.LoadBalancer, ref.stable_hash


class HashRing(ref.HashRing):
    def _vnode_points(self, node):
        return [(stable_hash(node), node)]          # BUG: one point per node
