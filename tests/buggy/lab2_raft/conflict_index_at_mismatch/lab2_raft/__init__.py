"""Bug: a follower whose entry at prev_index has the wrong term answers with that index as
conflict_index, not the first index it holds of that term. A leader that holds entries of
the conflict term still skips the term in one step, but a leader that never saw the term
backs up one entry per round trip.

Caught by: test_backup_divergent_logs (message budget).
Evidence: fast backup
Evidence: entries of a term
Evidence: never saw
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_append_entries(self, src, msg):
        self.mismatch_at = msg["prev_index"]
        super().handle_append_entries(src, msg)

    def reply_append(self, dst, success, **fields):
        if not success and fields.get("conflict_term") is not None:
            fields["conflict_index"] = self.mismatch_at   # BUG: not the first of its term
        super().reply_append(dst, success, **fields)
