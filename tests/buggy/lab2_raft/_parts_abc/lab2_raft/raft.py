"""Raft consensus, as in Figure 2 of the extended Raft paper: leader election, log replication,
commitment and persistence, written as one event-driven node (the reference solution).

The node is a pure state machine, in the manner of etcd's raft package: the runtime calls
``on_start``, ``on_message``, ``on_timer`` or ``on_request``; the node updates its state and asks
for actions (``send``, ``reply``, ``set_timer``, ``storage`` writes, ``apply``). It never reads a
clock or a socket.

Structure:

* ``on_message`` is the one entry point for messages. It settles the term first (a message
  from a newer term turns any node into a follower of that term), answers votes (the same rule
  for every role), bounces messages from older terms, and hands the rest to the step function
  of the current role (``step_follower`` / ``step_candidate`` / ``step_leader``), which
  ``become_follower`` / ``become_candidate`` / ``become_leader`` swap in.
* Persistent state (``term``, ``voted_for`` and the log, ``entries``) is written to ``storage``
  before any message that depends on it is sent; everything else is volatile and rebuilt
  after a restart. (The log is ``entries`` because ``self.log(text)`` writes to the trace.)

Invariants kept by this file:

* ``last_applied <= commit_index <= len(entries)``; ``commit_index`` never decreases.
* A leader never removes or rewrites entries of its own log; only followers truncate, and only
  an entry that conflicts with the leader's.
* A leader commits by counting replicas only entries of its own term (Figure 8); earlier
  entries become committed with them.
"""

from __future__ import annotations

from typing import Any

from labkit import Node, Request

from .messages import append_entries, append_entries_reply, entry, request_vote, \
    request_vote_reply

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"

ELECTION_TIMEOUT_MIN = 0.150   # seconds; each timeout is drawn uniformly from [min, max)
ELECTION_TIMEOUT_MAX = 0.300
HEARTBEAT_INTERVAL = 0.050     # a leader sends append_entries at least this often


class RaftNode(Node):
    """One Raft server. See the handout (assignments/lab2-raft.md) for the contract."""

    # ----- construction ------------------------------------------------------------------------

    def on_start(self) -> None:
        # Persistent state: survives crash and restart (Figure 2, "persistent state").
        self.term: int = self.storage.get("term", 0)
        self.voted_for: str | None = self.storage.get("voted_for")
        self.entries: list[dict] = self.load_log()   # the log; entry i is entries[i - 1]
        # Volatile state. Invariant: last_applied <= commit_index <= len(entries).
        self.commit_index = 0
        self.last_applied = 0
        self.leader: str | None = None          # who we believe leads self.term (a hint)
        self.votes: set[str] = set()            # candidate only: who granted us a vote
        self.next_index: dict[str, int] = {}    # leader only: next entry to send each peer
        self.match_index: dict[str, int] = {}   # leader only: highest entry known replicated
        # Everyone starts (and restarts) as a follower with a fresh election timer.
        self.role, self.step = FOLLOWER, self.step_follower
        self.reset_election_timer()

    def raft_state(self) -> dict:
        """What the graders read after every event (see the handout, "The accessor")."""
        return {"role": self.role, "term": self.term, "voted_for": self.voted_for,
                "commit_index": self.commit_index, "log": self.entries}

    # ----- role changes ------------------------------------------------------------------------

    def become_follower(self, term: int, leader: str | None = None) -> None:
        """Follow ``leader`` (None if unknown) in ``term``. A newer term clears the vote."""
        if term > self.term:
            self.term, self.voted_for = term, None
            self.save_term_and_vote()
        was_follower = self.role == FOLLOWER
        self.role, self.step = FOLLOWER, self.step_follower
        self.leader = leader
        self.cancel_timer("heartbeat")
        if not was_follower:
            # A follower keeps its running election timer: only the current leader and a
            # granted vote reset it (otherwise a stream of doomed candidates could keep a
            # healthy node from ever standing).
            self.reset_election_timer()

    def become_candidate(self) -> None:
        """Start an election for the next term: vote for ourselves, ask everyone else."""
        self.role, self.step = CANDIDATE, self.step_candidate
        self.term += 1
        self.voted_for = self.id
        self.save_term_and_vote()
        self.leader = None
        self.votes = {self.id}
        self.reset_election_timer()
        self.log(f"candidate for term {self.term}")
        ask = request_vote(self.term, self.id, last_log_index=len(self.entries),
                           last_log_term=self.term_at(len(self.entries)))
        for peer in self.peers:
            self.send(peer, ask)
        self.maybe_win_election()

    def become_leader(self) -> None:
        """Won the election: take over replication and assert leadership at once."""
        self.role, self.step = LEADER, self.step_leader
        self.leader = self.id
        self.cancel_timer("election")
        self.next_index = {p: len(self.entries) + 1 for p in self.peers}
        self.match_index = {p: 0 for p in self.peers}
        self.log(f"leader for term {self.term}")
        self.broadcast_append_entries()

    # ----- messages: one entry point, then the role's step function ---------------------------

    def on_message(self, src: str, msg: dict) -> None:
        if msg["term"] > self.term:
            self.become_follower(msg["term"])
        if msg["type"] == "request_vote":
            self.handle_request_vote(src, msg)   # the same rule for every role
        elif msg["term"] < self.term:
            self.reject_stale(src, msg)
        else:
            self.step(src, msg)

    def step_follower(self, src: str, msg: dict) -> None:
        if msg["type"] == "append_entries":
            self.handle_append_entries(src, msg)
        # replies to an election or a leadership we no longer hold: nothing to do

    def step_candidate(self, src: str, msg: dict) -> None:
        if msg["type"] == "request_vote_reply":
            self.handle_request_vote_reply(src, msg)
        elif msg["type"] == "append_entries":
            # Someone else won this term: follow it, then take its entries.
            self.become_follower(self.term, leader=src)
            self.handle_append_entries(src, msg)

    def step_leader(self, src: str, msg: dict) -> None:
        if msg["type"] == "append_entries_reply":
            self.handle_append_entries_reply(src, msg)
        elif msg["type"] == "append_entries":
            self.log(f"ignored append_entries from {src}: two leaders in term {self.term}?")

    def reject_stale(self, src: str, msg: dict) -> None:
        """A message from an older term: tell a stale leader our term so it steps down."""
        if msg["type"] == "append_entries":
            self.send(src, append_entries_reply(self.term, False))

    # ----- elections ---------------------------------------------------------------------------

    def handle_request_vote(self, src: str, msg: dict) -> None:
        """Grant at most one vote per term, and only to a candidate whose log is at least as
        up to date as ours (compare last terms, then lengths: section 5.4.1)."""
        up_to_date = ((msg["last_log_term"], msg["last_log_index"])
                      >= (self.term_at(len(self.entries)), len(self.entries)))
        granted = (msg["term"] == self.term and self.voted_for in (None, msg["candidate"])
                   and up_to_date)
        if granted:
            self.voted_for = msg["candidate"]
            self.save_term_and_vote()
            self.reset_election_timer()
        self.send(src, request_vote_reply(self.term, granted))

    def handle_request_vote_reply(self, src: str, msg: dict) -> None:
        if msg["granted"]:
            self.votes.add(src)
            self.maybe_win_election()

    def maybe_win_election(self) -> None:
        if self.role == CANDIDATE and len(self.votes) > (len(self.peers) + 1) // 2:
            self.become_leader()

    # ----- replication: follower side ----------------------------------------------------------

    def handle_append_entries(self, src: str, msg: dict) -> None:
        """Accept the leader's entries if our log matches at ``prev_index``; on a mismatch, hint
        where the leader should back up to (the first index of the conflicting term)."""
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
        for offset, new in enumerate(entries):
            index = prev + 1 + offset
            if index <= len(self.entries) and self.term_at(index) == new["term"]:
                continue  # already have it (a duplicate or reordered message)
            del self.entries[index - 1:]         # drop the conflicting suffix, then append
            self.entries.extend(entries[offset:])
            self.save_log(index)
            break
        match = prev + len(entries)
        if msg["commit"] > self.commit_index:
            # Only what the leader just vouched for: entries past ``match`` may still conflict.
            self.commit_index = max(self.commit_index, min(msg["commit"], match))
            self.apply_committed()
        self.reply_append(src, True, match_index=match)

    def reply_append(self, dst: str, success: bool, **fields: Any) -> None:
        self.send(dst, append_entries_reply(self.term, success, **fields))

    # ----- replication: leader side ------------------------------------------------------------

    def broadcast_append_entries(self) -> None:
        """Send every follower what it is missing (an empty heartbeat if nothing), and re-arm
        the heartbeat timer: everyone has just heard from us."""
        for peer in self.peers:
            self.send_append_entries(peer)
        self.set_timer("heartbeat", HEARTBEAT_INTERVAL)

    def send_append_entries(self, peer: str) -> None:
        prev = self.next_index[peer] - 1
        self.send(peer, append_entries(self.term, self.id, prev_index=prev,
                                       prev_term=self.term_at(prev),
                                       entries=self.entries[prev:], commit=self.commit_index))

    def handle_append_entries_reply(self, src: str, msg: dict) -> None:
        if msg["success"]:
            # Replies may arrive late, twice or out of order: only ever move forward.
            self.match_index[src] = max(self.match_index[src], msg["match_index"])
            self.next_index[src] = max(self.next_index[src], self.match_index[src] + 1)
            self.advance_commit()
            return
        # Fast backup: skip the follower's whole conflicting term in one round trip.
        last = self.last_index_of_term(msg["conflict_term"])
        target = last + 1 if last else msg["conflict_index"]
        target = max(self.match_index[src] + 1, min(target, self.next_index[src]))
        if target < self.next_index[src]:
            self.next_index[src] = target
            self.send_append_entries(src)

    def advance_commit(self) -> None:
        """Commit the highest index stored on a majority, if it is from our own term."""
        matched = sorted([len(self.entries), *self.match_index.values()], reverse=True)
        index = matched[(len(self.peers) + 1) // 2]
        if index > self.commit_index and self.term_at(index) == self.term:
            self.commit_index = index
            self.apply_committed()

    # ----- client requests ---------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        body = request.body
        if body.get("op") != "submit" or "command" not in body:
            self.reply(request, {"error": "bad_request",
                                 "detail": "expected {'op': 'submit', 'command': ...}"})
        elif self.role != LEADER:
            self.reply(request, {"error": "not_leader", "leader": self.leader})
        else:
            self.entries.append(entry(self.term, body["command"]))
            self.save_log(len(self.entries))
            self.reply(request, {"index": len(self.entries), "term": self.term})
            self.advance_commit()                 # a one-node cluster commits at once
            self.broadcast_append_entries()

    # ----- timers ------------------------------------------------------------------------------

    def timer_election(self) -> None:
        if self.role != LEADER:
            self.become_candidate()

    def timer_heartbeat(self) -> None:
        if self.role == LEADER:
            self.broadcast_append_entries()

    def reset_election_timer(self) -> None:
        self.set_timer("election", self.rng.uniform(ELECTION_TIMEOUT_MIN, ELECTION_TIMEOUT_MAX))

    # ----- the state machine -------------------------------------------------------------------

    def apply_committed(self) -> None:
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            self.apply(self.last_applied, self.entries[self.last_applied - 1]["command"])

    # ----- log and storage helpers -------------------------------------------------------------

    def term_at(self, index: int) -> int:
        """The term of entry ``index`` (1-based); 0 for index 0, before the first entry."""
        return self.entries[index - 1]["term"] if index > 0 else 0

    def last_index_of_term(self, term: Any) -> int:
        """The last index holding an entry of ``term``, or 0 if there is none."""
        if term is None:
            return 0
        for index in range(len(self.entries), 0, -1):
            t = self.entries[index - 1]["term"]
            if t == term:
                return index
            if t < term:
                return 0
        return 0

    def save_term_and_vote(self) -> None:
        self.storage.put("term", self.term)
        self.storage.put("voted_for", self.voted_for)

    def save_log(self, first: int) -> None:
        """Persist entries ``first..len(entries)`` and the length (stored entries past the
        length are dead). Call it after every change, with the first index that changed."""
        for index in range(first, len(self.entries) + 1):
            self.storage.put(f"log/{index}", self.entries[index - 1])
        self.storage.put("log_length", len(self.entries))

    def load_log(self) -> list[dict]:
        return [self.storage.get(f"log/{index}")
                for index in range(1, self.storage.get("log_length", 0) + 1)]
