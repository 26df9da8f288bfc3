"""Bug: a quorum read returns the newest value it saw without writing it back to a majority.

After a coordinator crashes mid-write, one read can return the new value and a later read
(from a quorum that missed it) the old one. Caught by: test_coordinator_crash_mid_write.
Evidence: NOT LINEARIZABLE
Evidence: cannot take effect here
Evidence matching: [0-9]+[.][0-9]{3} [.][.] [0-9]+[.][0-9]{3}[]]
Evidence: seed:
Evidence: run it again:"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def query_done(self, op):
        if op.kind == "read":                           # BUG: no write-back
            self.finish(op, {"value": op.value, "version": list(op.version)})
        else:
            super().query_done(op)
