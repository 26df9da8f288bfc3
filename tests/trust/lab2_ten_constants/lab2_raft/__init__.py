"""Trust test: the buggy Raft variant tests/buggy/lab2_raft/no_up_to_date_check (a voter grants
its vote without the up-to-date check), with ten module-level integer constants added. Numbers
in a student's file must not change which fault schedules the graders generate: grading this
gives the same failure ids and trace digests as grading the variant itself."""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")

# Ten constants of the kind a student writes (and of the sizes Hypothesis would pick up as
# "local constants": milliseconds, seeds, counts).
RETRY_MS = 150
BACKOFF_MS = 275
PATIENCE_MS = 480
ODD_PORT = 777
BATCH_LIMIT = 1234
SNAPSHOT_EVERY = 1500
MAX_LOG = 1999
MAGIC = 2222
SLOW_MS = 2750
LAST_MS = 2999


class RaftNode(ref.RaftNode):
    def handle_request_vote(self, src, msg):
        granted = msg["term"] == self.term and self.voted_for in (None, msg["candidate"])
        if granted:                                          # BUG: no log comparison
            self.voted_for = msg["candidate"]
            self.save_term_and_vote()
            self.reset_election_timer()
        self.send(src, {"type": "request_vote_reply", "term": self.term, "granted": granted})
