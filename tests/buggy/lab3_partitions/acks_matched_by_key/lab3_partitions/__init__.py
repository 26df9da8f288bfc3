"""Bug: a store acknowledgement is matched to the operation by its key, not by its request id.

A late ack of an earlier write of the same key (delayed, or a duplicate) counts for the write
in progress, which is then acknowledged before a majority stored it.
Caught by: test_late_replies_count_only_for_their_request
Evidence: a write is acknowledged only once a majority of distinct nodes hold it in storage"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def handle_store(self, src, msg):
        self.store_locally(msg["key"], tuple(msg["version"]), msg["value"])
        self.send(src, {"type": "store_ack", "op": msg["op"], "key": msg["key"]})

    def handle_store_ack(self, src, msg):
        for op in list(self.pending.values()):          # BUG: any store of that key will do
            if op.key == msg["key"] and op.phase == "store" and src not in op.answered:
                self.on_store_ack(op, src)
                return
