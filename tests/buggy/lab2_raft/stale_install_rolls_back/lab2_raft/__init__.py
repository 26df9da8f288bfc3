"""Bug: a follower installs any snapshot newer than its own, even one behind its commit
index: a late install_snapshot takes its log and its state machine back.

Caught by: test_stale_install_snapshot (in-order apply).
Evidence: a snapshot never takes the state machine back
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_install_snapshot(self, src, msg):
        self.leader = src
        self.reset_election_timer()
        index, term = msg["snapshot_index"], msg["snapshot_term"]
        if index > self.snapshot_index:           # BUG: should be "> self.commit_index"
            if index <= self.last_index() and self.term_at(index) == term:
                del self.entries[:index - self.snapshot_index]
            else:
                self.entries = []
            self.snapshot_index, self.snapshot_term = index, term
            self.save_snapshot(msg["data"])
            self.commit_index = self.last_applied = index
            self.restore_snapshot(index, msg["data"])
        self.send(src, ref.raft.install_snapshot_reply(self.term, True, match_index=index))
