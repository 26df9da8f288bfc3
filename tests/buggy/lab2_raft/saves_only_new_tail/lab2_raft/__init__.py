"""Bug: after replacing a conflicting suffix, a follower saves only the entries past its old
log's end, so the replaced entries keep their old values in storage and come back after a
restart.

Caught by: test_leader_churn_unreliable (log matching, after a restart).
Evidence: log matching
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_append_entries(self, src, msg):
        self._old_length = len(self.entries)
        super().handle_append_entries(src, msg)

    def save_log(self, first):
        old = getattr(self, "_old_length", None)
        if old is not None and first <= old:
            first = old + 1                            # BUG: the replaced entries stay stale
        super().save_log(first)
