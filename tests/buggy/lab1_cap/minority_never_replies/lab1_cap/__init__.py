"""Bug: a strong write without a majority never gives up: it keeps resending its prepares
and the client never gets an answer (a hang, instead of insufficient_replicas in time).

Caught by: test_strong_write_refused_in_minority.
Evidence: no reply at all"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")
kv = ref.kvnode


class KVNode(ref.KVNode):
    def timer_write(self, wid):
        write = self.writes.get(wid)
        if write is not None and write.phase == "prepare":
            write.deadline = self.now() + kv.STRONG_TIMEOUT   # wait for ever
        super().timer_write(wid)
