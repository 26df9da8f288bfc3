"""Bug: a strong read answers with the first replica's entry (R=1): a stale replica can answer
before the others and the read misses the last acknowledged write.
Caught by: test_strong_read_sees_last_write.
Evidence: a strong read sees the last acknowledged strong write
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def handle_read_ack(self, src, msg):
        c = self.ops.get(msg["op"])
        if c is None or not (c.strong and c.op == "get" and c.phase == "query"):
            return super().handle_read_ack(src, msg)
        c.answers[src] = msg["entry"]
        self.see(msg["entry"])
        self.answer_read(c, msg["entry"])      # BUG: one answer is not a quorum
        c.phase = "repair"
