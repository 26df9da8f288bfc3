"""Bug: operation ids restart from 1 after a crash (the boot counter is not in storage).

Replies to the operations of an earlier incarnation, still in flight, then match the new
incarnation's operation with the same id, and count for it: the restarted coordinator
acknowledges a write that too few replicas stored.
Caught by: test_late_replies_count_only_for_their_request
Evidence: a write is acknowledged only once a majority of distinct nodes hold it in storage"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def new_id(self):
        self.seq += 1
        return f"1.{self.seq}"                          # BUG: the same ids in every incarnation
