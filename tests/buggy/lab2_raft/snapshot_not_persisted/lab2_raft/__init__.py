"""Bug: compaction deletes the compacted entries from storage but keeps the snapshot in
memory only: after a restart the node has neither the entries nor the snapshot.

Caught by: test_snapshot_restart (raft_state() contract).
Evidence: is None
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def save_snapshot(self, data):
        self.snapshot_data = data                 # BUG: never written to storage
        old = self.storage.get("snapshot_was", 0)
        self.save_log(self.snapshot_index + 1)
        for index in range(old + 1, self.snapshot_index + 1):
            self.storage.delete(f"log/{index}")
        self.storage.put("snapshot_was", self.snapshot_index)
