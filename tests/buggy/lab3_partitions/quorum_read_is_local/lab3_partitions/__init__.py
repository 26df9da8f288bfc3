"""Bug: a "quorum" read answers from the local replica, like a local read.

A node in the minority (or one that missed a write) returns a value older than the last
acknowledged write. Caught by: test_quorum_ops_linearizable.
Evidence: NOT LINEARIZABLE
Evidence: cannot take effect here
Evidence matching: [0-9]+[.][0-9]{3} [.][.] [0-9]+[.][0-9]{3}[]]
Evidence: seed:
Evidence: run it again:"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def begin(self, op):
        if op.kind != "read":
            return super().begin(op)
        version, value = self.replica(op.key)           # BUG: no quorum at all
        self.reply(op.request, {"value": value, "version": list(version)})
