"""Bug (part A): split adds its cuts to the earlier ones instead of replacing them, so a node
isolated before the split stays cut off from its own group.
Caught by: test_split_separates_groups.
Evidence: after the split"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
QuorumNode = ref.QuorumNode


class Topology(ref.Topology):
    def split(self, *groups):
        before = set(self._down)
        super().split(*groups)
        self._down |= before                            # BUG: earlier cuts survive the split
