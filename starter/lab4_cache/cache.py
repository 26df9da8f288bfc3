"""Lab 4, part B: a replicated cache node (handout sections 4 and 5).

Six ``CacheNode``s, c1..c6, build the same ``HashRing(cache_nodes(...), vnodes=VNODES)``. The
*home replicas* of a key are ``ring.preference_list(key, N)``; the nodes after them on the ring
are its *fallbacks*. Any node coordinates any client request: it talks to the key's homes and
answers the client.

Client requests (``request.body``, or ``msg["body"]`` of a ``forward`` from the load balancer)
and their replies:

    {"op": "put", "key": k, "value": v, "consistency": c, "ttl": secs}  (ttl optional)
        -> {"ok": true, "version": [counter, node]}
    {"op": "delete", "key": k, "consistency": c} -> {"ok": true, "version": [counter, node]}
    {"op": "get", "key": k, "consistency": c}    -> {"value": v, "version": [counter, node]}
                                                    (value None: absent, deleted or expired)
    {"op": "stats"} -> {"keys": n, "hits": n, "misses": n, "evictions": n, "hints": n}
    refused         -> {"error": "unavailable", "detail": "..."}   ("consistency" defaults
                                                                    to "eventual")

Versions are ``[counter, coordinator id]`` and compare as lists. A replica keeps an entry only
if its version is newer than the one it holds. A delete writes a tombstone (a versioned "no
value"), never removes the entry.

Strong (R=2, W=2 of the N=3 homes; a coordinator that is a home counts like any other home):
  put/delete: ask the homes for their versions; with R answers, pick [max(highest counter
  heard, clock) + 1, self.id]; send the entry to the homes; with W acknowledgements answer ok,
  and stop resending (the third home catches up through read repair).
  get: ask the homes; with R answers take the newest entry; if fewer than W of the answers
  already hold it, write it back until W homes hold it (the write-back); then answer. Resend every
  RETRY_INTERVAL to homes that have not answered; without the quorum STRONG_TIMEOUT after the
  request, answer {"error": "unavailable"}.
Eventual:
  put/delete: store it here if this node is a home, keep a *hint* (a copy owed) for every other
  home, send it to them, and answer at once (W=1). A hint leaves when its owner acknowledges.
  A hint its owner has not acknowledged FAILOVER_AFTER after the write goes to the first
  fallback that acknowledges it (the coordinator then forgets it); the fallback keeps sending it
  to the owner every HANDOFF_INTERVAL until the owner acknowledges.
  get: a home answers from its own copy at once; another node asks the homes and answers with
  the first answer (or {"error": "unavailable"} after EVENTUAL_TIMEOUT).
Read repair: a get (either level) keeps listening until every home answered or its timeout,
  then sends the newest entry to every home that answered with an older one.

Each node holds at most ``capacity`` entries (tombstones and expired entries count); storing a
new key into a full node evicts the least recently used entry (used = read or written here).
A put's ttl makes the value read as absent from ``now() + ttl`` on (the coordinator's clock).
Entries and hints must be in ``self.storage`` (they survive a crash); ``stats`` counters, the
recency order and operations in progress may be volatile.
"""

from __future__ import annotations

from labkit import Node, Request

from .ring import VNODES


def cache_nodes(node_id: str, peers: tuple[str, ...]) -> list[str]:
    """Given: the cache nodes of the cluster, every node whose id starts with "c" (not "lb")."""
    return sorted(n for n in (node_id, *peers) if n.startswith("c"))


class CacheNode(Node):
    # ----- the contract's constants (handout section 4) ------------------------------------------
    N = 3                   # home replicas per key
    R = 2                   # answers a strong read (and a strong write's version query) needs
    W = 2                   # acknowledgements a strong write (and a write-back) needs
    vnodes = VNODES         # virtual nodes per cache node on the ring
    capacity = 1000         # entries per node (graders change it in a subclass)
    STRONG_TIMEOUT = 0.5    # a strong operation answers within this many seconds
    EVENTUAL_TIMEOUT = 0.5  # an eventual read that hears no home fails after this long
    RETRY_INTERVAL = 0.1    # resend to homes that have not answered yet
    HANDOFF_INTERVAL = 0.1  # how often hints are (re)sent
    FAILOVER_AFTER = 0.2    # a hint unacknowledged this long goes to a fallback

    # ----- construction --------------------------------------------------------------------------

    def on_start(self) -> None:
        """At boot and after every restart, on a fresh object: build the ring, load entries and
        hints from ``self.storage``, reset the volatile state; arm the handoff timer if the node
        holds hints (it runs only while there are hints: an idle cluster sends nothing)."""
        # TODO
        raise NotImplementedError("CacheNode.on_start: build the ring of cache_nodes(), load "
                                  "entries and hints from storage, arm the handoff timer if "
                                  "there are hints")

    def peek(self, key: str) -> dict | None:
        """For graders: this node's own copy of ``key`` as {"value": v, "version": [c, id]}
        (value None if deleted or expired), or None if it holds no entry. Not a use (LRU)."""
        # TODO
        raise NotImplementedError("CacheNode.peek: return this replica's entry of the key "
                                  "(value and version) without touching the LRU order")

    # ----- client requests -----------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        """A client request: answer stats at once, start coordinating a put, get or delete."""
        # TODO
        raise NotImplementedError("CacheNode.on_request: validate the body, then coordinate "
                                  "the put/get/delete at its consistency level (or answer "
                                  "stats)")

    def handle_forward(self, src: str, msg: dict) -> None:
        """The load balancer passes on a client request ``msg["body"]`` (Part C). Coordinate
        it like ``on_request``, but answer with ``forward_reply {fid, body}`` to ``src``."""
        # TODO
        raise NotImplementedError("CacheNode.handle_forward: coordinate msg['body'] and answer "
                                  "with a forward_reply message carrying msg['fid']")

    def handle_ping(self, src: str, msg: dict) -> None:
        """The load balancer's health check (Part C): answer ``pong {seq}``."""
        # TODO
        raise NotImplementedError("CacheNode.handle_ping: send pong with the same seq")

    # ----- message handlers: replica side (suggested messages; rename freely) --------------------

    def handle_read(self, src: str, msg: dict) -> None:
        """read {op, key}: answer read_ack {op, key, entry} with this replica's entry or None."""
        # TODO
        raise NotImplementedError("CacheNode.handle_read: answer read_ack with the entry")

    def handle_write(self, src: str, msg: dict) -> None:
        """write {op, key, entry}: keep it if newer; answer write_ack {op, key, version held}."""
        # TODO
        raise NotImplementedError("CacheNode.handle_write: store if newer, then write_ack")

    def handle_repair(self, src: str, msg: dict) -> None:
        """repair {key, entry}: keep it if newer. No answer."""
        # TODO
        raise NotImplementedError("CacheNode.handle_repair: store the entry if it is newer")

    def handle_handoff(self, src: str, msg: dict) -> None:
        """handoff {key, entry}: a hint reaches its owner; keep it if newer, answer
        handoff_ack {key, version}."""
        # TODO
        raise NotImplementedError("CacheNode.handle_handoff: store if newer, then handoff_ack")

    def handle_hint(self, src: str, msg: dict) -> None:
        """hint {owner, key, entry}: hold a copy for a silent owner (this node is a fallback);
        answer hint_ack {owner, key, version}."""
        # TODO
        raise NotImplementedError("CacheNode.handle_hint: keep the hint durably, then hint_ack")

    # ----- message handlers: coordinator side ----------------------------------------------------

    def handle_read_ack(self, src: str, msg: dict) -> None:
        """A home's answer to a read: count each home once; with enough answers move on."""
        # TODO
        raise NotImplementedError("CacheNode.handle_read_ack: record the answer; with R (strong) "
                                  "or 1 (eventual) answers, move to the next phase")

    def handle_write_ack(self, src: str, msg: dict) -> None:
        """A home holds the written version (or a newer one): with W of them, answer."""
        # TODO
        raise NotImplementedError("CacheNode.handle_write_ack: count it; with W, answer")

    def handle_handoff_ack(self, src: str, msg: dict) -> None:
        """The owner holds the hinted version: drop the hint (unless a newer one is held)."""
        # TODO
        raise NotImplementedError("CacheNode.handle_handoff_ack: drop the delivered hint")

    def handle_hint_ack(self, src: str, msg: dict) -> None:
        """A fallback holds the copy now: this coordinator drops its hint."""
        # TODO
        raise NotImplementedError("CacheNode.handle_hint_ack: drop the handed-over hint")

    # ----- timers --------------------------------------------------------------------------------

    def on_timer(self, name: str, data: dict) -> None:
        """Given: a timer named "kind" or "kind:anything" calls ``timer_<kind>(**data)``, so each
        operation can have timers of its own: ``set_timer(f"deadline:{op}", 0.5, op=op)``."""
        kind = name.partition(":")[0]
        handler = getattr(self, f"timer_{kind}", None)
        if handler is None:
            raise NotImplementedError(f"CacheNode.timer_{kind}: a timer {name!r} fired")
        handler(**data)

    def timer_handoff(self) -> None:
        """Every HANDOFF_INTERVAL while there are hints: send each hint to its owner, or (a
        coordinator's hint older than FAILOVER_AFTER) offer it to the key's fallbacks in ring
        order; re-arm while hints remain."""
        # TODO
        raise NotImplementedError("CacheNode.timer_handoff: deliver or fail over every hint, "
                                  "then re-arm the timer if hints remain")

    def timer_retry(self, op: str) -> None:
        """Every RETRY_INTERVAL while an operation waits: resend to homes that did not answer."""
        # TODO
        raise NotImplementedError("CacheNode.timer_retry: resend the current phase's message")

    def timer_deadline(self, op: str) -> None:
        """The operation's time is up: answer {"error": "unavailable"} if it is not answered
        yet, repair what a get heard, and forget the operation."""
        # TODO
        raise NotImplementedError("CacheNode.timer_deadline: refuse the unanswered operation")
