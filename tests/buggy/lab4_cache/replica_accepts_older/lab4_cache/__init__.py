"""Bug: a replica stores every entry a write message brings, older or not (repairs and
handoffs still compare versions).

A late or duplicated write of an old version, arriving after a newer one, replaces it: the
replica's version goes back (and an acknowledged strong write can vanish from its homes).
Caught by: test_read_repair
Evidence: a replica's version of a key never goes back"""

from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def handle_write(self, src, msg):
        self.store._lru.pop(msg["key"], None)            # BUG: forget what is held, so the
        super().handle_write(src, msg)                   # incoming entry always "is newer"
