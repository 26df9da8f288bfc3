"""Bug: after a snapshot the node deletes the compacted entries from storage except the first
of them (an off-by-one in the range), so every snapshot leaves one dead key behind and the
storage grows without bound, however small the log stays.

Caught by: test_snapshot_log_bound (stored log bound).
Evidence: stored log bound
Evidence: keys besides one per entry
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def save_snapshot(self, data):
        self.snapshot_data = data
        old = self.storage.get("snapshot") or {"index": 0}
        self.storage.put("snapshot", {"index": self.snapshot_index, "term": self.snapshot_term,
                                      "data": data})
        self.save_log(self.snapshot_index + 1)
        for index in range(old["index"] + 2, self.snapshot_index + 1):   # BUG: + 1
            self.storage.delete(f"log/{index}")
