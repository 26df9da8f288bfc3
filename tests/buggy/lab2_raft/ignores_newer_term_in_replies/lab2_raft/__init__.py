"""Bug: a reply that carries a newer term is dropped as if it were stale, so a node learns of
a newer term only from requests (request_vote, append_entries). A leader cut off from one
follower that won a newer term hears that term only in its other followers' replies, and
stays leader of its old term for as long as the link is cut, taking submits it can never
commit.

Caught by: test_leader_loses_one_link (stale leader steps down).
Evidence: stale leader steps down
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def on_message(self, src, msg):
        if msg["type"].endswith("_reply") and msg["term"] > self.term:
            return   # BUG: "a reply from another term is an old one": the newer term is lost
        super().on_message(src, msg)
