"""Bug: a node elected leader again keeps the matchIndex it had for each follower when it
last led, although their logs changed since; it then counts entries as replicated on
followers that no longer hold them.

Caught by: test_leader_returns_to_changed_logs (commit needs a majority).
Evidence: commit needs a majority
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def become_leader(self):
        before = dict(self.match_index)
        super().become_leader()
        for peer, match in before.items():             # BUG: matchIndex of an earlier term
            self.match_index[peer] = max(self.match_index[peer], match)
