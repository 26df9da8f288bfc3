"""Lab 4, part C: the load balancer in front of the cache nodes (handout section 6).

Clients send their requests (the same bodies as in part B) to the node ``lb``. The balancer
passes each one on to a cache node (every peer whose id starts with "c") and passes the answer
back. It uses your Lab 0 code: one ``CircuitBreaker(FAILURE_THRESHOLD, RESET_TIMEOUT,
clock=self.now)`` per cache node, and ``backoff_delay`` for retries. Nothing sleeps: waiting is
a timer.

* Routing: round-robin over the cache nodes whose breaker ``state == "closed"``.
* Forwarding: send ``forward {fid, body}``; the node answers ``forward_reply {fid, body}``, and
  ``body`` goes back to the client as the reply. A reply is a success for that node's breaker.
  No reply within FORWARD_TIMEOUT is a failure for it.
* Health: every PING_INTERVAL, first record a failure for every ping still unanswered from the
  previous round, then send ``ping {seq}`` to every node whose ``breaker.allow_request()`` is
  True (while open, that lets exactly one trial ping through after RESET_TIMEOUT). A ``pong``
  answering the node's latest ping is a success.
* Retries: when no node is closed, or when a forward timed out and the request is a get or an
  eventual put/delete, try again after ``backoff_delay(attempts_so_far - 1, BACKOFF_BASE,
  BACKOFF_MAX, self.rng)`` seconds; after MAX_ATTEMPTS attempts in all, answer
  ``{"error": "unavailable", ...}``. A strong put or delete whose forward timed out is never
  sent again (it may have taken effect): answer ``{"error": "unknown", ...}``.
"""

from __future__ import annotations

from labkit import Node, Request
from lab0_resilience import CircuitBreaker, backoff_delay  # noqa: F401  (your Lab 0)


class LoadBalancer(Node):
    PING_INTERVAL = 0.1      # seconds between health-check rounds
    FAILURE_THRESHOLD = 3    # consecutive failures that open a node's breaker
    RESET_TIMEOUT = 0.5      # an open breaker lets a trial ping through after this long
    FORWARD_TIMEOUT = 0.8    # a forward without a reply after this long is a failure
    MAX_ATTEMPTS = 3         # attempts per request (forwards sent or rounds with no node)
    BACKOFF_BASE = 0.05      # backoff_delay's base_delay
    BACKOFF_MAX = 0.4        # backoff_delay's max_delay

    # ----- construction --------------------------------------------------------------------------

    def on_start(self) -> None:
        """Find the cache nodes, make one breaker each, arm the ping timer."""
        # TODO
        raise NotImplementedError("LoadBalancer.on_start: one CircuitBreaker per cache node "
                                  "(clock=self.now), then arm the ping timer")

    # ----- client requests -----------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        """Remember the request under a new fid and send it to the next available node."""
        # TODO
        raise NotImplementedError("LoadBalancer.on_request: forward the request round-robin to "
                                  "a node whose breaker is closed (or retry later)")

    # ----- message handlers ----------------------------------------------------------------------

    def handle_forward_reply(self, src: str, msg: dict) -> None:
        """A cache node answered: a success for its breaker; answer the client (once)."""
        # TODO
        raise NotImplementedError("LoadBalancer.handle_forward_reply: record a success and "
                                  "reply to the client with msg['body']")

    def handle_pong(self, src: str, msg: dict) -> None:
        """A health check came back: a success for that node's breaker."""
        # TODO
        raise NotImplementedError("LoadBalancer.handle_pong: record a success if it answers "
                                  "the node's latest ping")

    # ----- timers --------------------------------------------------------------------------------

    def on_timer(self, name: str, data: dict) -> None:
        """Given: a timer named "kind" or "kind:anything" calls ``timer_<kind>(**data)``, so each
        request can have timers of its own: ``set_timer(f"timeout:{fid}", 0.8, fid=fid)``."""
        kind = name.partition(":")[0]
        handler = getattr(self, f"timer_{kind}", None)
        if handler is None:
            raise NotImplementedError(f"LoadBalancer.timer_{kind}: a timer {name!r} fired")
        handler(**data)

    def timer_ping(self) -> None:
        """A health-check round: failures for unanswered pings, new pings, re-arm."""
        # TODO
        raise NotImplementedError("LoadBalancer.timer_ping: count unanswered pings as failures, "
                                  "ping every node the breaker allows, re-arm")

    def timer_timeout(self, fid: int) -> None:
        """A forward got no reply in time: a failure for that node; retry or give up."""
        # TODO
        raise NotImplementedError("LoadBalancer.timer_timeout: record a failure, then retry a "
                                  "get or eventual write after a backoff, or refuse")

    def timer_retry(self, fid: int) -> None:
        """A backoff delay is over: try the request again."""
        # TODO
        raise NotImplementedError("LoadBalancer.timer_retry: dispatch the request again")
