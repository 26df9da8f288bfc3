"""A tiny node for labkit's own tests of the live runtime (and a minimal example of a spec).

``Pinger`` answers ``/ping/<peer>`` by sending that peer a ``ping`` and replying when the
``pong`` comes back (so it fails when the router cuts the link), keeps a durable counter
(``/incr``), and has routes that misbehave on purpose: ``/todo`` raises NotImplementedError,
``/boom`` raises ZeroDivisionError, ``/silent`` never replies.
"""

from __future__ import annotations

from ..node import Node, Request
from .labs import LiveLab, Route


class Pinger(Node):
    def on_start(self) -> None:
        self.role = "pinger"
        self.term = self.storage.get("boots", 0) + 1
        self.storage.put("boots", self.term)
        self.waiting: dict[str, list[Request]] = {}
        self.set_timer("tick", 0.05)

    def on_request(self, request: Request) -> None:
        op = request.body["op"]
        if op == "ping":
            peer = request.body["peer"]
            self.waiting.setdefault(peer, []).append(request)
            self.send(peer, {"type": "ping"})
        elif op == "incr":
            count = self.storage.get("count", 0) + 1
            self.storage.put("count", count)
            self.reply(request, {"count": count})
        elif op == "get":
            self.reply(request, {"count": self.storage.get("count", 0), "boots": self.term})
        elif op == "todo":
            raise NotImplementedError("Pinger.todo: nothing here yet")
        elif op == "boom":
            self.reply(request, {"ratio": 1 / 0})
        elif op == "apply":
            self.apply(int(request.body["index"]), request.body["command"])
            self.reply(request, {})
        # "silent": never reply

    def handle_ping(self, src: str, msg: dict) -> None:
        self.send(src, {"type": "pong"})

    def handle_pong(self, src: str, msg: dict) -> None:
        for request in self.waiting.pop(src, []):
            self.reply(request, {"pong": src})

    def timer_tick(self) -> None:
        self.log("tick")
        self.set_timer("tick", 0.5)


def _op(op: str, **fields: str):
    return lambda p, q: {"op": op, **{k: p[v] for k, v in fields.items()}}


TOY = LiveLab(
    package="labkit.live.toy",
    node_class="Pinger",
    routes=(
        Route("/ping/{peer}", _op("ping", peer="peer"), "ping a peer through the router",
              "/ping/n2"),
        Route("/incr", _op("incr"), "increment the durable counter", "/incr"),
        Route("/count", _op("get"), "read the counter", "/count"),
        Route("/todo", _op("todo"), "raises NotImplementedError", "/todo"),
        Route("/boom", _op("boom"), "raises ZeroDivisionError", "/boom"),
        Route("/silent", _op("silent"), "never replies", "/silent"),
        Route("/apply/{index}/{command}", _op("apply", index="index", command="command"),
              "apply a command", "/apply/1/x"),
    ),
    client_timeout=2.0,
)
