"""Lab 2: Raft consensus: leader election, log replication, commitment and persistence, as in
Figure 2 of the extended Raft paper, then log compaction with snapshots (Part 7, Figure 13).
The handout is assignments/lab2-raft.md.

Your node is event-driven and does no I/O of its own: the runtime calls ``on_start``,
``on_message``, ``on_timer`` (through ``timer_<name>``) and ``on_request``; you change state
and ask for actions: ``self.send``, ``self.reply``, ``self.set_timer`` / ``self.cancel_timer``,
``self.storage`` writes, ``self.apply`` and ``self.log`` (a line in the trace).

The contract, in short (the handout has every detail):

* Five nodes, ``self.id`` and ``self.peers``. Each starts (and restarts) as a follower.
* Election timeouts are drawn uniformly from [ELECTION_TIMEOUT_MIN, ELECTION_TIMEOUT_MAX)
  with ``self.rng`` (never the ``random`` module); a leader sends append_entries to every
  follower at least every HEARTBEAT_INTERVAL.
* A client request body is ``{"op": "submit", "command": <any JSON value>}``. A leader appends
  the command and replies at once ``{"index": i, "term": t}``: where the entry sits in its log.
  Any other node replies ``{"error": "not_leader", "leader": <id or None>}``.
* Once entry i is committed, call ``self.apply(i, command)``: for i = 1, 2, 3, ... in order,
  each exactly once per run of the node (``last_applied`` is volatile: a restarted node applies
  again from index 1 as its commit index grows; with a snapshot, from the snapshot's index + 1,
  after ``on_start`` has handed the snapshot to the state machine).
* ``term``, ``voted_for``, the snapshot and the log live in ``self.storage`` and survive a
  crash (use the helpers at the bottom); nothing else does.
* The graders read ``raft_state()`` after every event. Keep it, and keep the attributes it
  reads (``role``, ``term``, ``voted_for``, ``commit_index``, ``entries``, ``snapshot_index``,
  ``snapshot_term``) up to date.
* Part 7: the state machine calls ``snapshot(index, data)`` after you applied ``index``; your
  log then starts after the snapshot: entry i is ``entries[i - snapshot_index - 1]``. Use
  ``last_index()`` and ``term_at(i)`` (given) instead of ``len(entries)`` from the start, and
  Part 7 needs no rewrite. Until you do Part 7, ``snapshot_index`` stays 0 and nothing changes.

Suggested structure (that of etcd's raft): ``on_message`` settles the term first, then hands
the message to the step function of the current role; ``become_follower``, ``become_candidate``
and ``become_leader`` switch roles. Build messages with ``messages.py``.
"""

from __future__ import annotations

from labkit import Node, Request

from .messages import append_entries, append_entries_reply, entry, install_snapshot, \
    install_snapshot_reply, request_vote, request_vote_reply  # noqa: F401  (use them)

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"

ELECTION_TIMEOUT_MIN = 0.150   # seconds; draw each timeout uniformly from [min, max)
ELECTION_TIMEOUT_MAX = 0.300
HEARTBEAT_INTERVAL = 0.050     # a leader sends append_entries at least this often


class RaftNode(Node):
    """One Raft server."""

    # ----- construction (given) ----------------------------------------------------------------

    def on_start(self) -> None:
        """At boot and after every restart, on a fresh object: read back what was persisted."""
        # Persistent state (Figure 2): survives crash and restart.
        self.term: int = self.storage.get("term", 0)
        self.voted_for: str | None = self.storage.get("voted_for")
        snapshot = self.storage.get("snapshot") or {"index": 0, "term": 0, "data": None}
        self.snapshot_index: int = snapshot["index"]   # Part 7: entries 1..snapshot_index are
        self.snapshot_term: int = snapshot["term"]     # compacted into the snapshot
        self.snapshot_data = snapshot["data"]          # the state machine's, for install_snapshot
        self.entries: list[dict] = self.load_log()   # entry i is entries[i - snapshot_index - 1]
        # Volatile state. Invariant: snapshot_index <= last_applied <= commit_index.
        self.commit_index = self.snapshot_index      # a snapshot holds committed entries only
        self.last_applied = self.snapshot_index
        self.role = FOLLOWER
        self.leader: str | None = None          # who we believe leads self.term (a hint)
        self.votes: set[str] = set()            # candidate only: who granted us a vote
        self.next_index: dict[str, int] = {}    # leader only: next entry to send each peer
        self.match_index: dict[str, int] = {}   # leader only: highest entry known replicated
        self.reset_election_timer()
        if self.snapshot_index:
            # Part 7: the state machine starts from the snapshot, then gets the entries after it.
            self.restore_snapshot(self.snapshot_index, self.snapshot_data)

    def raft_state(self) -> dict:
        """What the graders read after every event. Keep this method and its keys."""
        return {"role": self.role, "term": self.term, "voted_for": self.voted_for,
                "commit_index": self.commit_index, "log": self.entries,
                "snapshot_index": self.snapshot_index, "snapshot_term": self.snapshot_term}

    # ----- role changes ------------------------------------------------------------------------

    def become_follower(self, term: int, leader: str | None = None) -> None:
        """Follow ``leader`` (None if not known yet) in ``term``.

        A newer term clears ``voted_for`` (persist both). A leader stops its heartbeats; a
        node that was not a follower arms a fresh election timer."""
        # TODO
        raise NotImplementedError("RaftNode.become_follower: switch to follower in a term")

    def become_candidate(self) -> None:
        """The election timer fired: move to the next term, vote for yourself (persist), arm a
        fresh election timer and send request_vote to every peer."""
        # TODO
        raise NotImplementedError("RaftNode.become_candidate: start an election")

    def become_leader(self) -> None:
        """A majority voted for you: set next_index / match_index for every peer, stop the
        election timer and send append_entries to everyone at once (then every heartbeat)."""
        # TODO
        raise NotImplementedError("RaftNode.become_leader: take over as leader")

    # ----- message handlers --------------------------------------------------------------------

    def on_message(self, src: str, msg: dict) -> None:
        """The one entry point for messages (see messages.py for their fields).

        First settle the term: a message from a newer term makes you a follower of that term,
        whatever you were. Then answer request_vote (the same rule in every role), answer an
        append_entries of an older term with a failure carrying your term (so the old leader
        steps down), ignore other messages of older terms, and pass the rest to your role."""
        # TODO
        raise NotImplementedError("RaftNode.on_message: settle the term, then dispatch")

    def handle_request_vote(self, src: str, msg: dict) -> None:
        """Grant the vote only if the request is for your current term, you have not voted for
        someone else in it, and the candidate's log is at least as up to date as yours (a
        higher last term wins; with equal last terms the longer log wins). A granted vote is
        persisted and resets your election timer. Reply with request_vote_reply."""
        # TODO
        raise NotImplementedError("RaftNode.handle_request_vote: grant or refuse a vote")

    def handle_request_vote_reply(self, src: str, msg: dict) -> None:
        """A candidate counts granted votes (each voter once); a majority makes it leader."""
        # TODO
        raise NotImplementedError("RaftNode.handle_request_vote_reply: count the vote")

    def handle_append_entries(self, src: str, msg: dict) -> None:
        """From the leader of your term: reset your election timer and remember the leader.

        If your log has no entry at prev_index with term prev_term, reply with a failure and
        the conflict hint (see append_entries_reply). Otherwise append the entries, deleting
        your suffix only from the first entry that conflicts (same index, other term), persist,
        raise your commit index to min(commit, prev_index + len(entries)) if that is higher,
        apply what became committed, and reply success with match_index."""
        # TODO
        raise NotImplementedError("RaftNode.handle_append_entries: check, append, reply")

    def handle_append_entries_reply(self, src: str, msg: dict) -> None:
        """The leader's side. On success raise match_index / next_index (replies can arrive
        late, twice or out of order: never move them back) and try to advance the commit index.
        On failure use the conflict hint to lower next_index and send again at once."""
        # TODO
        raise NotImplementedError("RaftNode.handle_append_entries_reply: track the follower")

    def advance_commit(self) -> None:
        """Leader: the highest index stored on a majority (yourself included) is committed
        if its entry is from your current term (Figure 8); then apply."""
        # TODO
        raise NotImplementedError("RaftNode.advance_commit: count replicas, commit, apply")

    def apply_committed(self) -> None:
        """Hand every committed, not yet applied entry to ``self.apply(index, command)``, in
        index order."""
        # TODO
        raise NotImplementedError("RaftNode.apply_committed: apply up to commit_index")

    # ----- Part 7: snapshots -------------------------------------------------------------------

    def snapshot(self, index: int, data) -> None:
        """The state machine's ``data`` holds entries 1..``index`` (you applied them). Unless
        ``index <= snapshot_index``: set ``snapshot_term`` to the term of entry ``index``,
        drop entries up to ``index`` from ``entries``, set ``snapshot_index`` and persist with
        ``save_snapshot(data)``. Keep every entry after ``index``: they are not applied yet."""
        # TODO (Part 7)
        raise NotImplementedError("RaftNode.snapshot: compact the log up to index (Part 7)")

    def handle_install_snapshot(self, src: str, msg: dict) -> None:
        """From the leader of your term (settle the term in on_message first, and answer an
        older term with a failure carrying yours): reset your election timer. If the snapshot
        goes past your commit index, install it: keep the entries after ``snapshot_index``
        only if your log holds that entry with ``snapshot_term``, else empty the log; set
        the snapshot fields, ``save_snapshot(data)``, set commit_index and last_applied to
        the index and ``self.restore_snapshot(index, data)``. Reply success with
        ``match_index = snapshot_index`` (also when you already had it)."""
        # TODO (Part 7)
        raise NotImplementedError("RaftNode.handle_install_snapshot: install it (Part 7)")

    def handle_install_snapshot_reply(self, src: str, msg: dict) -> None:
        """Leader: a success moves match_index / next_index forward as an append_entries
        success does. (Also: when next_index of a peer is at or below ``snapshot_index``,
        the entries it needs are gone: send it ``install_snapshot`` instead of append_entries.)"""
        # TODO (Part 7)
        raise NotImplementedError("RaftNode.handle_install_snapshot_reply: track it (Part 7)")

    # ----- client requests ---------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        """``{"op": "submit", "command": c}``. A leader appends ``entry(term, c)``, persists it,
        replies ``{"index": i, "term": t}`` at once and starts replicating. Anyone else replies
        ``{"error": "not_leader", "leader": <the leader you know of, or None>}``."""
        # TODO
        raise NotImplementedError("RaftNode.on_request: accept a submit (leader) or redirect")

    # ----- timers ------------------------------------------------------------------------------

    def reset_election_timer(self) -> None:
        """(Re)arm the "election" timer with a fresh random timeout drawn with ``self.rng``
        from [ELECTION_TIMEOUT_MIN, ELECTION_TIMEOUT_MAX)."""
        # TODO
        raise NotImplementedError("RaftNode.reset_election_timer: arm the election timer")

    def timer_election(self) -> None:
        """The election timer fired: a follower or candidate starts a new election."""
        # TODO
        raise NotImplementedError("RaftNode.timer_election: start an election")

    def timer_heartbeat(self) -> None:
        """The "heartbeat" timer fired: a leader sends append_entries to every follower (what
        each is missing, or nothing) and re-arms the timer for HEARTBEAT_INTERVAL."""
        # TODO
        raise NotImplementedError("RaftNode.timer_heartbeat: send append_entries to everyone")

    # ----- log and storage helpers (given) -----------------------------------------------------

    def last_index(self) -> int:
        """The index of the last entry (``snapshot_index`` if no entry follows the snapshot)."""
        return self.snapshot_index + len(self.entries)

    def term_at(self, index: int) -> int:
        """The term of entry ``index`` (1-based, ``snapshot_index`` or later); 0 for index 0,
        before the first entry."""
        if index == self.snapshot_index:
            return self.snapshot_term
        return self.entries[index - self.snapshot_index - 1]["term"]

    def save_term_and_vote(self) -> None:
        """Persist ``term`` and ``voted_for``. Call it whenever either changes."""
        self.storage.put("term", self.term)
        self.storage.put("voted_for", self.voted_for)

    def save_log(self, first: int) -> None:
        """Persist entries ``first..last_index()`` and the last index (stored entries past it
        are dead). Call it after every change, with the first index that changed."""
        for index in range(first, self.last_index() + 1):
            self.storage.put(f"log/{index}", self.entries[index - self.snapshot_index - 1])
        self.storage.put("log_length", self.last_index())

    def save_snapshot(self, data) -> None:
        """Part 7: persist the snapshot (``snapshot_index``, ``snapshot_term``, ``data``) and
        the log after it, then delete the compacted entries from storage. Call it after
        changing the snapshot fields and ``entries``."""
        self.snapshot_data = data
        old = self.storage.get("snapshot") or {"index": 0}
        self.storage.put("snapshot", {"index": self.snapshot_index, "term": self.snapshot_term,
                                      "data": data})
        self.save_log(self.snapshot_index + 1)
        for index in range(old["index"] + 1, self.snapshot_index + 1):
            self.storage.delete(f"log/{index}")

    def load_log(self) -> list[dict]:
        return [self.storage.get(f"log/{index}") for index in
                range(self.snapshot_index + 1, self.storage.get("log_length", 0) + 1)]

