"""Bug: the leader sends a round of append_entries to every follower each time its commit
index moves, on top of the round that carried the entry: twice the messages per command.

Caught by: test_messages_per_entry (message budget).
Evidence: message budget
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def advance_commit(self):
        before = self.commit_index
        super().advance_commit()
        if self.commit_index > before and self.role == "leader":
            for peer in self.peers:                          # BUG: an extra round per commit
                self.send_append_entries(peer)
