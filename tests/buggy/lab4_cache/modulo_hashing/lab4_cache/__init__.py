"""Bug: keys are placed with hash(key) % number_of_nodes instead of a ring: when a node joins,
almost every key changes owner.
Caught by: test_join_moves_only_to_new_node.
Evidence: a join moves keys only to the new"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
CacheNode, LoadBalancer, stable_hash = ref.CacheNode, ref.LoadBalancer, ref.stable_hash


class HashRing(ref.HashRing):
    def node_for(self, key):
        return self.preference_list(key, 1)[0]

    def preference_list(self, key, n):
        nodes = self.nodes
        start = stable_hash(key) % len(nodes)      # BUG: modulo placement
        return [nodes[(start + i) % len(nodes)] for i in range(min(n, len(nodes)))]
