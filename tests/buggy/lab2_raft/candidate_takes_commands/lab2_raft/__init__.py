"""Bug: a candidate takes client commands as a leader would (it expects to win): it appends
the command to its log in its term and answers with the index. If another candidate of the
same term wins, that leader's first command goes to the same index in the same term (or two candidates both take one): two
different entries with one index and term. The graders submit to the leader they see, so only
a command that reaches a node in the few milliseconds of its candidacy shows it.

Caught by: test_search_log_matching (log matching, by the exhaustive search).
Evidence: log matching violated after 4 steps
Evidence: the shortest interleaving"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_request(self, request):
        body = request.body
        if self.role == ref.raft.CANDIDATE and body.get("op") == "submit" and "command" in body:
            # BUG: only a leader may take a command; a candidate should answer not_leader
            self.entries.append(ref.messages.entry(self.term, body["command"]))
            self.save_log(self.last_index())
            self.reply(request, {"index": self.last_index(), "term": self.term})
            return
        super().on_request(request)
