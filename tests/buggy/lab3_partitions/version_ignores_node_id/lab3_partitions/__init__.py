"""Bug: versions are compared by counter only, ignoring the node id.

Two coordinators that write the same key at once pick the same counter; each replica keeps
whichever store arrived first, and anti-entropy never settles the tie.
Caught by: test_replicas_converge_after_heal.
Evidence: replicas converge after heal
Evidence: seed:
Evidence: run it again:"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    @staticmethod
    def newer(version, than):
        return version[0] > than[0]                     # BUG: (3, "n1") vs (3, "n4") ties
