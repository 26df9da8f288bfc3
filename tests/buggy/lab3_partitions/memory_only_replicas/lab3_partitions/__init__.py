"""Bug: replicas live in memory only; nothing is written to storage.

When nodes crash and restart, acknowledged writes are gone.
Caught by: test_acknowledged_writes_survive_heal.
Evidence: a majority of distinct nodes hold it in storage
Evidence: seed:
Evidence: run it again:"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def save_replica(self, key):
        pass                                            # BUG: not durable
