"""Bug: the leader answers a submit before it saves the new entry, so a leader that crashes
right after answering comes back without the entry it promised at that index.

Caught by: test_crash_right_after_acknowledging (acknowledged state survives).
Evidence: acknowledged state survives
Evidence: to a client, as leader of term
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_request(self, request):
        body = request.body
        if self.role != ref.raft.LEADER or body.get("op") != "submit" or "command" not in body:
            return super().on_request(request)
        self.entries.append(ref.raft.entry(self.term, body["command"]))
        self.reply(request, {"index": len(self.entries), "term": self.term})
        self.save_log(len(self.entries))               # BUG: saved after the answer
        self.advance_commit()
        self.broadcast_append_entries()
