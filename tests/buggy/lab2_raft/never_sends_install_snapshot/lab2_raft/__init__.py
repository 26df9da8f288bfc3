"""Bug: the leader never sends install_snapshot: to a follower that needs compacted entries
it sends its log from index 1, which is really the log after its snapshot.

Caught by: test_snapshot_catch_up (state-machine safety).
Evidence: state-machine safety
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def send_append_entries(self, peer):
        prev = self.next_index[peer] - 1
        if prev < self.snapshot_index:            # BUG: start over from index 1
            self.send(peer, ref.raft.append_entries(self.term, self.id, prev_index=0,
                                                    prev_term=0, entries=self.entries,
                                                    commit=self.commit_index))
            return
        super().send_append_entries(peer)
