"""Bug: a candidate counts a granted vote reply without checking its term, so a late reply
from one of its earlier elections counts in the current one.

Caught by: test_aimed_generated (leader has a majority of votes).
Evidence: leader has a majority of votes
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_message(self, src, msg):
        if (msg["type"] == "request_vote_reply" and self.role == ref.raft.CANDIDATE
                and msg["term"] < self.term):
            self.handle_request_vote_reply(src, msg)    # BUG: a reply of an older election
            return
        super().on_message(src, msg)
