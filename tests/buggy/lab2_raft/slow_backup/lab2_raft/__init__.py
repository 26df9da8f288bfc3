"""Bug: on a rejected append_entries the leader backs up one entry per round trip and
ignores the follower's conflict hint, so a follower 50 entries behind costs 50 round trips.

Caught by: test_backup_divergent_logs (message budget).
Evidence: fast backup
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_append_entries_reply(self, src, msg):
        if msg["success"]:
            super().handle_append_entries_reply(src, msg)
        elif self.next_index[src] > self.match_index[src] + 1:
            self.next_index[src] -= 1                        # BUG: one entry at a time
            self.send_append_entries(src)
