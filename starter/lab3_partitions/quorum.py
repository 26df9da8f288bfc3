"""Lab 3, part B: a partition-tolerant replicated register store (handout section 4).

Five nodes, n1..n5. Every node is a replica of every key and can coordinate client requests.
A replica holds, per key, a value and its version ``[counter, node_id]``. Versions compare as
pairs: first the counter, then the node id (``[2, "n1"] < [2, "n3"] < [3, "n1"]``). A key that
was never written has value None and version ``NO_VERSION``.

Client requests (``request.body``) and the replies they need (``self.reply(request, {...})``):

* ``{"op": "write", "key": k, "value": v}``: (1) query a majority for their versions of k;
  (2) pick ``[highest counter + 1, self.id]``, never one this node issued before; (3) store
  (version, value) at a majority; only then reply ``{"version": [counter, node_id]}``.
* ``{"op": "read", "key": k, "mode": "quorum"}`` (``mode`` may be left out): query a majority,
  take the newest (version, value); unless the whole majority already had that version, store
  it at a majority first (the write-back); then reply ``{"value": v, "version": [c, id]}``.
* ``{"op": "read", "key": k, "mode": "local"}``: reply ``{"value": v, "version": [c, id]}``
  from this node's replica at once (in this handler), even without a majority.

A majority is 3 of the 5 nodes and the coordinator's own replica counts (no message needed).
A quorum request that has no majority ``QUORUM_TIMEOUT`` seconds after it arrived is answered
``{"error": "no_quorum"}``. A replica that missed writes catches up: quorum reads repair it,
and every ``ANTI_ENTROPY_INTERVAL`` each node sends its replicas to its peers.

Durability: before a replica acknowledges a store, the (version, value) it keeps must be in
``self.storage``; so must, for each key, the highest counter this node has put in a version of
it (or two writes, before and after a crash, could get the same version). After a crash,
``on_start`` runs on a fresh object: read them back from ``self.storage`` there.
"""

from __future__ import annotations

from labkit import Node, Request

QUORUM_TIMEOUT = 0.5          # seconds from a request to {"error": "no_quorum"}
RETRY_INTERVAL = 0.05         # resend a phase's message to replicas that have not answered
ANTI_ENTROPY_INTERVAL = 0.25  # every node sends its replicas to every peer this often
NO_VERSION = (0, "")          # the version of a key that was never written


class QuorumNode(Node):
    """One replica and coordinator of the store. See the module docstring and the handout."""

    # ----- construction ------------------------------------------------------------------------

    def on_start(self) -> None:
        """At boot and after every restart (on a fresh object).

        Load this node's replicas and its highest issued counters from ``self.storage``, set up
        the table of quorum operations it coordinates, and arm the anti-entropy timer."""
        # TODO
        raise NotImplementedError("QuorumNode.on_start: load the replicas and the counters from "
                                  "storage, and arm the anti-entropy timer")

    # ----- client requests ---------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        """A client request: answer a local read at once; start a quorum write or read."""
        # TODO
        raise NotImplementedError("QuorumNode.on_request: answer local reads at once, start "
                                  "quorum writes and reads")

    # ----- message handlers (one per message type; these are the suggested ones) ---------------

    def handle_query(self, src: str, msg: dict) -> None:
        """A coordinator asks for this replica's version and value of ``msg["key"]``."""
        # TODO
        raise NotImplementedError("QuorumNode.handle_query: answer with this replica's version "
                                  "and value of the key")

    def handle_query_reply(self, src: str, msg: dict) -> None:
        """A replica's answer to one of this node's queries. Count each replica once; with a
        majority, go on to the store phase (or, for a read, maybe answer straight away)."""
        # TODO
        raise NotImplementedError("QuorumNode.handle_query_reply: count the answer; with a "
                                  "majority, move on")

    def handle_store(self, src: str, msg: dict) -> None:
        """A coordinator asks this replica to keep (version, value) if it is newer than what it
        holds. Save it to storage first, then acknowledge (also when it was not newer)."""
        # TODO
        raise NotImplementedError("QuorumNode.handle_store: keep the newer version (in "
                                  "storage), then acknowledge")

    def handle_store_ack(self, src: str, msg: dict) -> None:
        """A replica stored what this node asked. With a majority, answer the client."""
        # TODO
        raise NotImplementedError("QuorumNode.handle_store_ack: count the ack; with a majority, "
                                  "reply to the client")

    def handle_sync(self, src: str, msg: dict) -> None:
        """Anti-entropy: a peer's replicas; keep every entry that is newer than yours."""
        # TODO
        raise NotImplementedError("QuorumNode.handle_sync: keep every entry that is newer")

    # ----- timers ------------------------------------------------------------------------------

    def on_timer(self, name: str, data: dict) -> None:
        """Given: a timer named "kind" or "kind:anything" calls ``timer_<kind>(**data)``, so each
        quorum operation can have a timer of its own: ``set_timer(f"op:{op_id}", RETRY_INTERVAL,
        op=op_id)`` calls ``timer_op(op=op_id)`` when it fires."""
        kind = name.partition(":")[0]
        handler = getattr(self, f"timer_{kind}", None)
        if handler is None:
            raise NotImplementedError(f"QuorumNode.timer_{kind}: a timer {name!r} fired")
        handler(**data)

    def timer_anti_entropy(self) -> None:
        """Every ANTI_ENTROPY_INTERVAL: send your replicas (key, version, value) to every peer,
        then re-arm the timer."""
        # TODO
        raise NotImplementedError("QuorumNode.timer_anti_entropy: send your replicas to every "
                                  "peer and re-arm the timer")

    def timer_op(self, op: str) -> None:
        """The timer of quorum operation ``op``: every RETRY_INTERVAL, resend the current phase's
        message to the replicas that have not answered (a lost message must not make the
        request fail); once QUORUM_TIMEOUT has passed, reply {"error": "no_quorum"} instead."""
        # TODO
        raise NotImplementedError("QuorumNode.timer_op: resend to the replicas that have not "
                                  "answered, or give up with no_quorum at the deadline")
