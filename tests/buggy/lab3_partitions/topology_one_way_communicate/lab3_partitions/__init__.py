"""Bug (part A): can_communicate(a, b) looks at the link a -> b only.

After a one-way cut, the two nodes disagree about whether they can communicate.
Caught by: test_cut_is_one_way_or_symmetric.
Evidence: can_communicate"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
QuorumNode = ref.QuorumNode


class Topology(ref.Topology):
    def can_communicate(self, a, b):
        return self.link_up(a, b)                       # BUG: a request needs its reply too
