"""Lab 3, part B: a partition-tolerant replicated register store (ABD, key by key).

Every node is a replica of every key and can coordinate client operations. A replica holds, per
key, a value and its version ``(counter, node_id)``; versions compare as tuples, so two writers
that pick the same counter are ordered by node id and never tie.

A quorum operation runs one or two phases, each sent to every peer and finished by a majority
of the cluster (the coordinator's own replica counts, without a message):

* write(key, value): *query* the versions, pick ``(highest counter + 1, my id)``, *store* it;
  acknowledge once a majority has stored it.
* read(key, quorum): *query* the versions; if the majority disagree, *store* (write back) the
  newest before answering, so no later read can see an older one.

An operation that has no majority ``QUORUM_TIMEOUT`` seconds after it began is answered
``{"error": "no_quorum"}``. Messages that go unanswered are sent again every ``RETRY_INTERVAL``.
A local read answers from this replica at once. Every ``ANTI_ENTROPY_INTERVAL`` each node sends
its replicas to every peer, which keep whatever is newer: replicas that missed writes catch up.

Invariants:

* a replica's version for a key only grows, and it is in ``storage`` before any ack leaves;
* ``self.issued[key]`` (in storage) is the highest counter this node ever put in a version of
  ``key``, so it never issues the same version twice, even across a crash, even when two of
  its own writes of one key run at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit import Node, Request

QUORUM_TIMEOUT = 0.5          # seconds from a request to {"error": "no_quorum"}
RETRY_INTERVAL = 0.05         # resend a phase's message to replicas that have not answered
ANTI_ENTROPY_INTERVAL = 0.25  # every node pushes its replicas to every peer this often
NO_VERSION = (0, "")          # the version of a key that was never written

Version = tuple[int, str]
QUERY, STORE = "query", "store"


@dataclass
class Pending:
    """A quorum operation this node coordinates."""

    id: str                   # "<boot>.<seq>": unique across this node's restarts
    request: Request
    kind: str                 # "write" or "read"
    key: str
    value: Any = None         # the newest value seen, then the value being stored
    version: Version = NO_VERSION  # the newest version seen, then the version being stored
    deadline: float = 0.0
    phase: str = QUERY
    answered: set[str] = field(default_factory=set)   # replicas that answered this phase
    agree: bool = True        # query phase: every answer so far had the same version


class QuorumNode(Node):
    """One replica and coordinator of the store. See the module docstring."""

    # ----- construction ------------------------------------------------------------------------

    def on_start(self) -> None:
        self.replicas: dict[str, tuple[Version, Any]] = {}
        self.issued: dict[str, int] = {}
        for name in self.storage.keys():
            if name.startswith("reg:"):
                saved = self.storage[name]
                self.replicas[name[4:]] = (tuple(saved["version"]), saved["value"])
            elif name.startswith("issued:"):
                self.issued[name[7:]] = self.storage[name]
        self.boot: int = self.storage.get("boots", 0) + 1
        self.storage.put("boots", self.boot)
        self.seq = 0
        self.pending: dict[str, Pending] = {}
        # A random first delay spreads the nodes' anti-entropy rounds apart.
        self.set_timer("anti_entropy", ANTI_ENTROPY_INTERVAL * self.rng.uniform(0.5, 1.0))

    @property
    def majority(self) -> int:
        return (len(self.peers) + 1) // 2 + 1

    # ----- the local replica -------------------------------------------------------------------

    def replica(self, key: str) -> tuple[Version, Any]:
        return self.replicas.get(key, (NO_VERSION, None))

    @staticmethod
    def newer(version: Version, than: Version) -> bool:
        return version > than

    def store_locally(self, key: str, version: Version, value: Any) -> None:
        """Keep ``(version, value)`` if it is newer than what this replica holds."""
        if self.newer(version, self.replica(key)[0]):
            self.replicas[key] = (version, value)
            self.save_replica(key)

    def save_replica(self, key: str) -> None:
        version, value = self.replicas[key]
        self.storage.put("reg:" + key, {"version": list(version), "value": value})

    def next_version(self, key: str, highest: Version) -> Version:
        """A version of ``key`` above ``highest`` that this node has never issued (saved first)."""
        counter = max(self.issued.get(key, 0), highest[0]) + 1
        self.issued[key] = counter
        self.storage.put("issued:" + key, counter)
        return (counter, self.id)

    # ----- client requests ---------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        body = request.body
        key = body.get("key")
        if not isinstance(key, str):
            self.reply(request, {"error": "bad_request: 'key' must be a string"})
        elif body.get("op") == "write" and "value" in body:
            self.begin(Pending(self.new_id(), request, "write", key))
        elif body.get("op") == "read" and body.get("mode", "quorum") == "local":
            version, value = self.replica(key)
            self.reply(request, {"value": value, "version": list(version)})
        elif body.get("op") == "read" and body.get("mode", "quorum") == "quorum":
            self.begin(Pending(self.new_id(), request, "read", key))
        else:
            self.reply(request, {"error": f"bad_request: {body}"})

    def new_id(self) -> str:
        self.seq += 1
        return f"{self.boot}.{self.seq}"

    # ----- the phases of a quorum operation ----------------------------------------------------

    def begin(self, op: Pending) -> None:
        op.deadline = self.now() + QUORUM_TIMEOUT
        self.pending[op.id] = op
        self.start_query(op)
        self.arm(op)

    def start_query(self, op: Pending) -> None:
        op.phase, op.answered = QUERY, set()
        self.send_phase(op, self.peers)
        self.on_query_answer(op, self.id, *self.replica(op.key))

    def on_query_answer(self, op: Pending, src: str, version: Version, value: Any) -> None:
        if op.answered and version != op.version:
            op.agree = False
        if not op.answered or self.newer(version, op.version):
            op.version, op.value = version, value
        op.answered.add(src)
        if len(op.answered) >= self.majority:
            self.query_done(op)

    def query_done(self, op: Pending) -> None:
        if op.kind == "write":
            op.version = self.next_version(op.key, op.version)
            op.value = op.request.body["value"]
            self.start_store(op)
        elif op.agree:      # a majority already holds the newest version: nothing to repair
            self.finish(op, {"value": op.value, "version": list(op.version)})
        else:
            self.start_store(op)

    def start_store(self, op: Pending) -> None:
        op.phase, op.answered = STORE, set()
        self.store_locally(op.key, op.version, op.value)
        self.send_phase(op, self.peers)
        self.on_store_ack(op, self.id)

    def on_store_ack(self, op: Pending, src: str) -> None:
        op.answered.add(src)
        if len(op.answered) >= self.majority:
            body = {"version": list(op.version)}
            if op.kind == "read":
                body["value"] = op.value
            self.finish(op, body)

    def send_phase(self, op: Pending, targets) -> None:
        if op.phase == QUERY:
            msg = {"type": "query", "op": op.id, "key": op.key}
        else:
            msg = {"type": "store", "op": op.id, "key": op.key, "version": list(op.version),
                   "value": op.value}
        for peer in targets:
            self.send(peer, msg)

    def finish(self, op: Pending, body: dict) -> None:
        del self.pending[op.id]
        self.cancel_timer("op:" + op.id)
        self.reply(op.request, body)

    def give_up(self, op: Pending) -> None:
        self.log(f"{op.kind} {op.key!r}: no majority in the {op.phase} phase "
                 f"({len(op.answered)} of {self.majority} needed: {sorted(op.answered)})")
        self.finish(op, {"error": "no_quorum"})

    # ----- message handlers --------------------------------------------------------------------

    def handle_query(self, src: str, msg: dict) -> None:
        version, value = self.replica(msg["key"])
        self.send(src, {"type": "query_reply", "op": msg["op"], "version": list(version),
                        "value": value})

    def handle_query_reply(self, src: str, msg: dict) -> None:
        op = self.pending.get(msg["op"])
        if op is not None and op.phase == QUERY and src not in op.answered:
            self.on_query_answer(op, src, tuple(msg["version"]), msg["value"])

    def handle_store(self, src: str, msg: dict) -> None:
        self.store_locally(msg["key"], tuple(msg["version"]), msg["value"])
        self.send(src, {"type": "store_ack", "op": msg["op"]})

    def handle_store_ack(self, src: str, msg: dict) -> None:
        op = self.pending.get(msg["op"])
        if op is not None and op.phase == STORE and src not in op.answered:
            self.on_store_ack(op, src)

    def handle_sync(self, src: str, msg: dict) -> None:
        for key, version, value in msg["entries"]:
            self.store_locally(key, tuple(version), value)

    # ----- timers ------------------------------------------------------------------------------

    def on_timer(self, name: str, data: dict) -> None:
        if name == "anti_entropy":
            self.anti_entropy()
        else:                          # "op:<id>": retry or give up
            self.retry(data["op"])

    def arm(self, op: Pending) -> None:
        delay = min(RETRY_INTERVAL, op.deadline - self.now())
        self.set_timer("op:" + op.id, max(delay, 0.0), op=op.id)

    def retry(self, op_id: str) -> None:
        op = self.pending.get(op_id)
        if op is None:
            return
        if self.now() >= op.deadline - 1e-9:
            self.give_up(op)
            return
        self.send_phase(op, [p for p in self.peers if p not in op.answered])
        self.arm(op)

    def anti_entropy(self) -> None:
        entries = [[key, list(version), value]
                   for key, (version, value) in sorted(self.replicas.items())]
        if entries:
            self.broadcast({"type": "sync", "entries": entries})
        self.set_timer("anti_entropy", ANTI_ENTROPY_INTERVAL)
