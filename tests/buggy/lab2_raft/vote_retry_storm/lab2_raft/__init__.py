"""Bug: a candidate re-sends request_vote every millisecond to every peer that has not granted
its vote yet (a retransmission timer far shorter than a round trip), so an election costs
several times the messages it needs.

Caught by: test_first_election_messages (message budget).
Evidence: message budget
Evidence: seed:"""

from instructor.testing import reference_lab

ref = reference_lab("lab2_raft")


class RaftNode(ref.RaftNode):
    def become_candidate(self):
        super().become_candidate()
        if self.role == "candidate":
            self.set_timer("revote", 0.001)

    def timer_revote(self):
        if self.role != "candidate":
            return
        for peer in self.peers:                              # BUG: retransmits every millisecond
            if peer not in self.votes:
                self.send(peer, {"type": "request_vote", "term": self.term,
                                 "candidate": self.id, "last_log_index": len(self.entries),
                                 "last_log_term": self.term_at(len(self.entries))})
        self.set_timer("revote", 0.001)
