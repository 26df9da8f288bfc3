"""Bug (part A): cut's both_ways defaults to True, so cut(a, b) without the keyword breaks
b -> a as well (the handout: cut(a, b) breaks a -> b only).
Caught by: test_cut_is_one_way_or_symmetric.
Evidence: link_up
Evidence: expected True"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
QuorumNode = ref.QuorumNode


class Topology(ref.Topology):
    def cut(self, src, dst, *, both_ways=True):          # BUG: the default is one way
        super().cut(src, dst, both_ways=both_ways)
