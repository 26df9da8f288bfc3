"""Bug: a write skips the version query and bumps its own replica's version instead.

A node whose replica is stale (it was in the minority) picks a version below the one the
majority holds; the replicas ignore the store as older, yet the write is acknowledged.
Caught by: test_acknowledged_writes_survive_heal (acknowledged writes are never lost).
Evidence: a majority of distinct nodes hold it in storage
Evidence: seed:
Evidence: run it again:"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def start_query(self, op):
        if op.kind != "write":
            return super().start_query(op)
        op.phase, op.answered = "query", set()
        op.version, op.value = self.replica(op.key)      # BUG: only the local version
        self.query_done(op)
