"""Bug: ring positions come from Python's hash(), which changes from process to process
(PYTHONHASHSEED): two nodes would disagree on who owns a key.
Caught by: test_stable_across_processes.
Evidence: every process places keys the same way"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
CacheNode, LoadBalancer = ref.CacheNode, ref.LoadBalancer


def stable_hash(text):
    return hash(text) % 2**64                     # BUG: not stable across processes


class HashRing(ref.HashRing):
    def _vnode_points(self, node):
        return [(stable_hash(f"{node}#{i}"), node) for i in range(self.vnodes)]

    def _start(self, key):
        import bisect
        i = bisect.bisect_left(self._positions, stable_hash(key))
        return i if i < len(self._positions) else 0
