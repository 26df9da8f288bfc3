"""Lab 1: CAP trade-offs. One replica of a 3-node key-value store (nodes n1, n2, n3).

Read assignments/lab1-cap.md first: it states the whole contract and what is graded.

Clients send requests (``request.body`` is a dict) to any node:

    {"op": "get", "key": k}                                  read this node's replica
    {"op": "get", "key": k, "consistency": "strong"}         read a majority, newest wins
    {"op": "set", "key": k, "value": v}                      eventual (the default)
    {"op": "set", "key": k, "value": v, "consistency": "strong"}

and get exactly one reply each:

    get               {"ok": True, "value": v, "version": [counter, node_id]}
                      ({"ok": True, "value": None, "version": None} for a key never written)
    set               {"ok": True, "version": [counter, node_id]}
    strong, refused   {"error": "insufficient_replicas"}       (and no trace left anywhere)
    strong set, decided but not confirmed in time
                      {"outcome": "unknown", "reason": "commit_unconfirmed", "version": [...]}
    malformed         {"error": "bad_request", "reason": "<what is wrong>"}

Versions are ``[counter, node_id]`` lists and compare as lists (counter first, node id breaks
ties). The counter is a Lamport clock: a new write gets 1 + the highest counter seen so far.

The rules of the game (labkit's node API, see labkit/node.py): react to events, never block,
never read the wall clock, never use the ``random`` module (use ``self.rng``), keep in
``self.storage`` whatever must survive a crash. Attributes you set in ``on_start`` are lost
when the node crashes; ``storage`` is not.

Message types below (replicate, prepare, read and their answers) are a suggested design: the
graders only look at the replies clients get and at how many messages you send.
"""

from __future__ import annotations

from typing import Any

from labkit import Node, Request

RETRY_INTERVAL = 0.1   # seconds before resending an unacknowledged message (not sooner)
STRONG_TIMEOUT = 0.5   # seconds a strong operation may wait for a majority, then it refuses

CONSISTENCY_LEVELS = ("eventual", "strong")


def is_newer(version: Any, than: Any) -> bool:
    """True if ``version`` beats ``than``; ``than`` is None when there is no value yet.

    TODO: compare [counter, node_id] lists (Python compares lists element by element)."""
    raise NotImplementedError("is_newer: compare [counter, node_id] versions, None loses")


class KVNode(Node):
    """One replica. Every node holds every key.

    Eventual writes: store locally, reply at once, then replicate to every peer, resending
    every RETRY_INTERVAL until each peer acknowledges (the outbox). A receiver keeps the
    higher version.

    Strong writes: ask the peers first without handing out the value (prepare); with a
    majority, this node included, store and replicate the value, and reply ok once a majority
    holds it. Without a majority within STRONG_TIMEOUT, reply insufficient_replicas: nothing
    may have been stored or shown anywhere, and the previous value stays.

    Strong reads: collect the replicas of a majority (this node included) within
    STRONG_TIMEOUT and return the highest version; otherwise insufficient_replicas.
    """

    # ----- construction ------------------------------------------------------------------------

    def on_start(self) -> None:
        """Runs at boot and after every restart, on a brand-new object.

        TODO: load your replica (every key's version and value; keep it in ``self.data``,
        which the live demo's status page shows) and your Lamport counter from
        self.storage; set up the volatile state (the outbox of unacknowledged
        replicates, the strong operations in progress); and offer every key you hold to
        every peer again, since they may have missed your writes while you were down."""
        raise NotImplementedError(
            "KVNode.on_start: load the replica and the clock from self.storage, set up the "
            "outbox, and resend every stored key to every peer")

    # ----- client requests ---------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        """A client operation; answer it once with ``self.reply(request, {...})``.

        TODO: reject malformed bodies with {"error": "bad_request", "reason": ...} (unknown
        op, missing or empty key, a set without a value, an unknown consistency); then serve
        the four cases: eventual get, eventual set, strong get, strong set."""
        raise NotImplementedError(
            "KVNode.on_request: validate the body, then serve get/set, eventual/strong")

    # ----- message handlers (called as handle_<type>(src, msg)) --------------------------------

    def handle_replicate(self, src: str, msg: dict) -> None:
        """A peer sends its copy of a key. TODO: keep it if its version is higher (in storage
        too), and acknowledge it whatever happened, so the sender stops resending."""
        raise NotImplementedError(
            "KVNode.handle_replicate: keep the higher version, then acknowledge")

    def handle_replicate_ack(self, src: str, msg: dict) -> None:
        """A peer holds a version of a key. TODO: drop (src, key) from the outbox if it holds
        ours or newer; count it for a strong write waiting for a majority to hold it."""
        raise NotImplementedError(
            "KVNode.handle_replicate_ack: clear the outbox entry, count strong-write acks")

    def handle_prepare(self, src: str, msg: dict) -> None:
        """Phase 1 of a strong write coordinated by ``src``. TODO: answer it. (Do not show
        anything to readers yet: the write may still be refused.)"""
        raise NotImplementedError("KVNode.handle_prepare: answer the coordinator")

    def handle_prepared(self, src: str, msg: dict) -> None:
        """A peer answered our prepare. TODO: with a majority (this node included) before the
        deadline, the write is decided: store it, replicate it, wait for a majority to hold
        it."""
        raise NotImplementedError(
            "KVNode.handle_prepared: count the answer; with a majority, commit the write")

    def handle_read(self, src: str, msg: dict) -> None:
        """A strong read coordinated by ``src``. TODO: send back our version and value."""
        raise NotImplementedError("KVNode.handle_read: send back our version and value")

    def handle_read_reply(self, src: str, msg: dict) -> None:
        """A peer's answer to our strong read. TODO: with a majority (this node included),
        reply with the highest version."""
        raise NotImplementedError(
            "KVNode.handle_read_reply: with a majority of answers, reply the newest")

    # ----- timers ------------------------------------------------------------------------------

    def on_timer(self, name: str, data: dict) -> None:
        """Provided. Timers are named ``kind`` or ``kind:id``, so each strong operation can
        have its own (``self.set_timer(f"write:{wid}", delay, wid=wid)``); this calls
        ``timer_<kind>(**data)``."""
        kind = name.partition(":")[0]
        super().on_timer(kind, data)

    def timer_retry(self) -> None:
        """TODO: resend every outbox entry that has waited RETRY_INTERVAL without an
        acknowledgement; re-arm while the outbox is not empty (an idle node sends nothing)."""
        raise NotImplementedError(
            "KVNode.timer_retry: resend unacknowledged replicates, re-arm while needed")

    def timer_write(self, wid: str) -> None:
        """Deadline (and resend) timer of strong write ``wid``. TODO: before the deadline,
        resend prepares that got no answer; at STRONG_TIMEOUT, reply insufficient_replicas if
        the write was not decided, or the "outcome unknown" reply if it was decided but not
        yet confirmed by a majority."""
        raise NotImplementedError(
            "KVNode.timer_write: resend prepares; at the deadline refuse or reply unknown")

    def timer_read(self, rid: str) -> None:
        """Deadline (and resend) timer of strong read ``rid``. TODO: resend unanswered reads;
        at STRONG_TIMEOUT reply insufficient_replicas."""
        raise NotImplementedError(
            "KVNode.timer_read: resend reads; at the deadline reply insufficient_replicas")
