"""Bug: a strong write is acknowledged as soon as a majority answered the prepare, before a
majority holds the value. If the coordinator is cut off right then, a strong read on the
other nodes misses an acknowledged write.

Caught by: test_strong_write_acknowledged_only_with_majority.
Evidence: a strong write is acknowledged only once a majority holds it in storage"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")


class KVNode(ref.KVNode):
    def advance_write(self, wid):
        write = self.writes[wid]
        if write.phase == "prepare" and 1 + len(write.acks) >= self.majority:
            self.store(write.key, write.version, write.value)
            self.replicate(write.key)
            self.finish_write(wid, {"ok": True, "version": write.version})
            return
        super().advance_write(wid)
