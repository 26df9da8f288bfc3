"""Bug: no background anti-entropy; only quorum operations move values between replicas.

A node that was in the minority keeps its stale replica after the heal, and local reads on it
stay stale forever. Caught by: test_local_reads_always_available.
Evidence: local reads answer at once, on every node
Evidence: seed:
Evidence: run it again:"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def anti_entropy(self):
        pass                                            # BUG: never exchanges, never re-armed
