"""Bug: a quorum read's write-back goes to the peers only; the coordinator's own replica keeps
its older value, yet the coordinator still counts itself as one of the majority.

The read answers once one peer acknowledged the write-back. When that peer is the writer of
a half-done write (the only node holding the value while its own stores are in flight), the
read returns a value a single node holds. On five nodes the writer's stores almost always land
before the read's write-back round trip ends, so the generated tests pass; on three nodes the
exhaustive search finds the 8 steps.
Caught by: test_search_read_during_write
Evidence: a quorum read answers a value only once a majority of distinct nodes hold it in storage
Evidence: violated after 8 steps
Evidence: nox -s search -- lab3 --test read_during_write"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def start_store(self, op):
        op.phase, op.answered = "store", set()
        if op.kind == "write":                           # BUG: a read's write-back is not
            self.store_locally(op.key, op.version, op.value)   # stored here...
        self.send_phase(op, self.peers)
        self.on_store_ack(op, self.id)                   # ...but counted here all the same
