"""Raft's safety properties as named invariants, checked after every simulator event.

    checker = RaftChecker(sim)          # installs itself: a subscriber, an observer and an
    sim.run_until(5.0)                  # apply listener; raises PropertyViolation at the first
    checker.leader()                    # broken event. ("n3", 4): the up leader, highest term
    [inv.name for inv in INVARIANTS]    # what it checks, each with its statement

The checker reads each node through its accessor ``raft_state()``, which returns

    {"role": "follower" | "candidate" | "leader", "term": int, "voted_for": str | None,
     "commit_index": int, "log": [{"term": int, "command": ...}, ...]}   # log[0] is index 1

and it only reads the nodes that handled something since the last event (it subscribes to
the simulator's events), so a check costs a few microseconds however long the run. It also reads
three fields of the replies a node sends (``term``; ``granted`` of a ``request_vote_reply``;
``success`` and ``match_index`` of an ``append_entries_reply``) and the ``index`` and ``term``
of a leader's answer to a submit: what a node has acknowledged. Invariants (``INVARIANTS``):

* election safety: at most one leader per term, over the whole run;
* one vote per term: a node never changes its vote within a term, restarts included;
* terms never decrease: a node's term never goes down, restarts included;
* log matching: two entries with the same index and term hold the same command and follow
  the same entries, on every node and at every moment;
* commit needs a majority: a node commits index i only while entries 1..i are stored on a
  majority; the commit index never decreases within one run of a node nor passes the log's end;
* leader completeness: an entry committed in term t is in the log of every leader of a later
  term;
* state-machine safety: no two nodes commit or apply different commands at one index;
* in-order apply: each run of a node (lastApplied is volatile) applies 1, 2, 3, ... with no
  gap, only committed indices, and the command its log holds there;
* leader has a majority of votes: a node that leads term t was granted votes for term t by a
  majority of distinct nodes (itself included);
* acknowledged state survives: a node's term never falls below a term it sent in a message; a
  node still in a term in which it granted a vote still holds that vote; a node still in a term
  in which it acknowledged entries 1..m (to the leader, or to a client as the leader) still
  holds those entries; crashes and restarts included;
* committed entries stay: a node's log never shrinks below its commit index, nor changes an
  entry at or below it (checked at every event, not only when the commit index moves);
* standing for election: a node that becomes a candidate (or stands again) moves to its term
  plus one, not further, and votes for itself;
* stale requests answered: an append_entries or install_snapshot of an older term is answered
  in the same handler with a failure (``"success": false``) carrying the node's newer term, so
  a stale leader learns it is stale (Figure 2: "reply false if term < currentTerm").

Logs are compared through interned prefixes: every distinct log prefix gets an integer id, so
"same index and term, same history" is one dictionary lookup per new entry.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from typing import Any

from labkit import PropertyViolation, Simulation
from labkit.events import CRASH, DELIVER, HANDLED, REPLY, SEND, Event
from labkit.node import SNAPSHOT_KEY
from labkit.simulator import student_error


class Invariant(str):
    """A named safety property: the name (what a failure message and a variant table cite;
    it is a ``str``) and the statement (one sentence, what must hold)."""

    statement: str

    def __new__(cls, name: str, statement: str) -> "Invariant":
        inv = super().__new__(cls, name)
        inv.statement = statement
        return inv

    @property
    def name(self) -> str:
        return str(self)


ELECTION_SAFETY = Invariant("election safety", "at most one leader per term, over the whole run")
ONE_VOTE_PER_TERM = Invariant(
    "one vote per term", "a node never changes its vote within a term, restarts included")
TERMS_NEVER_DECREASE = Invariant(
    "terms never decrease", "a node's term never goes down, restarts included")
LOG_MATCHING = Invariant(
    "log matching", "two entries with the same index and term hold the same command and follow "
    "the same entries, on every node at every moment")
COMMIT_NEEDS_MAJORITY = Invariant(
    "commit needs a majority", "a node commits index i only while entries 1..i are stored on a "
    "majority; a commit index never decreases within a run nor passes the log's end")
LEADER_COMPLETENESS = Invariant(
    "leader completeness", "an entry committed in term t is in the log of every leader of a "
    "later term")
STATE_MACHINE_SAFETY = Invariant(
    "state-machine safety", "no two nodes commit or apply different commands at one index")
IN_ORDER_APPLY = Invariant(
    "in-order apply", "each run of a node applies 1, 2, 3, ... with no gap, only committed "
    "indices, the command its log holds")
MAJORITY_OF_VOTES = Invariant(
    "leader has a majority of votes", "a node that leads term t was granted votes for term t "
    "by a majority of distinct nodes, itself included")
ACKNOWLEDGED_STATE = Invariant(
    "acknowledged state survives", "a node's term never falls below a term it sent; while it "
    "is in a term it still holds the vote it granted and the entries it acknowledged in that "
    "term, crashes and restarts included")
COMMITTED_ENTRIES_STAY = Invariant(
    "committed entries stay", "a node's log never shrinks below its commit index nor changes "
    "an entry at or below it")
STANDING = Invariant(
    "standing for election", "a node that becomes a candidate moves to the next term (its "
    "term plus one) and votes for itself")
STALE_ANSWERED = Invariant(
    "stale requests answered", "a node answers an append_entries or install_snapshot of an "
    "older term at once, with a failure carrying its own term")
ACCESSOR = "raft_state() contract"

INVARIANTS = (ELECTION_SAFETY, ONE_VOTE_PER_TERM, TERMS_NEVER_DECREASE, LOG_MATCHING,
              COMMIT_NEEDS_MAJORITY, LEADER_COMPLETENESS, STATE_MACHINE_SAFETY, IN_ORDER_APPLY,
              MAJORITY_OF_VOTES, ACKNOWLEDGED_STATE, COMMITTED_ENTRIES_STAY, STANDING,
              STALE_ANSWERED)
ANSWERS = {"append_entries": "append_entries_reply", "install_snapshot": "install_snapshot_reply"}

ROLES = ("follower", "candidate", "leader")


def command_key(command: Any) -> Any:
    """A hashable stand-in for a JSON command (strings and ints stand for themselves)."""
    kind = type(command)
    if kind is str or kind is int:
        return command
    return ("json", json.dumps(command, sort_keys=True))


def show(command: Any, limit: int = 40) -> str:
    text = json.dumps(command) if not isinstance(command, str) else repr(command)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Prefixes:
    """Interned log prefixes. Id 0 is the empty log; id ``k`` is its parent's log plus one
    entry ``(term, command)`` at index ``depth[k]``."""

    def __init__(self) -> None:
        self.parent = [0]
        self.depth = [0]
        self.term = [0]
        self.command: list[Any] = [None]
        self._child: dict[tuple, int] = {}

    def extend(self, parent: int, term: int, command: Any) -> int:
        key = (parent, term, command_key(command))
        found = self._child.get(key)
        if found is None:
            found = self._child[key] = len(self.parent)
            self.parent.append(parent)
            self.depth.append(self.depth[parent] + 1)
            self.term.append(term)
            self.command.append(command)
        return found

    def entry(self, pid: int) -> str:
        return f"{show(self.command[pid])} (term {self.term[pid]})"

    def first_difference(self, a: int, b: int) -> int:
        """The lowest index at which two prefixes of equal length differ (0 if equal)."""
        index = 0
        while a != b:
            index = self.depth[a]
            a, b = self.parent[a], self.parent[b]
        return index

    def ancestor(self, pid: int, index: int) -> int:
        while self.depth[pid] > index:
            pid = self.parent[pid]
        return pid


class NodeView:
    """What the checker last saw of one node."""

    __slots__ = ("node", "up", "incarnation", "role", "term", "voted_for", "commit", "log",
                 "ids", "max_term", "max_term_at", "applied", "apply_incarnation", "sent_term",
                 "sent_term_at", "granted", "acked", "crashed_at", "label")

    def __init__(self, node: str) -> None:
        self.node = node
        self.up = False
        self.incarnation = 0
        self.role = "follower"
        self.term = 0
        self.voted_for: str | None = None
        self.commit = 0
        self.log: list = []          # shallow copies of the entries last seen
        self.ids: list[int] = []     # ids[i - 1]: prefix id of entries 1..i
        self.max_term = 0
        self.max_term_at = 0.0
        self.applied: list = []      # commands applied by the current incarnation, in order
        self.apply_incarnation = 0
        # what the node acknowledged (its sent messages and answers), crashes included:
        self.sent_term = 0           # the highest term it put in a message
        self.sent_term_at = 0.0
        self.granted: tuple | None = None   # (term, candidate, time) of its last granted vote
        self.acked: tuple | None = None     # (term, m, prefix id or None, to whom, time, leader)
        self.crashed_at: float | None = None
        self.label = "follower 0"    # "leader 3": what the trace viewer's lane shows


class RaftChecker:
    """Checks every invariant of this module on a running ``Simulation`` (see module doc)."""

    def __init__(self, sim: Simulation, *, accessor: str = "raft_state",
                 invariants: tuple[Invariant, ...] = INVARIANTS) -> None:
        self.sim = sim
        self.accessor = accessor
        self.invariants = tuple(invariants)   # a test may leave some out (unit tests do)
        self._votes_won = MAJORITY_OF_VOTES in self.invariants
        self._promised = ACKNOWLEDGED_STATE in self.invariants
        self._stay = COMMITTED_ENTRIES_STAY in self.invariants
        self._standing = STANDING in self.invariants
        self._answers = STALE_ANSWERED in self.invariants
        self._stale: list[tuple] = []   # (node, src, request, its term, node's term, time)
        self.n = len(sim.node_ids)
        self.majority = self.n // 2 + 1
        self.views = {node: NodeView(node) for node in sim.node_ids}
        self.prefixes = Prefixes()
        self.seen_at: dict[tuple[int, int], tuple[int, str, float]] = {}   # (index, term)
        self.leaders: dict[int, tuple[str, float]] = {}                    # term -> first
        self.votes: dict[tuple[str, int], tuple[str, float]] = {}          # (node, term)
        self.committed: list[int] = []          # prefix ids of committed indices 1..C
        self.commit_terms: list[int] = []       # lowest term each was seen committed in
        self.commit_by: list[tuple[str, float]] = []
        self.applied_at: dict[int, tuple[Any, Any, str, float]] = {}
        self.apply_count = 0
        self.granted_by: dict[tuple[int, str], dict[str, float]] = {}  # (term, cand) -> voters
        self._dirty: list[str] = []
        self.broken: tuple[str, str, float] | None = None   # (invariant, evidence, time)
        self._replaced: int | None = None   # prefix id a log update replaced (for evidence)
        self._acks: list[tuple[str, str, Any]] = []   # (node, what, data) seen in this step
        self._snapshot_log: list[dict] = []   # committed entries 1..k, for logs after a snapshot
        self._restored: dict[str, tuple[int, int]] = {}   # node -> (run, index) of its last restore
        sim.subscribe(self._on_event)
        sim.observe(self._after_event)
        sim.on_apply(self._on_apply)
        self._prime()

    def _prime(self) -> None:
        """The nodes booted before the checker was installed: note each one's first term (no
        check yet), so that "standing for election" compares its first election with it."""
        for node, v in self.views.items():
            try:
                term = getattr(self.sim.node(node), self.accessor)()["term"]
            except Exception:   # a broken accessor is reported at the first event instead
                continue
            if type(term) is int:
                v.term = term

    # ----- queries for graders -----------------------------------------------------------------

    def sync(self) -> None:
        """Catch up with what happened outside the event loop (a grader that called
        ``sim.crash`` or ``sim.restart`` directly); the queries below do it themselves."""
        self._after_event(self.sim)

    def leader(self) -> tuple[str, int] | None:
        """The up node that last showed role leader with the highest term, or None."""
        self.sync()
        best = None
        for v in self.views.values():
            if (v.up and v.role == "leader" and self.sim.is_up(v.node)
                    and (best is None or v.term > best[1])):
                best = (v.node, v.term)
        return best

    def current_leaders(self) -> list[tuple[str, int]]:
        self.sync()
        return [(v.node, v.term) for v in self.views.values()
                if v.up and v.role == "leader" and self.sim.is_up(v.node)]

    def max_term(self) -> int:
        return max(v.max_term for v in self.views.values())

    def applied_by(self, node: str) -> list:
        """Commands the current run of ``node`` has applied, in index order."""
        return self.views[node].applied

    def commit_index(self) -> int:
        """The highest index any node has shown as committed."""
        return len(self.committed)

    def committed_command(self, index: int) -> Any:
        return self.prefixes.command[self.committed[index - 1]]

    def log_of(self, node: str) -> list:
        return self.views[node].log

    def state_changed(self, node: str) -> None:
        """Read ``node``'s state again after this step: a grader changed it from outside its
        handlers (the state machine's snapshot call)."""
        if node not in self._dirty:
            self._dirty.append(node)

    # ----- the subscriber and the observer -----------------------------------------------------

    def _on_event(self, sim: Simulation, ev: Event) -> None:
        kind = ev.kind
        if kind in HANDLED:
            if ev.node not in self._dirty:
                self._dirty.append(ev.node)
            if kind == DELIVER and self._answers:
                self._delivered(ev)
        elif kind == SEND:
            self._sent(ev.node, ev.peer, ev.detail)
            if self._stale:
                self._answered(ev)
        elif kind == REPLY:
            if '"index"' in ev.detail and not ev.detail.startswith("("):
                self._acks.append((ev.node, "client", ev.detail))
        elif kind == CRASH:
            if self._stale:   # crashed inside the handler: it may not have answered yet
                self._stale = [s for s in self._stale if s[0] != ev.node]
            v = self.views[ev.node]
            v.up = False
            v.crashed_at = ev.time

    def _sent(self, node: str, dst: str, data: str) -> None:
        """Note the term a message carries, and what a reply acknowledges."""
        term = _int_field(data, '"term":')
        if term is None:
            return
        v = self.views[node]
        if term > v.sent_term:
            v.sent_term, v.sent_term_at = term, self.sim.now
        if '"granted":true' in data:
            self._acks.append((node, "vote", (term, dst)))
        elif '"success":true' in data:
            self._acks.append((node, "append", (term, dst, data)))

    def _delivered(self, ev: Event) -> None:
        """Note an append_entries or install_snapshot of an older term than the receiver's
        (its term as last seen, before this handler ran)."""
        kind = _msg_type(ev.detail)
        if kind not in ANSWERS:
            return
        term, v = _int_field(ev.detail, '"term":'), self.views[ev.node]
        if term is not None and v.up and term < v.term:
            self._stale.append((ev.node, ev.peer, kind, term, v.term, ev.time))

    def _answered(self, ev: Event) -> None:
        for k, (node, src, kind, _, mine, _) in enumerate(self._stale):
            if (ev.node == node and ev.peer == src and _msg_type(ev.detail) == ANSWERS[kind]
                    and '"success":false' in ev.detail
                    and (_int_field(ev.detail, '"term":') or 0) >= mine):
                del self._stale[k]
                return

    def _check_stale_answered(self) -> None:
        stale, self._stale = self._stale, []
        for node, src, kind, term, mine, when in stale:
            if self.sim.is_up(node):
                self._fail(STALE_ANSWERED,
                           f"{node}, in term {mine}, got {kind} of the older term {term} from "
                           f"{src} at t={when:.3f}s and did not answer it with a failure "
                           f"carrying its term ({ANSWERS[kind]} with success false and term "
                           f"{mine} to {src}, in that handler). A stale leader learns that it is "
                           f"stale from these answers; without them it keeps sending.",
                           (node, src))

    def _after_event(self, sim: Simulation) -> None:
        dirty = self._dirty
        if dirty:
            self._dirty = []
            for node in dirty:
                if sim.is_up(node):
                    self._refresh(node)
        if self._acks:
            acks, self._acks = self._acks, []
            for node, what, data in acks:
                self._acknowledged(node, what, data)
        if self._stale:   # after the states: a broken state is the first thing to report
            self._check_stale_answered()

    def _read(self, node: str) -> tuple:
        obj = self.sim.node(node)
        accessor = getattr(obj, self.accessor, None)
        if accessor is None:
            self._fail(ACCESSOR, f"{node} has no {self.accessor}() method; the graders read "
                       f"every node through it. Keep the one the starter gives.", (node,))
        try:
            st = accessor()
        except Exception as exc:  # student code
            raise student_error(exc, node, f"{self.accessor}()", self.sim.now) from exc
        try:
            role, term, voted = st["role"], st["term"], st["voted_for"]
            commit, log = st["commit_index"], st["log"]
        except (TypeError, KeyError, IndexError):
            self._fail(ACCESSOR, f"{node}.{self.accessor}() returned {str(st)[:200]}; it must "
                       f"return a dict with role, term, voted_for, commit_index and log",
                       (node,))
        if (role not in ROLES or type(term) is not int or type(commit) is not int
                or not isinstance(log, list) or not (voted is None or isinstance(voted, str))):
            self._fail(ACCESSOR, f"{node}.{self.accessor}() returned role={role!r}, "
                       f"term={term!r}, voted_for={voted!r}, commit_index={commit!r}, log of "
                       f"type {type(log).__name__}; expected a role in {ROLES}, int term and "
                       f"commit_index, voted_for None or a node id, and a list", (node,))
        if isinstance(st, dict) and st.get("snapshot_index", 0) != 0:
            log = self._with_snapshot(node, st, log)
        return role, term, voted, commit, log

    def _with_snapshot(self, node: str, st: dict, log: list) -> list:
        """Part 7 (snapshots): the log of a node with a snapshot at index s (its ``log`` holds
        the entries after s), seen whole: the committed entries 1..s, then ``log``."""
        snap, snap_term = st.get("snapshot_index"), st.get("snapshot_term")
        if type(snap) is not int or snap < 0 or type(snap_term) is not int:
            self._fail(ACCESSOR, f"{node}.{self.accessor}() returned snapshot_index={snap!r}, "
                       f"snapshot_term={snap_term!r}; both are ints (0 and 0 before the first "
                       f"snapshot)", (node,))
        if snap > len(self.committed):
            self._fail(COMMIT_NEEDS_MAJORITY,
                       f"{node} holds a snapshot up to index {snap}, but only entries "
                       f"1..{len(self.committed)} are committed anywhere; a snapshot holds "
                       f"applied, so committed, entries only", (node,))
        pid = self.committed[snap - 1]
        if self.prefixes.term[pid] != snap_term:
            self._fail(STATE_MACHINE_SAFETY,
                       f"{node}'s snapshot ends at index {snap} with snapshot_term {snap_term}, "
                       f"but the entry committed at index {snap} is {self.prefixes.entry(pid)}; "
                       f"snapshot_term is the term of entry snapshot_index", (node,))
        cache = self._snapshot_log
        while len(cache) < snap:
            p = self.committed[len(cache)]
            cache.append({"term": self.prefixes.term[p], "command": self.prefixes.command[p]})
        return cache[:snap] + log

    def _refresh(self, node: str) -> None:
        role, term, voted, commit, log = self._read(node)
        v = self.views[node]
        inc = self.sim.incarnation[node]
        if (inc == v.incarnation and v.up and role == v.role and term == v.term
                and voted == v.voted_for and commit == v.commit and log == v.log):
            return  # nothing changed (a heartbeat, a refused vote, a stale message)
        now = self.sim.now
        restarted = inc != v.incarnation
        booted = restarted and v.incarnation == 0   # its first run: v.term is from _prime
        if restarted:
            v.incarnation = inc
            v.commit = 0
        v.up = True
        self._check_term(v, term, now)
        self._check_vote(v, term, voted, now)
        if (role == "candidate" and self._standing and (booted or not restarted)
                and (v.role != "candidate" or term != v.term)):
            self._check_standing(v, term, voted, now)
        was_leader = v.role == "leader" and v.term == term and not restarted
        if role != v.role or term != v.term:
            v.label = f"{role} {term}"
        v.role, v.term, v.voted_for = role, term, voted
        if role == "leader":
            self._check_single_leader(v, now)
            if not was_leader and self._votes_won:
                self._check_votes_won(v, now)
        same = self._update_log(v, log, now)
        if same < v.commit and self._stay:
            self._check_committed_stay(v, same, now)
        self._replaced = None
        if commit != v.commit:
            self._check_commit(v, commit, now)
        if role == "leader" and self.committed:
            self._check_leader_complete(v, now)
        if self._promised:
            self._check_promises(v, now, restarted)

    # ----- invariants on one node's state ------------------------------------------------------

    def _check_term(self, v: NodeView, term: int, now: float) -> None:
        if term < v.max_term:
            self._fail(TERMS_NEVER_DECREASE,
                       f"{v.node}'s term went down from {v.max_term} (seen at "
                       f"t={v.max_term_at:.3f}s) to {term} (run {v.incarnation} of {v.node}). "
                       f"A term only grows; it must be saved in storage and read back in "
                       f"on_start.", (v.node,))
        if term > v.max_term:
            v.max_term, v.max_term_at = term, now

    def _check_vote(self, v: NodeView, term: int, voted: str | None, now: float) -> None:
        if voted is None:
            return
        key = (v.node, term)
        first = self.votes.get(key)
        if first is None:
            self.votes[key] = (voted, now)
        elif first[0] != voted:
            self._fail(ONE_VOTE_PER_TERM,
                       f"{v.node} voted for {first[0]} in term {term} (t={first[1]:.3f}s) and "
                       f"then for {voted} in the same term (t={now:.3f}s). A node grants at most "
                       f"one vote per term, and voted_for must survive a restart.",
                       (v.node, first[0], voted))

    def _check_standing(self, v: NodeView, term: int, voted: str | None, now: float) -> None:
        """``v`` (still as last seen: ``v.role``, ``v.term``) has just become a candidate for
        ``term``, or stood again."""
        if term != v.term + 1:
            self._fail(STANDING,
                       f"{v.node} became a candidate for term {term} at t={now:.3f}s, but it was "
                       f"a {v.role} of term {v.term} just before: a node that stands for "
                       f"election moves to the next term, {v.term + 1}, once per election "
                       f"(increment the term in one place only).", (v.node,))
        if voted != v.node:
            self._fail(STANDING,
                       f"{v.node} became a candidate for term {term} at t={now:.3f}s with "
                       f"voted_for {voted!r}: a candidate votes for itself (and saves that "
                       f"vote), so it cannot grant its vote to another candidate of its term.",
                       (v.node,))

    def _check_single_leader(self, v: NodeView, now: float) -> None:
        first = self.leaders.get(v.term)
        if first is None:
            self.leaders[v.term] = (v.node, now)
        elif first[0] != v.node:
            self._fail(ELECTION_SAFETY,
                       f"term {v.term} has two leaders: {first[0]} (leader since "
                       f"t={first[1]:.3f}s) and {v.node} (since t={now:.3f}s). A leader needs "
                       f"votes from a majority, and each node votes once per term.",
                       (first[0], v.node))

    def _update_log(self, v: NodeView, log: list, now: float) -> None:
        old = v.log
        k = min(len(log), len(old))
        if log[:k] == old[:k]:
            same = k
        else:
            same = 0
            while log[same] == old[same]:
                same += 1
        if same == len(log) == len(old):
            return same
        self._replaced = v.ids[same] if same < len(v.ids) else None
        del v.ids[same:]
        del old[same:]
        prefixes, seen = self.prefixes, self.seen_at
        pid = v.ids[-1] if v.ids else 0
        for index in range(same + 1, len(log) + 1):
            entry = log[index - 1]
            try:
                term, command = entry["term"], entry["command"]
            except (TypeError, KeyError, IndexError):
                self._fail(ACCESSOR, f"{v.node}'s log entry {index} is {str(entry)[:120]}; each "
                           f"entry must be a dict with 'term' and 'command'", (v.node,))
            if type(term) is not int:
                self._fail(ACCESSOR, f"{v.node}'s log entry {index} has term {term!r}; terms "
                           f"are ints", (v.node,))
            pid = prefixes.extend(pid, term, command)
            v.ids.append(pid)
            old.append(dict(entry))
            first = seen.get((index, term))
            if first is None:
                seen[(index, term)] = (pid, v.node, now)
            elif first[0] != pid:
                at = prefixes.first_difference(first[0], pid)
                a = prefixes.ancestor(first[0], at)
                b = prefixes.ancestor(pid, at)
                if first[1] == v.node:
                    what = (f"{v.node} held an entry at index {index} with term {term} at "
                            f"t={first[2]:.3f}s and holds one again at t={now:.3f}s, but the "
                            f"entries before it changed: at index {at} it had "
                            f"{prefixes.entry(a)}, now {prefixes.entry(b)}")
                else:
                    what = (f"{first[1]} (at t={first[2]:.3f}s) and {v.node} (at t={now:.3f}s) "
                            f"both hold an entry at index {index} with term {term}, but their "
                            f"logs differ at index {at}: {first[1]} has {prefixes.entry(a)}, "
                            f"{v.node} has {prefixes.entry(b)}")
                self._fail(LOG_MATCHING,
                           what + ". A follower appends only after its entry at prev_index "
                           "matches prev_term, and drops a conflicting suffix (everything "
                           "after it too) before appending.", (first[1], v.node))
        return same

    def _check_commit(self, v: NodeView, commit: int, now: float) -> None:
        if commit < v.commit:
            self._fail(COMMIT_NEEDS_MAJORITY,
                       f"{v.node}'s commit index went down from {v.commit} to {commit} in term "
                       f"{v.term} without a restart; a commit index never decreases.", (v.node,))
        if commit > len(v.ids):
            self._fail(COMMIT_NEEDS_MAJORITY,
                       f"{v.node}'s commit index is {commit} but its log has only "
                       f"{len(v.ids)} entries (term {v.term}).", (v.node,))
        v.commit = commit
        known = len(self.committed)
        upto = min(commit, known)
        if upto and v.ids[upto - 1] != self.committed[upto - 1]:
            at = self.prefixes.first_difference(v.ids[upto - 1], self.committed[upto - 1])
            who, when = self.commit_by[at - 1]
            mine = self.prefixes.entry(self.prefixes.ancestor(v.ids[upto - 1], at))
            theirs = self.prefixes.entry(self.committed[at - 1])
            self._fail(STATE_MACHINE_SAFETY,
                       f"{v.node} (term {v.term}) has committed {mine} at index {at}, but {who} "
                       f"committed {theirs} there at t={when:.3f}s. Once committed, an entry "
                       f"never changes.", (v.node, who))
        if commit > known:
            pid = v.ids[commit - 1]
            holders = [u.node for u in self.views.values()
                       if (len(u.ids) >= commit and u.ids[commit - 1] == pid)
                       or self._holds_by_ack(u, v, commit)]
            if len(holders) < self.majority:
                self._fail(COMMIT_NEEDS_MAJORITY,
                           f"{v.node} (term {v.term}, {v.role}) advanced its commit index to "
                           f"{commit}, but entries 1..{commit} are stored on only "
                           f"{len(holders)} of {self.n} nodes ({', '.join(holders)}); a "
                           f"majority is {self.majority}.", (v.node,))
            self.committed.extend(v.ids[known:commit])
            self.commit_terms.extend([v.term] * (commit - known))
            self.commit_by.extend([(v.node, now)] * (commit - known))
        lowered = self._lower_commit_terms(min(commit, known), v.term)
        if commit > known or lowered:
            for u in self.views.values():
                if u.up and u.role == "leader" and u is not v:
                    self._check_leader_complete(u, now)

    def _holds_by_ack(self, u: NodeView, leader: NodeView, index: int) -> bool:
        """A node that crashed right after acknowledging entries 1..m to ``leader`` in its
        term (its state was never seen with them) counts as holding them: a restart checks
        the claim ("acknowledged state survives")."""
        a = u.acked
        return (not u.up and a is not None and a[5] == leader.node and a[0] == leader.term
                and a[1] >= index)

    def _lower_commit_terms(self, upto: int, term: int) -> bool:
        """Entries 1..upto were committed in ``term`` at the latest (keeps the list sorted)."""
        terms, j, lowered = self.commit_terms, upto - 1, False
        while j >= 0 and terms[j] > term:
            terms[j] = term
            j -= 1
            lowered = True
        return lowered

    def _check_leader_complete(self, v: NodeView, now: float) -> None:
        need = bisect_left(self.commit_terms, v.term)   # indices committed before v.term
        if need == 0 or (len(v.ids) >= need and v.ids[need - 1] == self.committed[need - 1]):
            return
        if len(v.ids) >= need:
            at = self.prefixes.first_difference(v.ids[need - 1], self.committed[need - 1])
            has = self.prefixes.entry(self.prefixes.ancestor(v.ids[need - 1], at))
        else:
            at = len(v.ids) + 1
            if v.ids and v.ids[-1] != self.committed[len(v.ids) - 1]:
                at = self.prefixes.first_difference(v.ids[-1], self.committed[len(v.ids) - 1])
            has = "nothing" if at > len(v.ids) else \
                self.prefixes.entry(self.prefixes.ancestor(v.ids[-1], at))
        who, when = self.commit_by[at - 1]
        self._fail(LEADER_COMPLETENESS,
                   f"{v.node} is leader of term {v.term} but lacks the entry committed at index "
                   f"{at}: {self.prefixes.entry(self.committed[at - 1])}, committed by {who} "
                   f"(term {self.commit_terms[at - 1]}) at t={when:.3f}s; {v.node} has {has} "
                   f"there. A node votes only for a candidate whose log is at least as up to "
                   f"date as its own, and a leader commits by counting replicas only entries "
                   f"of its own term.", (v.node, who))

    def _check_votes_won(self, v: NodeView, now: float) -> None:
        voters = sorted(set(self.granted_by.get((v.term, v.node), ())) | {
            n for n in self.views if self.votes.get((n, v.term), ("",))[0] == v.node})
        if len(voters) >= self.majority:
            return
        own = "" if v.node in voters else (f"; {v.node} itself shows no vote for itself in "
                                           f"term {v.term} (a candidate votes for itself)")
        self._fail(MAJORITY_OF_VOTES,
                   f"{v.node} became leader of term {v.term} at t={now:.3f}s with votes for "
                   f"term {v.term} from only {', '.join(voters) or 'nobody'} ({len(voters)} of "
                   f"{self.n} nodes; a majority is {self.majority}){own}. Count each voter once "
                   f"(a reply may arrive twice) and only replies granted in the current term (a "
                   f"reply from an older election may arrive late).", (v.node,))

    def _check_committed_stay(self, v: NodeView, same: int, now: float) -> None:
        if len(v.ids) < v.commit:
            what = (f"{v.node}'s log shrank to {len(v.ids)} entries, below its commit index "
                    f"{v.commit} (term {v.term}, {v.role})")
        else:
            had = self.prefixes.entry(self._replaced) if self._replaced else "an entry"
            what = (f"{v.node} replaced its entry {same + 1}, at or below its commit index "
                    f"{v.commit}: it had {had}, now {self.prefixes.entry(v.ids[same])} (term "
                    f"{v.term}, {v.role})")
        self._fail(COMMITTED_ENTRIES_STAY,
                   what + ". Committed entries are never removed or rewritten: a follower "
                   "truncates only a conflicting suffix, which never reaches a committed entry "
                   "(a late or duplicated append_entries must not cut the log).", (v.node,))

    # ----- what a node acknowledged ------------------------------------------------------------

    def _acknowledged(self, node: str, what: str, data: Any) -> None:
        v = self.views[node]
        now = self.sim.now
        if what == "vote":
            term, candidate = data
            self.granted_by.setdefault((term, candidate), {}).setdefault(node, now)
            if v.granted is None or term >= v.granted[0]:
                v.granted = (term, candidate, now)
            return
        if what == "append":
            term, dst, raw = data
            m = _int_field(raw, '"match_index":')
            to, leader = f"{dst} (leader of term {term})", dst
        else:
            try:
                out = json.loads(data)
            except ValueError:
                return
            term, m = out.get("term"), out.get("index")
            if type(term) is not int or type(m) is not int:
                return
            to = f"a client, as leader of term {term} (submit answered with index {m})"
            leader = None
        if m is None or m <= 0:
            return
        if v.acked is not None and (term, m) <= v.acked[:2]:
            return
        pid = (v.ids[m - 1] if v.up and self.sim.is_up(node) and v.term == term
               and len(v.ids) >= m else None)
        v.acked = (term, m, pid, to, now, leader)

    def _check_promises(self, v: NodeView, now: float, restarted: bool) -> None:
        when = (f" (it crashed at t={v.crashed_at:.3f}s and restarted as run {v.incarnation})"
                if v.crashed_at is not None and v.incarnation > 1 else "")
        if v.term < v.sent_term:
            self._fail(ACKNOWLEDGED_STATE,
                       f"{v.node} sent a message of term {v.sent_term} at "
                       f"t={v.sent_term_at:.3f}s, but now it is in term {v.term}{when}. A "
                       f"new term is saved to storage before any message carries it.",
                       (v.node,))
        g = v.granted
        if g is not None and g[0] == v.term and v.voted_for != g[1]:
            self._fail(ACKNOWLEDGED_STATE,
                       f"{v.node} granted its vote in term {g[0]} to {g[1]} at t={g[2]:.3f}s, "
                       f"but now, still in term {g[0]}, its voted_for is {v.voted_for!r}{when}. "
                       f"A vote is saved to storage before the reply that grants it is sent.",
                       (v.node, g[1]))
        a = v.acked
        if a is not None and a[0] == v.term:
            term, m, pid, to, at, _ = a
            if len(v.ids) < m or (pid is not None and v.ids[m - 1] != pid):
                if len(v.ids) < m:
                    has = f"its log has only {len(v.ids)} entries"
                else:
                    i = self.prefixes.first_difference(v.ids[m - 1], pid)
                    has = (f"its entry {i} is now "
                           f"{self.prefixes.entry(self.prefixes.ancestor(v.ids[m - 1], i))}, "
                           f"not {self.prefixes.entry(self.prefixes.ancestor(pid, i))}")
                self._fail(ACKNOWLEDGED_STATE,
                           f"{v.node} acknowledged entries 1..{m} to {to} at t={at:.3f}s, but "
                           f"now, still in term {term}, {has}{when}. Entries are saved to "
                           f"storage before they are acknowledged, and within a term a node "
                           f"never drops entries it acknowledged (a late or duplicated "
                           f"append_entries must not truncate the log).", (v.node,))

    # ----- applies -----------------------------------------------------------------------------

    def _on_apply(self, node: str, index: int, command: Any) -> None:
        now = self.sim.now
        v = self.views[node]
        inc = self.sim.incarnation[node]
        if v.apply_incarnation != inc:
            v.apply_incarnation, v.applied = inc, []
        if type(command) is dict and len(command) == 1 and SNAPSHOT_KEY in command:
            self._on_restore(node, v, index)
            return
        expected = len(v.applied) + 1
        if index != expected:
            restored = self._restored.get(node)
            why = (f"this run of {node} started at index 1; after a restart lastApplied is 0 "
                   f"again" if restored is None or restored[0] != inc else
                   f"it handed its state machine a snapshot at index {restored[1]} in this run, "
                   f"so it applies {restored[1] + 1}, {restored[1] + 2}, ... after it")
            self._fail(IN_ORDER_APPLY,
                       f"{node} applied index {index} but its next index to apply was {expected} "
                       f"({why}).", (node,))
        role, term, _, commit, log = self._read(node)
        if index > commit:
            self._fail(IN_ORDER_APPLY,
                       f"{node} applied index {index} ({show(command)}) while its commit index "
                       f"was {commit} (term {term}, {role}); only committed entries are "
                       f"applied.", (node,))
        entry = log[index - 1] if 0 < index <= len(log) else None
        held = entry.get("command", None) if isinstance(entry, dict) else None
        if entry is None or command_key(held) != command_key(command):
            held = "nothing" if entry is None else show(held)
            self._fail(IN_ORDER_APPLY,
                       f"{node} applied {show(command)} at index {index}, but its log holds "
                       f"{held} there.", (node,))
        first = self.applied_at.get(index)
        key = command_key(command)
        if first is None:
            self.applied_at[index] = (key, command, node, now)
        elif first[0] != key:
            self._fail(STATE_MACHINE_SAFETY,
                       f"{first[2]} applied {show(first[1])} at index {index} (t={first[3]:.3f}s) "
                       f"but {node} applied {show(command)} at the same index (term {term}).",
                       (first[2], node))
        v.applied.append(command)
        self.apply_count += 1

    def _on_restore(self, node: str, v: NodeView, index: int) -> None:
        """Part 7 (snapshots): ``restore_snapshot(index, data)``: this run's state machine now
        holds the committed entries 1..index."""
        if type(index) is not int or index < len(v.applied):
            self._fail(IN_ORDER_APPLY,
                       f"{node} handed its state machine a snapshot at index {index} after "
                       f"applying 1..{len(v.applied)} in this run: a snapshot never takes the "
                       f"state machine back (an install_snapshot you already cover is ignored).",
                       (node,))
        if index > len(self.committed):
            self._fail(IN_ORDER_APPLY,
                       f"{node} handed its state machine a snapshot at index {index}, but only "
                       f"entries 1..{len(self.committed)} are committed anywhere.", (node,))
        self._restored[node] = (self.sim.incarnation[node], index)
        prefixes = self.prefixes
        v.applied.extend(prefixes.command[pid] for pid in self.committed[len(v.applied):index])

    # ----- reporting ---------------------------------------------------------------------------

    def verdicts(self) -> list[tuple[Invariant, bool, str]]:
        """Each invariant checked, with its verdict so far and the evidence when it broke:
        ``(invariant, held, evidence)`` (the checker stops at the first violation)."""
        return [(inv, self.broken is None or self.broken[0] != inv,
                 self.broken[1] if self.broken is not None and self.broken[0] == inv else "")
                for inv in self.invariants]

    def _fail(self, prop: str, evidence: str, nodes: tuple[str, ...]) -> None:
        self.broken = (prop, evidence, self.sim.now)
        raise PropertyViolation(prop, evidence, time=self.sim.now, nodes=nodes)


def _msg_type(data: str) -> str | None:
    """The ``type`` of a message in compact JSON, or None."""
    at = data.find('"type":"')
    if at < 0:
        return None
    start = at + 8
    end = data.find('"', start)
    return data[start:end] if end > start else None


def _int_field(data: str, key: str) -> int | None:
    """The non-negative int after ``key`` in compact JSON, or None."""
    at = data.find(key)
    if at < 0:
        return None
    start = end = at + len(key)
    while end < len(data) and data[end] in "0123456789":
        end += 1
    return int(data[start:end]) if end > start else None


__all__ = ["RaftChecker", "INVARIANTS", "Invariant", "MAJORITY_OF_VOTES", "ACKNOWLEDGED_STATE",
           "COMMITTED_ENTRIES_STAY", "STANDING", "STALE_ANSWERED", "ELECTION_SAFETY", "ONE_VOTE_PER_TERM",
           "TERMS_NEVER_DECREASE", "LOG_MATCHING", "COMMIT_NEEDS_MAJORITY",
           "LEADER_COMPLETENESS", "STATE_MACHINE_SAFETY", "IN_ORDER_APPLY", "ACCESSOR",
           "command_key", "Prefixes", "NodeView"]
