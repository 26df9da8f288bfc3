"""Part C: the load balancer in front of the cache nodes (handout section 6).

Clients talk to the node ``lb``. It passes each request on to one cache node, in round-robin
order over the nodes whose circuit breaker (Lab 0) is closed, and passes the answer back.

* Health: every ``PING_INTERVAL`` the balancer pings each node its breaker lets through; a ping
  still unanswered at the next round is a failure, a pong a success. ``FAILURE_THRESHOLD``
  failures in a row open the breaker: the node gets no more requests. After ``RESET_TIMEOUT``
  the breaker lets one trial ping through (half-open); its pong closes the breaker again.
* Forwarding: ``forward {fid, body}`` -> ``forward_reply {fid, body}``. A forward with no reply
  within ``FORWARD_TIMEOUT`` is a failure of that node.
* Retry with backoff, as timers: when no node is available, or when a forward timed out and the
  request is safe to repeat, the request is tried again after ``backoff_delay(attempt, ...)``,
  at most ``MAX_ATTEMPTS`` attempts in all. A strong put or delete is never repeated once it was
  sent: it may have taken effect, and doing it twice is not the same as doing it once.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit import Node, Request
from lab0_resilience import CircuitBreaker, backoff_delay


@dataclass
class Forwarding:
    """One client request, from its arrival to its answer. ``attempts`` counts the tries made
    (a forward sent, or a round that found no node available)."""

    fid: int
    request: Request
    node: str | None = None       # the node the last forward went to
    attempts: int = 0

    @property
    def repeatable(self) -> bool:
        """Safe to send again after a forward went unanswered: reads and eventual writes."""
        body = self.request.body
        return body.get("op") in ("get", "stats") or body.get("consistency") != "strong"


class LoadBalancer(Node):
    PING_INTERVAL = 0.1
    FAILURE_THRESHOLD = 3
    RESET_TIMEOUT = 0.5
    FORWARD_TIMEOUT = 0.8
    MAX_ATTEMPTS = 3
    BACKOFF_BASE = 0.05
    BACKOFF_MAX = 0.4

    # ----- construction --------------------------------------------------------------------------

    def on_start(self) -> None:
        self.backends = sorted(p for p in self.peers if p.startswith("c"))
        self.breakers = {n: CircuitBreaker(self.FAILURE_THRESHOLD, self.RESET_TIMEOUT,
                                           clock=self.now) for n in self.backends}
        self.next_index = 0                              # round-robin position
        self.pending: dict[int, Forwarding] = {}         # by fid
        self.fid_count = 0
        self.ping_seq = 0
        self.awaiting_pong: dict[str, int] = {}          # node -> seq of the unanswered ping
        self.set_timer("ping", self.PING_INTERVAL)

    # ----- client requests -----------------------------------------------------------------------

    def on_request(self, request: Request) -> None:
        self.fid_count += 1
        f = Forwarding(self.fid_count, request)
        self.pending[f.fid] = f
        self.dispatch(f)

    def dispatch(self, f: Forwarding) -> None:
        """Send ``f`` to the next available node, or schedule a retry, or give up."""
        f.attempts += 1
        node = self.pick()
        if node is not None:
            f.node = node
            self.send(node, {"type": "forward", "fid": f.fid, "body": f.request.body})
            self.set_timer(f"timeout:{f.fid}", self.FORWARD_TIMEOUT, fid=f.fid)
        else:
            self.retry_later(f, "no cache node is available (every circuit breaker is open)")

    def retry_later(self, f: Forwarding, why: str) -> None:
        if f.attempts >= self.MAX_ATTEMPTS:
            self.finish(f, {"error": "unavailable", "detail": f"{why}; gave up after "
                                                              f"{f.attempts} attempts"})
            return
        delay = backoff_delay(f.attempts - 1, self.BACKOFF_BASE, self.BACKOFF_MAX, self.rng)
        self.set_timer(f"retry:{f.fid}", delay, fid=f.fid)

    def pick(self) -> str | None:
        """The next node in round-robin order whose breaker is closed, or None."""
        count = len(self.backends)
        for step in range(count):
            node = self.backends[(self.next_index + step) % count]
            if self.breakers[node].state == "closed":
                self.next_index = (self.next_index + step + 1) % count
                return node
        return None

    def finish(self, f: Forwarding, body: dict) -> None:
        self.pending.pop(f.fid, None)
        self.cancel_timer(f"timeout:{f.fid}")
        self.cancel_timer(f"retry:{f.fid}")
        self.reply(f.request, body)

    # ----- message handlers ----------------------------------------------------------------------

    def handle_forward_reply(self, src: str, msg: dict) -> None:
        self.breakers[src].record_success()
        f = self.pending.get(msg["fid"])
        if f is not None:
            self.finish(f, msg["body"])

    def handle_pong(self, src: str, msg: dict) -> None:
        if self.awaiting_pong.get(src) == msg.get("seq"):
            del self.awaiting_pong[src]
            self.breakers[src].record_success()

    # ----- timers --------------------------------------------------------------------------------

    def on_timer(self, name: str, data: dict) -> None:
        """A timer named "kind" or "kind:anything" calls ``timer_<kind>(**data)``: each request
        has timers of its own (``timeout:<fid>``, ``retry:<fid>``)."""
        kind = name.partition(":")[0]
        getattr(self, f"timer_{kind}")(**data)

    def timer_ping(self) -> None:
        """A ping still unanswered is a failure; then ping every node the breaker lets through."""
        for node in self.backends:
            breaker = self.breakers[node]
            if self.awaiting_pong.pop(node, None) is not None:
                breaker.record_failure()
            if breaker.allow_request():
                self.ping_seq += 1
                self.awaiting_pong[node] = self.ping_seq
                self.send(node, {"type": "ping", "seq": self.ping_seq})
        self.set_timer("ping", self.PING_INTERVAL)

    def timer_retry(self, fid: int) -> None:
        f = self.pending.get(fid)
        if f is not None:
            self.dispatch(f)

    def timer_timeout(self, fid: int) -> None:
        f = self.pending.get(fid)
        if f is None:
            return
        self.breakers[f.node].record_failure()
        why = f"{f.node} did not answer within {self.FORWARD_TIMEOUT:g} s"
        if f.repeatable:
            self.retry_later(f, why)
        else:
            self.finish(f, {"error": "unknown", "detail": f"{why}; a strong write is not "
                                                          f"repeated: it may have taken effect"})
