"""Bug: eviction removes the entry written first (FIFO), not the least recently used: a read
does not count as a use.
Caught by: test_lru_eviction.
Evidence: a full node evicts its least recently used entry
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash
store = reference_lab("lab4_cache").store


class FifoStore(store.ReplicaStore):
    def get(self, key, *, touch=True):
        return super().get(key, touch=False)        # BUG: reads do not refresh recency


class CacheNode(ref.CacheNode):
    def on_start(self):
        super().on_start()
        self.store = FifoStore(self.storage, self.capacity)
