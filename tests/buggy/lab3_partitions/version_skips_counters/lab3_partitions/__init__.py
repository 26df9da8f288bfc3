"""Bug: the write's version comes from a Lamport-style clock that also ticks when the query
phase ends, so a write's counter is the highest seen + 2, not + 1 (handout 4.2: the version
is [highest counter seen in the query phase + 1, your id]).
Caught by: test_course_text_four_phases.
Evidence: versions follow the contract
Evidence: so its version must be [1, 'n3']"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def next_version(self, key, highest):
        counter = max(self.issued.get(key, 0), highest[0]) + 2   # BUG: + 1 is the contract
        self.issued[key] = counter
        self.storage.put("issued:" + key, counter)
        return (counter, self.id)
