"""Bug: on a message with a newer term a leader or candidate adopts the term at once but
keeps its role until its next timer fires, so for a while it acts as leader of a term it
never won.

Caught by: test_old_leader_rejoins (election safety).
Evidence: election safety
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_message(self, src, msg):
        if msg["term"] > self.term and self.role != "follower":
            self.term, self.voted_for = msg["term"], None    # BUG: the role stays as it was
            self.save_term_and_vote()
            self.step_down_pending = True
        super().on_message(src, msg)

    def on_timer(self, name, data):
        if getattr(self, "step_down_pending", False):
            self.step_down_pending = False
            self.become_follower(self.term)
            if name == "heartbeat":
                return
        super().on_timer(name, data)
