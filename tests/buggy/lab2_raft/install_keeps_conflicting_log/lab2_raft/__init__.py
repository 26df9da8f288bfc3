"""Bug: a follower that installs a snapshot keeps the entries after its index even when its
own entry there has another term: a dead leader's entries survive behind the snapshot.

Caught by: test_install_discards_conflicting_log (log matching).
Evidence: log matching
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_install_snapshot(self, src, msg):
        self.leader = src
        self.reset_election_timer()
        index, term = msg["snapshot_index"], msg["snapshot_term"]
        if index > self.commit_index:
            if index <= self.last_index():        # BUG: no check of the term at index
                del self.entries[:index - self.snapshot_index]
            else:
                self.entries = []
            self.snapshot_index, self.snapshot_term = index, term
            self.save_snapshot(msg["data"])
            self.commit_index = self.last_applied = index
            self.restore_snapshot(index, msg["data"])
        self.send(src, ref.raft.install_snapshot_reply(self.term, True, match_index=index))
