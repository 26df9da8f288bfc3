"""Bug: the course text's strong write. It stores the value at once (visible here), sends it
to the peers (visible there too), and when no majority acknowledges in time it "rolls back"
by deleting the key: the refused write was visible, and the previous value is gone.

Caught by: test_refused_write_keeps_previous_value.
Evidence: a refused strong write"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")
kv = ref.kvnode


class KVNode(ref.KVNode):
    def start_strong_write(self, request, key, value):
        version = self.new_version()
        wid = f"{version[0]}.{version[1]}"
        self.writes[wid] = kv.StrongWrite(request, key, value, version,
                                          self.now() + kv.STRONG_TIMEOUT, phase="commit")
        self.store(key, version, value)
        self.replicate(key)
        self.set_timer(f"write:{wid}", kv.RETRY_INTERVAL, wid=wid)

    def timer_write(self, wid):
        write = self.writes.get(wid)
        if write is not None and write.deadline - self.now() <= 1e-9:
            self.data.pop(write.key, None)                      # the "rollback"
            self.storage.delete(kv.DATA_PREFIX + write.key)
            for peer in self.peers:
                self.outbox.pop((peer, write.key), None)
            self.finish_write(wid, {"error": "insufficient_replicas"})
            return
        super().timer_write(wid)
