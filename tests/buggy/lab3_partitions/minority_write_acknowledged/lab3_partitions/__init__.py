"""Bug: a write that finds no majority is stored locally and acknowledged anyway.

The minority side accepts writes (the course text's "Should fail" writes succeed).
Caught by: test_course_text_four_phases (and test_majority_writes_minority_refuses).
Evidence: a majority of distinct nodes hold it in storage
Evidence: seed:
Evidence: run it again:"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def give_up(self, op):
        if op.kind != "write":
            return super().give_up(op)
        version = self.next_version(op.key, self.replica(op.key)[0])
        self.store_locally(op.key, version, op.request.body["value"])
        self.finish(op, {"version": list(version)})     # BUG: acknowledged without a majority
