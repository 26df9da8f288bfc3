"""Bug: a quorum read returns the newest value it saw without writing it back to a majority.

After a coordinator crashes mid-write, one read can return the new value and a later read
(from a quorum that missed it) the old one. In 3.11's runs the history may stay linearizable,
but the invariant checked at every read's answer sees the read return a value fewer than a
majority hold.
Caught by: test_coordinator_crash_mid_write, and test_quorum_ops_linearizable (3.11: its runs
cut off writers whose value reached one other node, so reads overlap half-done writes).
Evidence: NOT LINEARIZABLE
Evidence: cannot take effect here
Evidence matching: [0-9]+[.][0-9]{3} [.][.] [0-9]+[.][0-9]{3}[]]
Evidence: seed:
Evidence: run it again:
Evidence (test_quorum_ops_linearizable): a quorum read answers a value only once a majority of distinct nodes hold it in storage"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def query_done(self, op):
        if op.kind == "read":                           # BUG: no write-back
            self.finish(op, {"value": op.value, "version": list(op.version)})
        else:
            super().query_done(op)
