"""Bug: a strong read whose R answers disagree answers the newest entry at once and only then
writes it back ("repair in the background"), instead of waiting for W homes to hold it.

A read that saw a half-done put returns its value while only one home holds it; a later read
that hears the two other homes (before the write-back reaches them) returns the older value.
Caught by: test_strong_read_writes_back, and test_strong_linearizable (4.9).
Evidence: a strong read answers only once W = 2 distinct home replicas hold what it returns
Evidence (test_strong_linearizable): a strong read answers only once W = 2 distinct home replicas hold what it returns"""

from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash
newest = ref.store.newest


class CacheNode(ref.CacheNode):
    def strong_read_quorum(self, c):
        best = newest(c.answers.values())
        super().strong_read_quorum(c)
        if c.phase == "writeback" and not c.answered:
            self.answer_read(c, best)                    # BUG: answered before the write-back
            c.answered = True

    def answer_read(self, c, entry):
        if not c.answered:
            super().answer_read(c, entry)
