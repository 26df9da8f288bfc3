"""Bug: on a conflicting entry a follower overwrites that one entry but keeps the rest of
its old suffix, so entries of a dead leader survive behind the new leader's entries.

Caught by: test_old_leader_rejoins (log matching).
Evidence: log matching
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_append_entries(self, src, msg):
        self.leader = src
        self.reset_election_timer()
        prev, entries = msg["prev_index"], msg["entries"]
        if prev > len(self.entries):
            self.reply_append(src, False, conflict_index=len(self.entries) + 1)
            return
        if self.term_at(prev) != msg["prev_term"]:
            conflict_term = self.term_at(prev)
            first = prev
            while first > 1 and self.term_at(first - 1) == conflict_term:
                first -= 1
            self.reply_append(src, False, conflict_index=first, conflict_term=conflict_term)
            return
        for offset, entry in enumerate(entries):
            index = prev + 1 + offset
            if index > len(self.entries):
                self.entries.append(entry)
            elif self.term_at(index) != entry["term"]:
                self.entries[index - 1] = entry               # BUG: the old suffix stays
            self.save_log(index)
        match = prev + len(entries)
        if msg["commit"] > self.commit_index:
            self.commit_index = max(self.commit_index, min(msg["commit"], match))
            self.apply_committed()
        self.reply_append(src, True, match_index=match)
