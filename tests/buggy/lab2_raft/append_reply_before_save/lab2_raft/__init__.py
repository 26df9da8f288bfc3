"""Bug: a follower acknowledges new entries before it saves them, so a follower that crashes
right after its reply comes back without entries the leader counted as replicated.

Caught by: test_crash_right_after_acknowledging (acknowledged state survives).
Evidence: acknowledged state survives
Evidence: acknowledged entries 1..
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def handle_append_entries(self, src, msg):
        self.leader = src
        self.reset_election_timer()
        prev, entries = msg["prev_index"], msg["entries"]
        if prev > len(self.entries) or self.term_at(prev) != msg["prev_term"]:
            return super().handle_append_entries(src, msg)
        changed = None
        for offset, new in enumerate(entries):
            index = prev + 1 + offset
            if index <= len(self.entries) and self.term_at(index) == new["term"]:
                continue
            del self.entries[index - 1:]
            self.entries.extend(entries[offset:])
            changed = index
            break
        match = prev + len(entries)
        if msg["commit"] > self.commit_index:
            self.commit_index = max(self.commit_index, min(msg["commit"], match))
            self.apply_committed()
        self.reply_append(src, True, match_index=match)
        if changed is not None:
            self.save_log(changed)                     # BUG: saved after the reply went out
