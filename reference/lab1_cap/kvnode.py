"""Lab 1 reference: a fully replicated key-value store with a consistency level per request.

Rules this file keeps (they are the lab's contract, see assignments/lab1-cap.md):

* Every stored value carries a version ``[counter, node_id]``. Versions compare as lists:
  counter first, node id to break ties, so every node picks the same winner. The counter is
  a Lamport clock: a new write gets one more than the highest counter this node has seen.
* Invariant: ``self.data[key]`` only ever moves to a higher version, and is written to
  ``storage`` before anyone (client or peer) hears about it.
* Eventual write: store, reply, then replicate. The coordinator keeps ``(peer, key)`` in its
  outbox and resends every ``RETRY_INTERVAL`` until that peer acknowledges a version at least
  as new. A restarted node puts every key it holds back in its outbox.
* Strong write: phase 1 (``prepare``) asks the peers "can you hear me?" without handing out
  the value, so a refusal leaves nothing behind. With a majority (this node included) the
  write is decided: the coordinator stores it and replicates it like an eventual write, and
  replies ok once a majority holds it. No majority by the deadline: ``insufficient_replicas``.
* Strong read: the highest version among the replicas of a majority, this node's included.

Everything is driven by events (requests, messages, timers); nothing blocks or reads a clock
other than ``self.now()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit import Node, Request

RETRY_INTERVAL = 0.1   # seconds between two sends of the same replicate / prepare / read
STRONG_TIMEOUT = 0.5   # seconds a strong operation may wait for a majority

CONSISTENCY_LEVELS = ("eventual", "strong")
DATA_PREFIX = "data/"  # storage: "data/<key>" -> [version, value]; "clock" -> int
_EPSILON = 1e-9        # float slack when comparing virtual times


def is_newer(version: list, than: list | None) -> bool:
    """True if ``version`` beats ``than`` (None, no value yet, loses to everything)."""
    return than is None or version > than


def bad_request_reason(body: dict) -> str | None:
    """Why a client request body is malformed, or None if it is fine."""
    op = body.get("op")
    if op not in ("get", "set"):
        return f"unknown op {op!r}: expected 'get' or 'set'"
    key = body.get("key")
    if not isinstance(key, str) or not key:
        return "missing key: 'key' must be a non-empty string"
    if op == "set" and body.get("value") is None:
        return "a set needs a 'value' (not null)"
    consistency = body.get("consistency", "eventual")
    if consistency not in CONSISTENCY_LEVELS:
        return f"unknown consistency {consistency!r}: expected 'eventual' or 'strong'"
    return None


@dataclass
class StrongWrite:
    """A strong write this node coordinates. Phase "prepare": waiting for a majority to
    answer the prepare (nothing stored anywhere). Phase "commit": decided and stored here,
    waiting for a majority to acknowledge holding it."""
    request: Request
    key: str
    value: Any
    version: list
    deadline: float
    phase: str = "prepare"
    acks: set[str] = field(default_factory=set)   # peers that answered the current phase


@dataclass
class StrongRead:
    """A strong read this node coordinates: the replicas heard from so far."""
    request: Request
    key: str
    deadline: float
    answers: dict[str, list | None] = field(default_factory=dict)  # node -> [version, value]


class KVNode(Node):
    """One replica of the store. See the module docstring for the protocol."""

    # ----- construction ------------------------------------------------------------------------

    def on_start(self) -> None:
        self.majority = (len(self.peers) + 1) // 2 + 1
        self.data: dict[str, list] = {}                    # key -> [version, value]
        for name in sorted(self.storage.keys()):
            if name.startswith(DATA_PREFIX):
                self.data[name[len(DATA_PREFIX):]] = self.storage.get(name)
        # Invariant: self.clock >= the counter of every version this node has stored or issued.
        self.clock = max([self.storage.get("clock", 0)]
                         + [version[0] for version, _ in self.data.values()])
        self.boot = self.storage.get("boots", 0) + 1       # makes read ids unique across restarts
        self.storage.put("boots", self.boot)
        self.outbox: dict[tuple[str, str], float] = {}     # (peer, key) -> time last sent
        self.retry_armed = False
        self.writes: dict[str, StrongWrite] = {}           # write id -> write in progress
        self.reads: dict[str, StrongRead] = {}             # read id -> read in progress
        self.reads_started = 0
        for key in sorted(self.data):                      # peers may have missed these
            self.replicate(key)

    # ----- client requests ---------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        body = request.body
        reason = bad_request_reason(body)
        if reason is not None:
            self.reply(request, {"error": "bad_request", "reason": reason})
            return
        strong = body.get("consistency", "eventual") == "strong"
        if body["op"] == "get":
            if strong:
                self.start_strong_read(request, body["key"])
            else:
                self.local_read(request, body["key"])
        elif strong:
            self.start_strong_write(request, body["key"], body["value"])
        else:
            self.eventual_write(request, body["key"], body["value"])

    def local_read(self, request: Request, key: str) -> None:
        version, value = self.data.get(key, (None, None))
        self.reply(request, {"ok": True, "value": value, "version": version})

    def eventual_write(self, request: Request, key: str, value: Any) -> None:
        version = self.new_version()
        self.store(key, version, value)
        self.reply(request, {"ok": True, "version": version})
        self.replicate(key)

    def start_strong_write(self, request: Request, key: str, value: Any) -> None:
        version = self.new_version()
        wid = f"{version[0]}.{version[1]}"
        write = StrongWrite(request, key, value, version, self.now() + STRONG_TIMEOUT)
        self.writes[wid] = write
        self.log(f"strong write {wid} {key}={value!r}: preparing")
        for peer in self.peers:
            self.send(peer, {"type": "prepare", "wid": wid, "key": key})
        self.set_timer(f"write:{wid}", RETRY_INTERVAL, wid=wid)
        self.advance_write(wid)

    def start_strong_read(self, request: Request, key: str) -> None:
        self.reads_started += 1
        rid = f"{self.id}.{self.boot}.{self.reads_started}"
        read = StrongRead(request, key, self.now() + STRONG_TIMEOUT)
        read.answers[self.id] = self.data.get(key)
        self.reads[rid] = read
        for peer in self.peers:
            self.send(peer, {"type": "read", "rid": rid, "key": key})
        self.set_timer(f"read:{rid}", RETRY_INTERVAL, rid=rid)
        self.advance_read(rid)

    # ----- message handlers --------------------------------------------------------------------

    def handle_replicate(self, src: str, msg: dict) -> None:
        self.store(msg["key"], msg["version"], msg["value"])
        self.send(src, {"type": "replicate_ack", "key": msg["key"], "version": msg["version"]})

    def handle_replicate_ack(self, src: str, msg: dict) -> None:
        key, version = msg["key"], msg["version"]
        if (src, key) in self.outbox and not is_newer(self.data[key][0], version):
            del self.outbox[(src, key)]                    # src holds our version (or newer)
        for wid, write in sorted(self.writes.items()):
            if write.phase == "commit" and write.key == key and not is_newer(write.version,
                                                                             version):
                write.acks.add(src)
                self.advance_write(wid)

    def handle_prepare(self, src: str, msg: dict) -> None:
        self.send(src, {"type": "prepared", "wid": msg["wid"]})

    def handle_prepared(self, src: str, msg: dict) -> None:
        write = self.writes.get(msg["wid"])
        if write is not None and write.phase == "prepare":
            write.acks.add(src)
            self.advance_write(msg["wid"])

    def handle_read(self, src: str, msg: dict) -> None:
        version, value = self.data.get(msg["key"], (None, None))
        self.send(src, {"type": "read_reply", "rid": msg["rid"], "version": version,
                        "value": value})

    def handle_read_reply(self, src: str, msg: dict) -> None:
        read = self.reads.get(msg["rid"])
        if read is not None:
            answer = None if msg["version"] is None else [msg["version"], msg["value"]]
            read.answers[src] = answer
            self.advance_read(msg["rid"])

    # ----- timers ------------------------------------------------------------------------------

    def on_timer(self, name: str, data: dict) -> None:
        """Timers are named ``kind`` or ``kind:id`` (one per operation); ``timer_<kind>``
        handles them."""
        kind = name.partition(":")[0]
        super().on_timer(kind, data)

    def timer_retry(self) -> None:
        """Resend every replicate that has waited RETRY_INTERVAL without an acknowledgement."""
        self.retry_armed = False
        now = self.now()
        for (peer, key), sent in sorted(self.outbox.items()):
            if now - sent >= RETRY_INTERVAL - _EPSILON:
                self.send_replicate(peer, key)
        self.arm_retry()

    def timer_write(self, wid: str) -> None:
        write = self.writes.get(wid)
        if write is None:
            return
        left = write.deadline - self.now()
        if left <= _EPSILON:
            if write.phase == "prepare":
                self.log(f"strong write {wid}: no majority in time, refused (nothing stored)")
                self.finish_write(wid, {"error": "insufficient_replicas"})
            else:
                self.log(f"strong write {wid}: decided, but no majority confirmed it in time")
                self.finish_write(wid, {"outcome": "unknown", "reason": "commit_unconfirmed",
                                        "version": write.version})
            return
        if write.phase == "prepare":
            for peer in self.peers:
                if peer not in write.acks:
                    self.send(peer, {"type": "prepare", "wid": wid, "key": write.key})
        self.set_timer(f"write:{wid}", min(RETRY_INTERVAL, left), wid=wid)

    def timer_read(self, rid: str) -> None:
        read = self.reads.get(rid)
        if read is None:
            return
        left = read.deadline - self.now()
        if left <= _EPSILON:
            self.finish_read(rid, {"error": "insufficient_replicas"})
            return
        for peer in self.peers:
            if peer not in read.answers:
                self.send(peer, {"type": "read", "rid": rid, "key": read.key})
        self.set_timer(f"read:{rid}", min(RETRY_INTERVAL, left), rid=rid)

    # ----- strong operations: progress ---------------------------------------------------------

    def advance_write(self, wid: str) -> None:
        """Move a strong write on once a majority (this node included) answered its phase."""
        write = self.writes[wid]
        if 1 + len(write.acks) < self.majority:
            return
        if write.phase == "prepare":
            self.log(f"strong write {wid}: majority prepared, committing")
            write.phase, write.acks = "commit", set()
            self.store(write.key, write.version, write.value)
            self.replicate(write.key)
            self.advance_write(wid)                        # a majority of one: done already
        else:
            self.finish_write(wid, {"ok": True, "version": write.version})

    def finish_write(self, wid: str, body: dict) -> None:
        write = self.writes.pop(wid)
        self.cancel_timer(f"write:{wid}")
        self.reply(write.request, body)

    def advance_read(self, rid: str) -> None:
        read = self.reads[rid]
        if len(read.answers) < self.majority:
            return
        best = None
        for answer in read.answers.values():
            if answer is not None and (best is None or is_newer(answer[0], best[0])):
                best = answer
        version, value = best if best is not None else (None, None)
        self.finish_read(rid, {"ok": True, "value": value, "version": version})

    def finish_read(self, rid: str, body: dict) -> None:
        read = self.reads.pop(rid)
        self.cancel_timer(f"read:{rid}")
        self.reply(read.request, body)

    # ----- replicas, versions and the outbox ---------------------------------------------------

    def new_version(self) -> list:
        """A version higher than any this node has seen; the counter is made durable first,
        so a restarted node never issues the same version twice."""
        self.clock += 1
        self.storage.put("clock", self.clock)
        return [self.clock, self.id]

    def store(self, key: str, version: list, value: Any) -> bool:
        """Keep ``(version, value)`` if it is newer than what we hold; True if it was."""
        current = self.data.get(key)
        if not is_newer(version, None if current is None else current[0]):
            return False
        self.data[key] = [version, value]
        self.storage.put(DATA_PREFIX + key, [version, value])
        self.clock = max(self.clock, version[0])
        return True

    def replicate(self, key: str) -> None:
        """Send our copy of ``key`` to every peer now, and keep resending until acknowledged."""
        for peer in self.peers:
            self.send_replicate(peer, key)
        self.arm_retry()

    def send_replicate(self, peer: str, key: str) -> None:
        version, value = self.data[key]
        self.outbox[(peer, key)] = self.now()
        self.send(peer, {"type": "replicate", "key": key, "version": version, "value": value})

    def arm_retry(self) -> None:
        if self.outbox and not self.retry_armed:
            self.set_timer("retry", RETRY_INTERVAL)
            self.retry_armed = True
