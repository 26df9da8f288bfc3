"""Bug: the leader puts a new command right after its commit index (where the next committed
entry will go) instead of after its last entry, so a second command that arrives before the
first one commits overwrites it in the leader's log, in the same term and at the same index
as the copy its followers already hold.

Caught by: test_search_log_matching (log matching, by the exhaustive search).
Evidence: log matching violated after
Evidence: the shortest interleaving"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_request(self, request):
        body = request.body
        if self.role != ref.raft.LEADER or body.get("op") != "submit" or "command" not in body:
            super().on_request(request)
            return
        index = self.commit_index + 1          # BUG: should be self.last_index() + 1
        del self.entries[index - self.snapshot_index - 1:]
        self.entries.append(ref.messages.entry(self.term, body["command"]))
        self.save_log(index)
        self.reply(request, {"index": self.last_index(), "term": self.term})
        self.advance_commit()
        self.broadcast_append_entries()
