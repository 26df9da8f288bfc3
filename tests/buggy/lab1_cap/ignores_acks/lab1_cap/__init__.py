"""Bug: acknowledgements never clear the outbox, so every replicate is resent every
RETRY_INTERVAL for ever: replicas converge, but the cluster never goes quiet.

Caught by: test_replication_message_budget.
Evidence: eventual replication stays within its message budget"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")


class KVNode(ref.KVNode):
    def handle_replicate_ack(self, src, msg):
        for wid, write in sorted(self.writes.items()):   # still counts strong-write acks
            if write.phase == "commit" and write.key == msg["key"] \
                    and write.version <= msg["version"]:
                write.acks.add(src)
                self.advance_write(wid)
