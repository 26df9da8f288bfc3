"""Bug: install_snapshot is handled before the term is settled, and takes the sender's term
as the node's own: a late install_snapshot from a deposed leader moves the term back.

Caught by: test_stale_install_snapshot (terms never decrease).
Evidence: terms never decrease
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_message(self, src, msg):
        if msg["type"] == "install_snapshot":
            self.term = msg["term"]               # BUG: even when it is older than ours
            self.save_term_and_vote()
            self.become_follower(self.term, leader=src)
            self.handle_install_snapshot(src, msg)
            return
        super().on_message(src, msg)
