"""Bug (part A): reachable(n) follows paths through other nodes, as if nodes forwarded
messages, so a node behind a one-node bridge is counted in the other side's majority.
Caught by: test_majority_uses_reachable_set.
Evidence: t.reachable("""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
QuorumNode = ref.QuorumNode


class Topology(ref.Topology):
    def reachable(self, node):
        seen, todo = {node}, [node]
        while todo:                                     # BUG: transitive closure
            here = todo.pop()
            for other in self.nodes:
                if other not in seen and self.can_communicate(here, other):
                    seen.add(other)
                    todo.append(other)
        return frozenset(seen)
