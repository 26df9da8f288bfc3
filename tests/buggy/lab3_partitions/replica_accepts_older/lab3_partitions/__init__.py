"""Bug: a replica stores whatever version a store or sync message brings, older or not.

A late store of an old write (or an anti-entropy push from a stale node) replaces a newer
acknowledged value, so an acknowledged write can disappear from a majority.
Caught by: test_late_replies_count_only_for_their_request
Evidence: an acknowledged write is never lost"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class QuorumNode(ref.QuorumNode):
    def store_locally(self, key, version, value):
        if version != self.replica(key)[0]:              # BUG: "different", not "newer"
            self.replicas[key] = (version, value)
            self.save_replica(key)
