"""Part B: a replicated cache node (handout sections 4 and 5).

Six ``CacheNode``s, c1..c6, share one hash ring. Every key has N=3 *home replicas*: the first
three nodes of its preference list. Any node can *coordinate* a client operation on any key:
it talks to the key's home replicas and answers the client.

* ``consistency="strong"``: strict quorums on the home replicas, R=2 and W=2 (R+W > N).
  A strong write first learns the newest version from R replicas and then writes a higher one to
  W replicas. A strong read asks R replicas and, if they disagree, writes the newest entry back
  to W replicas before it answers. That is the ABD algorithm: strong operations are
  linearizable. A strong operation that cannot gather its quorum within ``STRONG_TIMEOUT``
  answers ``{"error": "unavailable"}``.
* ``consistency="eventual"``: a write is stored at once by the coordinator (W=1) and answered;
  the coordinator owes every other home replica a copy (a *hint*) and delivers it in the
  background. If a home replica does not acknowledge within ``FAILOVER_AFTER``, the copy is
  handed to the next node of the ring after the homes (a *fallback*), which delivers it when the
  owner answers again: a sloppy quorum with hinted handoff. A read answers from the first
  replica (the coordinator's own copy when it is a home) and repairs stale replicas afterwards.

Client requests (also arriving from the load balancer as ``forward`` messages):

    {"op": "put", "key": k, "value": v, "consistency": c, "ttl": seconds (optional)}
        -> {"ok": True, "version": [counter, node]}
    {"op": "delete", "key": k, "consistency": c}  -> {"ok": True, "version": [counter, node]}
    {"op": "get", "key": k, "consistency": c}     -> {"value": v or None, "version": [..] or None}
    {"op": "stats"}  -> {"keys": n, "hits": n, "misses": n, "evictions": n, "hints": n}
    anything refused -> {"error": "unavailable" | "bad_request", "detail": "..."}

Messages between cache nodes (``op`` names the coordination they belong to):

    read {op, key}             -> read_ack {op, key, entry}        a replica's entry (or None)
    write {op, key, entry}     -> write_ack {op, key, version}     store if newer, say what you hold
    repair {key, entry}                                            store if newer, no answer
    handoff {key, entry}       -> handoff_ack {key, version}       a hint, delivered to its owner
    hint {owner, key, entry}   -> hint_ack {owner, key, version}   hold a copy for a down owner
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit import Node, Request

from .ring import VNODES, HashRing
from .store import (HintStore, ReplicaStore, make_entry, newer, newest, version_of,
                    visible_value)

STRONG, EVENTUAL = "strong", "eventual"
OPS = ("put", "get", "delete", "stats")


def cache_nodes(node_id: str, peers: tuple[str, ...]) -> list[str]:
    """The cache nodes of the cluster: every node whose id starts with "c" (not the "lb")."""
    return sorted(n for n in (node_id, *peers) if n.startswith("c"))


@dataclass
class Coordination:
    """One client operation this node coordinates, from the request to its last repair.

    Phases: strong put/delete ``query`` -> ``write``; strong get ``query`` -> (``writeback``)
    -> ``repair``; eventual get ``query`` -> ``repair``. ``repair`` means the client has its
    answer and the node only waits for the last replicas, to repair the stale ones.
    """

    id: str
    origin: Any                   # a Request, or ("forward", lb_id, fid)
    op: str                       # "put" | "get" | "delete"
    key: str
    strong: bool
    homes: list[str]
    phase: str = "query"
    answers: dict[str, dict | None] = field(default_factory=dict)   # read_acks by replica
    acks: set[str] = field(default_factory=set)                      # write_acks by replica
    entry: dict | None = None     # the entry being written (put/delete) or written back (get)
    answered: bool = False


class CacheNode(Node):
    # ----- the contract's constants (handout section 4) ------------------------------------------
    N = 3                   # home replicas per key
    R = 2                   # replicas a strong read (and a strong write's version query) hears
    W = 2                   # replicas that must hold a strong write before it is acknowledged
    vnodes = VNODES         # virtual nodes per cache node on the ring
    capacity = 1000         # entries per node before least-recently-used eviction
    STRONG_TIMEOUT = 0.5    # a strong operation answers within this many seconds
    EVENTUAL_TIMEOUT = 0.5  # an eventual read that hears no replica fails after this long
    RETRY_INTERVAL = 0.1    # resend to replicas that have not answered yet
    HANDOFF_INTERVAL = 0.1  # how often hints are (re)sent
    FAILOVER_AFTER = 0.2    # an unacknowledged copy goes to a fallback node after this long

    # ----- construction --------------------------------------------------------------------------

    def on_start(self) -> None:
        self.ring = HashRing(cache_nodes(self.id, self.peers), vnodes=self.vnodes)
        self.store = ReplicaStore(self.storage, self.capacity)
        self.hints = HintStore(self.storage)
        boots = self.storage.get("boots", 0) + 1
        self.storage.put("boots", boots)
        self.op_prefix = f"{self.id}.{boots}."    # op ids never repeat, even across restarts
        self.op_count = 0
        self.ops: dict[str, Coordination] = {}
        # Invariant: clock >= the counter of every version this node has seen.
        self.clock = max(self.store.max_counter(), self.hints.max_counter())
        self.hits = self.misses = 0
        self.handoff_armed = False      # the handoff timer runs only while there are hints
        self.arm_handoff()

    def homes(self, key: str) -> list[str]:
        return self.ring.preference_list(key, self.N)

    def peek(self, key: str) -> dict | None:
        """This replica's own copy of ``key`` for graders: {"value", "version"} or None.

        Not a use (the LRU order does not change)."""
        entry = self.store.get(key, touch=False)
        if entry is None:
            return None
        return {"value": visible_value(entry, self.now()), "version": entry["version"]}

    # ----- client requests -----------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        self.start_operation(request, request.body)

    def handle_forward(self, src: str, msg: dict) -> None:
        """The load balancer passes a client request on; answer it with forward_reply."""
        self.start_operation(("forward", src, msg.get("fid")), msg.get("body"))

    def handle_ping(self, src: str, msg: dict) -> None:
        self.send(src, {"type": "pong", "seq": msg.get("seq")})

    def start_operation(self, origin: Any, body: Any) -> None:
        problem = bad_request(body)
        if problem:
            self.answer(origin, {"error": "bad_request", "detail": problem})
            return
        if body["op"] == "stats":
            self.answer(origin, self.stats())
            return
        strong = body.get("consistency", EVENTUAL) == STRONG
        key = body["key"]
        self.op_count += 1
        c = Coordination(self.op_prefix + str(self.op_count), origin, body["op"], key, strong,
                         self.homes(key))
        if c.op != "get":
            expires = None if body.get("ttl") is None else self.now() + body["ttl"]
            c.entry = make_entry(body.get("value"), [0, self.id], deleted=c.op == "delete",
                                 expires=expires)
        if not strong and c.op != "get":
            self.eventual_write(c)
            return
        self.ops[c.id] = c
        timeout = self.STRONG_TIMEOUT if strong else self.EVENTUAL_TIMEOUT
        self.set_timer(f"deadline:{c.id}", timeout, op=c.id)
        self.set_timer(f"retry:{c.id}", self.RETRY_INTERVAL, op=c.id)
        if not strong and self.id in c.homes:
            # Eventual read at a home replica: its own copy is the answer (R=1); the other
            # homes are still asked, to repair whoever is stale.
            entry = self.store.get(key)
            c.answers[self.id] = entry
            self.answer_read(c, entry)
            c.phase = "repair"
        self.send_phase(c)

    def stats(self) -> dict:
        return {"keys": self.store.live_keys(self.now()), "hits": self.hits,
                "misses": self.misses, "evictions": self.store.evictions,
                "hints": len(self.hints)}

    def answer(self, origin: Any, body: dict) -> None:
        if isinstance(origin, tuple):
            _, lb, fid = origin
            self.send(lb, {"type": "forward_reply", "fid": fid, "body": body})
        else:
            self.reply(origin, body)

    # ----- coordinating: eventual writes ---------------------------------------------------------

    def eventual_write(self, c: Coordination) -> None:
        """W=1: store here (as a replica, or as hints for the homes) and answer at once."""
        local = self.store.get(c.key) if self.id in c.homes else None
        self.clock = max(self.clock, version_of(local)[0]) + 1
        entry = {**c.entry, "version": [self.clock, self.id]}
        if self.id in c.homes:
            self.store.put(c.key, entry)
        for home in c.homes:
            if home != self.id:
                self.hints.add(home, c.key, entry, now=self.now(), fallback=False)
                self.send(home, {"type": "handoff", "key": c.key, "entry": entry})
        self.arm_handoff()
        self.answer(c.origin, {"ok": True, "version": entry["version"]})

    # ----- coordinating: quorum phases -----------------------------------------------------------

    def send_phase(self, c: Coordination) -> None:
        """(Re)send the current phase's message to every home replica that has not answered."""
        if c.phase in ("query", "repair"):
            for home in c.homes:
                if home not in c.answers:
                    self.send(home, {"type": "read", "op": c.id, "key": c.key})
        elif c.phase in ("write", "writeback"):
            for home in c.homes:
                if home not in c.acks:
                    self.send(home, {"type": "write", "op": c.id, "key": c.key,
                                     "entry": c.entry})

    def handle_read_ack(self, src: str, msg: dict) -> None:
        c = self.ops.get(msg["op"])
        if c is None or src in c.answers:
            return
        entry = msg["entry"]
        self.see(entry)
        c.answers[src] = entry
        if c.phase == "query" and c.strong and len(c.answers) >= self.R:
            if c.op == "get":
                self.strong_read_quorum(c)
            else:
                self.strong_write_begin(c)
        elif c.phase == "query" and not c.strong:
            self.answer_read(c, entry)           # R=1: the first answer is the answer
            c.phase = "repair"
        if c.phase == "repair" and len(c.answers) == len(c.homes):
            self.finish(c)

    def strong_write_begin(self, c: Coordination) -> None:
        """The version query has R answers: write a version above all of them."""
        self.clock = max(self.clock, version_of(newest(c.answers.values()))[0]) + 1
        c.entry = {**c.entry, "version": [self.clock, self.id]}
        c.phase = "write"
        self.send_phase(c)

    def strong_read_quorum(self, c: Coordination) -> None:
        """R replicas answered. If they agree, answer; else write the newest back first."""
        best = newest(c.answers.values())
        agreeing = {n for n, e in c.answers.items() if version_of(e) == version_of(best)}
        if best is None or len(agreeing) >= self.W:
            self.answer_read(c, best)
            c.phase = "repair"
            return
        c.entry = best
        c.acks = agreeing
        c.phase = "writeback"
        self.send_phase(c)

    def handle_write_ack(self, src: str, msg: dict) -> None:
        c = self.ops.get(msg["op"])
        if c is None or c.phase not in ("write", "writeback"):
            return
        if tuple(msg["version"]) < version_of(c.entry):
            return                               # cannot happen: a replica keeps the newer
        c.acks.add(src)
        if len(c.acks) < self.W:
            return
        if c.phase == "write":
            self.answer(c.origin, {"ok": True, "version": c.entry["version"]})
            c.answered = True
            self.finish(c)                       # a strong write stops at W acknowledgements
        else:
            self.answer_read(c, c.entry)
            c.phase = "repair"
            if len(c.answers) == len(c.homes):
                self.finish(c)

    def answer_read(self, c: Coordination, entry: dict | None) -> None:
        value = visible_value(entry, self.now())
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        c.answered = True
        self.answer(c.origin, {"value": value,
                               "version": None if entry is None else entry["version"]})

    def finish(self, c: Coordination) -> None:
        """Forget the operation; a read first repairs every replica that answered stale."""
        if c.op == "get":
            best = newest(c.answers.values())
            for home, entry in sorted(c.answers.items()):
                if newer(best, entry):
                    self.send(home, {"type": "repair", "key": c.key, "entry": best})
        self.ops.pop(c.id, None)
        self.cancel_timer(f"deadline:{c.id}")
        self.cancel_timer(f"retry:{c.id}")

    # ----- timers --------------------------------------------------------------------------------

    def on_timer(self, name: str, data: dict) -> None:
        """A timer named "kind" or "kind:anything" calls ``timer_<kind>(**data)``: each operation
        has timers of its own (``deadline:<op>``, ``retry:<op>``)."""
        kind = name.partition(":")[0]
        getattr(self, f"timer_{kind}")(**data)

    def timer_retry(self, op: str) -> None:
        c = self.ops.get(op)
        if c is None:
            return
        if c.phase != "repair":
            self.send_phase(c)
        self.set_timer(f"retry:{op}", self.RETRY_INTERVAL, op=op)

    def timer_deadline(self, op: str) -> None:
        c = self.ops.get(op)
        if c is None:
            return
        if not c.answered:
            heard = sorted(c.acks if c.phase in ("write", "writeback") else c.answers)
            need = self.W if c.phase in ("write", "writeback") else (self.R if c.strong else 1)
            timeout = self.STRONG_TIMEOUT if c.strong else self.EVENTUAL_TIMEOUT
            self.answer(c.origin, {
                "error": "unavailable",
                "detail": f"{c.phase} phase of {c.op} {c.key!r}: {len(heard)} of the home "
                          f"replicas {', '.join(c.homes)} answered within {timeout:g} s "
                          f"({', '.join(heard) or 'none'}), {need} needed"})
        self.finish(c)

    def arm_handoff(self) -> None:
        if self.hints and not self.handoff_armed:
            self.handoff_armed = True
            self.set_timer("handoff", self.HANDOFF_INTERVAL)

    def timer_handoff(self) -> None:
        """Deliver every hint: to its owner, or, once the owner has been silent for
        FAILOVER_AFTER, from the coordinator to the key's next fallback node."""
        self.handoff_armed = False
        for record in self.hints.records():
            key, owner = record["key"], record["owner"]
            if not record["fallback"] and self.now() - record["since"] >= self.FAILOVER_AFTER:
                fallbacks = self.fallbacks(key)
                if self.id in fallbacks:
                    self.hints.update(record, fallback=True)   # this node is a stand-in already
                elif fallbacks:
                    target = fallbacks[record["tries"] % len(fallbacks)]
                    self.hints.update(record, tries=record["tries"] + 1)
                    self.send(target, {"type": "hint", "owner": owner, "key": key,
                                       "entry": record["entry"]})
                    continue
            self.send(owner, {"type": "handoff", "key": key, "entry": record["entry"]})
        self.arm_handoff()

    def fallbacks(self, key: str) -> list[str]:
        """The nodes after the key's homes on the ring, in ring order."""
        return self.ring.preference_list(key, len(self.ring))[self.N:]

    # ----- replica side --------------------------------------------------------------------------

    def see(self, entry: dict | None) -> None:
        if entry is not None:
            self.clock = max(self.clock, entry["version"][0])

    def handle_read(self, src: str, msg: dict) -> None:
        entry = self.store.get(msg["key"])
        self.send(src, {"type": "read_ack", "op": msg["op"], "key": msg["key"], "entry": entry})

    def handle_write(self, src: str, msg: dict) -> None:
        self.see(msg["entry"])
        self.store.put(msg["key"], msg["entry"])
        held = self.store.get(msg["key"], touch=False)
        version = msg["entry"]["version"] if held is None else max(held["version"],
                                                                   msg["entry"]["version"])
        self.send(src, {"type": "write_ack", "op": msg["op"], "key": msg["key"],
                        "version": version})

    def handle_repair(self, src: str, msg: dict) -> None:
        self.see(msg["entry"])
        self.store.put(msg["key"], msg["entry"])

    def handle_handoff(self, src: str, msg: dict) -> None:
        self.see(msg["entry"])
        self.store.put(msg["key"], msg["entry"])
        self.send(src, {"type": "handoff_ack", "key": msg["key"],
                        "version": msg["entry"]["version"]})

    def handle_handoff_ack(self, src: str, msg: dict) -> None:
        self.hints.acknowledged(src, msg["key"], msg["version"])

    def handle_hint(self, src: str, msg: dict) -> None:
        self.see(msg["entry"])
        self.hints.add(msg["owner"], msg["key"], msg["entry"], now=self.now(), fallback=True)
        self.arm_handoff()
        self.send(src, {"type": "hint_ack", "owner": msg["owner"], "key": msg["key"],
                        "version": msg["entry"]["version"]})

    def handle_hint_ack(self, src: str, msg: dict) -> None:
        self.hints.acknowledged(msg["owner"], msg["key"], msg["version"])


def bad_request(body: Any) -> str:
    """Why ``body`` is not a valid client request, or "" if it is."""
    if not isinstance(body, dict) or body.get("op") not in OPS:
        return f"a request is a dict with 'op' one of {', '.join(OPS)}; got {body!r}"
    if body["op"] == "stats":
        return ""
    if not isinstance(body.get("key"), str):
        return f"{body['op']} needs a string 'key'; got {body.get('key')!r}"
    if body.get("consistency", EVENTUAL) not in (STRONG, EVENTUAL):
        return f"consistency is 'strong' or 'eventual'; got {body.get('consistency')!r}"
    if body["op"] == "put":
        if "value" not in body:
            return "put needs a 'value'"
        ttl = body.get("ttl")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))
                                or ttl <= 0):
            return f"ttl is a number of seconds > 0; got {ttl!r}"
    return ""
