"""Bug: an append_entries of an older term is answered with a failure carrying the newer term,
but an install_snapshot of an older term is dropped without an answer, so a stale leader that
sends a lagging follower its snapshot never hears from it that it is stale.

Caught by: test_stale_install_snapshot (stale requests answered).
Evidence: stale requests answered
Evidence: did not answer it with a failure
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def reject_stale(self, src, msg):
        if msg["type"] == "append_entries":
            self.send(src, ref.messages.append_entries_reply(self.term, False))
        # BUG: a stale install_snapshot gets no answer
