"""Bug: operation ids are "<node>.<count>" with the count in memory only, so every incarnation
numbers its operations 1, 2, ... again. An answer to an operation of the previous incarnation
that arrives after a restart is taken for the new operation with the same id: a strong get of
one key answers with the entries of another key.
Caught by: test_late_replies_after_restart.
Evidence: a reply counts only for the operation it answers, even after a restart
Evidence: so it must return 'B'
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def on_start(self):
        super().on_start()
        self.op_prefix = f"{self.id}."                   # BUG: no boot number in the op ids
