"""Bug: a follower always cuts its log right after prev_index before appending, so a late or
duplicated append_entries of the current leader (with fewer entries) drops entries it has
already acknowledged.

Caught by: test_leader_churn_unreliable (committed entries stay).
Evidence: committed entries stay
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_append_entries(self, src, msg):
        prev, entries = msg["prev_index"], msg["entries"]
        if prev > len(self.entries) or self.term_at(prev) != msg["prev_term"] or not entries:
            return super().handle_append_entries(src, msg)
        self.leader = src
        self.reset_election_timer()
        del self.entries[prev:]                        # BUG: even entries it already had
        self.entries.extend(entries)
        self.save_log(prev + 1)
        match = prev + len(entries)
        if msg["commit"] > self.commit_index:
            self.commit_index = max(self.commit_index, min(msg["commit"], match))
            self.apply_committed()
        self.reply_append(src, True, match_index=match)
