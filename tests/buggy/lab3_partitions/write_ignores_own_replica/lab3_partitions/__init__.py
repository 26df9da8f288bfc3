"""Bug: a write's version query counts the coordinator's own replica as one of the majority
without reading it: the highest version comes from the peers' replies only.

On three nodes, when the coordinator holds an acknowledged write of another node and the one
reply it waits for comes from the replica that missed that write, it picks a version below
the acknowledged one: the replicas that hold the older write keep it, and the new write is
acknowledged while a single node holds it. On five nodes the query needs two replies, both
from stale replicas, while the coordinator holds a newer write of another node (its own
writes are covered by its saved counter): the generated tests rarely make that order; the
exhaustive search finds the 10 steps.
Caught by: test_search_write_after_write
Evidence: a write is acknowledged only once a majority of distinct nodes hold it in storage
Evidence: violated after 10 steps
Evidence: nox -s search -- lab3 --test write_after_write"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def start_query(self, op):
        if op.kind == "read":
            return super().start_query(op)
        op.phase, op.answered = "query", {self.id}       # BUG: counted, but its version is
        self.send_phase(op, self.peers)                  # never looked at

    def on_query_answer(self, op, src, version, value):
        if op.kind == "write" and op.answered == {self.id}:
            op.version, op.value = version, value        # the first peer's answer sets them
        super().on_query_answer(op, src, version, value)
