"""Bug: a quorum is n // 2 nodes (2 of 5) instead of a majority (3 of 5).

Two minorities can then both write, and the minority side accepts writes.
Caught by: test_majority_writes_minority_refuses.
Evidence: the minority side refuses within 0.5 s
Evidence: seed:
Evidence: run it again:"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    @property
    def majority(self):
        return (len(self.peers) + 1) // 2              # BUG: 2 of 5 is not a majority
