"""Bug: a replica acknowledges a store at once and saves it to storage a little later (a
"write-behind" flush every 20 ms).

A replica that crashes between its ack and the flush comes back without a value it
acknowledged: the write may be lost.
Caught by: test_crash_right_after_acknowledge
Evidence: a write is acknowledged only once a majority of distinct nodes hold it in storage"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def save_replica(self, key):
        self.dirty = getattr(self, "dirty", set()) | {key}
        self.set_timer("flush", 0.02)                   # BUG: saved after the ack went out

    def on_timer(self, name, data):
        if name == "flush":
            for key in sorted(self.dirty):
                super().save_replica(key)
            self.dirty = set()
        else:
            super().on_timer(name, data)
