"""Bug: a quorum read answers as soon as its query phase ends and leaves the write-back
undone ("repair later"); only writes wait for their store phase.

A read that saw the new value of a half-done write returns it while a majority still holds
the old one, so a later read can return the old value (handout 4.2).
Caught by: test_quorum_ops_linearizable, and test_coordinator_crash_mid_write.
Evidence: a quorum read answers a value only once a majority of distinct nodes hold it in storage
Evidence (test_coordinator_crash_mid_write): NOT LINEARIZABLE"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def start_store(self, op):
        if op.kind == "read":                            # BUG: answer first, repair never
            self.finish(op, {"value": op.value, "version": list(op.version)})
        else:
            super().start_store(op)
