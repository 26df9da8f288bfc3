"""Bug: compaction drops the entries from the in-memory log but never deletes them from
storage, which grows without bound.

Caught by: test_snapshot_log_bound (stored log bound).
Evidence: stored log bound
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def save_snapshot(self, data):
        self.snapshot_data = data
        self.storage.put("snapshot", {"index": self.snapshot_index, "term": self.snapshot_term,
                                      "data": data})
        self.save_log(self.snapshot_index + 1)    # BUG: the compacted entries stay stored
