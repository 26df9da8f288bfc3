"""Bug: hints are written to storage but never read back: after a restart a node starts with no
hints, so a copy it held for a down home is never delivered (the owner stays stale until a
read repairs it).
Caught by: test_hinted_handoff.
Evidence: a copy for a down replica goes to the next node and reaches the owner later
Evidence: must still hold 1 hint, but it holds 0"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def on_start(self):
        super().on_start()
        self.hints._records.clear()                      # BUG: the stored hints are not loaded
