"""Bug: a strong write in its commit phase counts every replicate_ack for its key, whatever
version the ack is for.

An acknowledgement of an older (eventual) write of the key, arriving late, counts for the
strong write, which is then acknowledged while only its coordinator holds it.
Caught by: test_late_acks_and_crash_after_ack
Evidence: a strong write is acknowledged only once a majority holds it in storage"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")
is_newer = ref.kvnode.is_newer


class KVNode(ref.KVNode):
    def handle_replicate_ack(self, src, msg):
        key, version = msg["key"], msg["version"]
        if (src, key) in self.outbox and not is_newer(self.data[key][0], version):
            del self.outbox[(src, key)]
        for wid, write in sorted(self.writes.items()):
            if write.phase == "commit" and write.key == key:   # BUG: any version will do
                write.acks.add(src)
                self.advance_write(wid)
