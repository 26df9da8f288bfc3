"""The router: every message between live nodes passes through this one process.

Because nodes never talk to each other directly, faults need no privileges (no iptables, no
network namespaces): the router decides, message by message, what the simulator's network
would decide. Its rules are the simulator's:

* a message is dropped if its link is cut when it is sent or when it would be delivered, or if
  the destination is not connected (down, or restarting);
* the network model is the simulator's (``labkit.network``), with the same names:
  ``loss`` drops, ``duplicate`` delivers a second copy, ``min_latency``/``max_latency`` hold
  each copy for a uniform random time (so messages can overtake each other), ``long_delay``
  holds a message an extra ``uniform(0, long_delay_max)``; live mode starts with no latency;
* ``partition`` replaces every earlier cut; nodes not named form one more group.

A paused (SIGSTOPped) node is not the router's business: its messages wait in the socket
buffers, as they would for a frozen machine, and arrive when it resumes (a destination that
falls ``MAX_QUEUE`` messages behind loses the newest ones).

Nodes connect to ``/node/<id>`` (a websocket carrying ``{"dst", "msg"}`` out and
``{"src", "msg"}`` in). The control API is JSON over HTTP, used by ``cluster.py``:

    GET  /control/state                       links, partition, network, counters, rates
    POST /control/partition  {"groups": [["n1","n2"],["n3"]]}
    POST /control/isolate    {"node": "n3"}
    POST /control/cut        {"src": "n1", "dst": "n2", "both_ways": false}
    POST /control/connect    {"a": "n1", "b": "n2"}
    POST /control/heal
    POST /control/network    {"loss": 0.1, "duplicate": 0, "min_latency": 0, "max_latency": 0.05}
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from ..network import Links, NetworkConfig
from .lifetime import run_until_stopped
from .storage import write_atomically

MAX_QUEUE = 10_000
RATE_WINDOW = 5  # seconds over which messages per second are averaged


class Router:
    def __init__(self, nodes: tuple[str, ...], seed: int = 0):
        self.nodes = nodes
        self.topology = Links(nodes)
        self.blocked = self.topology.cut   # the same set: the (src, dst) links that are cut
        self.description = "all connected"
        self.config = NetworkConfig(min_latency=0.0, max_latency=0.0)
        self.rng = random.Random(f"{seed}/router")
        self.links: dict[str, asyncio.Queue[str]] = {}
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.counts = collections.Counter()        # sent, delivered, dropped:<reason>
        self.by_type = collections.Counter()
        self._buckets: collections.deque[list] = collections.deque()  # [second, delivered]
        self.started = time.monotonic()

    # ----- faults ---------------------------------------------------------------------------------

    @property
    def network(self) -> dict:
        """The network settings, by the names of ``labkit.network.NetworkConfig``."""
        return dataclasses.asdict(self.config)

    def partition(self, groups: list[list[str]]) -> None:
        named = [n for g in groups for n in g]
        self._check(*named)
        if len(set(named)) != len(named):
            raise ValueError(f"a node is in two groups: {groups}")
        sets = self.topology.partition([g for g in groups if g])
        self.description = "partition " + " | ".join(",".join(g) for g in sets)

    def isolate(self, node: str) -> None:
        self._check(node)
        self.topology.isolate(node)
        self.description = f"isolate {node}"

    def cut(self, src: str, dst: str, both_ways: bool = False) -> None:
        self._check(src, dst)
        self.topology.cut_link(src, dst, both_ways)
        self.description = f"cut {src}{'<' if both_ways else ''}->{dst}"

    def connect(self, a: str, b: str) -> None:
        self._check(a, b)
        self.topology.connect(a, b)
        self.description = f"connect {a}<->{b}"

    def heal(self) -> None:
        self.topology.heal()
        self.description = "healed: all connected"

    def set_network(self, **changes: float) -> None:
        known = NetworkConfig.settings()
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown network settings {unknown}; known: {', '.join(known)}")
        new = {k: float(v) for k, v in changes.items()}
        if new.get("min_latency", 0.0) > self.config.max_latency and "max_latency" not in new:
            new["max_latency"] = new["min_latency"]   # raising the floor lifts the ceiling
        self.config = dataclasses.replace(self.config, **new)  # ValueError when out of range

    def _check(self, *nodes: str) -> None:
        for n in nodes:
            if n not in self.nodes:
                raise ValueError(f"no node {n!r}; nodes are {', '.join(self.nodes)}")

    # ----- forwarding -----------------------------------------------------------------------------

    def route(self, src: str, text: str) -> None:
        """A node sent ``{"dst", "msg"}``: drop, delay or forward it."""
        envelope = json.loads(text)
        dst, msg = envelope.get("dst"), envelope.get("msg")
        self.counts["sent"] += 1
        kind = msg.get("type") if isinstance(msg, dict) else None
        self.by_type[kind if isinstance(kind, str) else "?"] += 1
        if dst not in self.nodes:
            return self._drop("unknown destination")
        if (src, dst) in self.blocked:
            return self._drop("link cut")
        delays = self.config.delays(self.rng)
        if not delays:
            return self._drop("lost")
        out = json.dumps({"src": src, "msg": msg})
        loop = asyncio.get_running_loop()
        for delay in delays:
            if delay:
                loop.call_later(delay, self._deliver, src, dst, out)
            else:
                self._deliver(src, dst, out)

    def _deliver(self, src: str, dst: str, out: str) -> None:
        if (src, dst) in self.blocked:
            return self._drop("link cut")
        queue = self.links.get(dst)
        if queue is None:
            return self._drop("destination down")
        if queue.qsize() >= MAX_QUEUE:
            return self._drop("destination not reading")
        queue.put_nowait(out)
        self.counts["delivered"] += 1
        second = int(time.monotonic())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])
            while self._buckets and self._buckets[0][0] < second - RATE_WINDOW - 1:
                self._buckets.popleft()

    def _drop(self, reason: str) -> None:
        self.counts["dropped"] += 1
        self.counts[f"dropped: {reason}"] += 1

    def rate(self) -> float:
        """Messages delivered per second, averaged over the last full ``RATE_WINDOW`` seconds."""
        now = int(time.monotonic())
        window = min(RATE_WINDOW, max(1, now - int(self.started)))
        total = sum(n for s, n in self._buckets if now - window <= s < now)
        return total / window

    def state(self) -> dict:
        return {"nodes": {n: n in self.links for n in self.nodes},
                "description": self.description, "groups": self.groups(),
                "blocked": sorted([a, b] for a, b in self.blocked),
                "network": self.network, "rate": round(self.rate(), 1),
                "counts": dict(self.counts), "by_type": dict(self.by_type.most_common(12))}

    def groups(self) -> list[list[str]] | None:
        """The partition as groups, or None when the cuts are not a partition (one-way)."""
        return self.topology.groups()

    # ----- HTTP -----------------------------------------------------------------------------------

    async def node_socket(self, http: web.Request) -> web.WebSocketResponse:
        node = http.match_info["node"]
        if node not in self.nodes:
            raise web.HTTPNotFound(text=f"no node {node}")
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(http)
        old = self.sockets.pop(node, None)
        if old is not None:  # a restarted node replaces its previous connection
            await old.close()
        queue: asyncio.Queue[str] = asyncio.Queue()
        self.links[node], self.sockets[node] = queue, ws
        writer = asyncio.create_task(self._write(ws, queue))
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self.route(node, frame.data)
        finally:
            writer.cancel()
            if self.links.get(node) is queue:
                del self.links[node]
                del self.sockets[node]
        return ws

    async def _write(self, ws: web.WebSocketResponse, queue: asyncio.Queue[str]) -> None:
        while True:
            text = await queue.get()
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _state(self, http: web.Request) -> web.Response:
        return web.json_response(self.state())

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/node/{node}", self.node_socket)
        app.router.add_get("/control/state", self._state)

        def control(fn: Any) -> Any:
            async def handler(http: web.Request) -> web.Response:
                try:
                    body = await http.json() if http.can_read_body else {}
                    fn(body)
                except (ValueError, KeyError, TypeError) as exc:
                    return web.json_response({"error": str(exc)}, status=400)
                return web.json_response(self.state())
            return handler

        app.router.add_post("/control/partition", control(lambda b: self.partition(b["groups"])))
        app.router.add_post("/control/isolate", control(lambda b: self.isolate(b["node"])))
        app.router.add_post("/control/cut", control(
            lambda b: self.cut(b["src"], b["dst"], bool(b.get("both_ways")))))
        app.router.add_post("/control/connect", control(lambda b: self.connect(b["a"], b["b"])))
        app.router.add_post("/control/heal", control(lambda b: self.heal()))
        app.router.add_post("/control/network", control(lambda b: self.set_network(**b)))
        return app


async def serve(args: argparse.Namespace) -> int:
    router = Router(tuple(args.nodes.split(",")), seed=args.seed)
    runner = web.AppRunner(router.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1]
    parent = os.getppid()
    write_atomically(Path(args.ready_file), json.dumps({"pid": os.getpid(), "port": port,
                                                        "error": None}))
    await run_until_stopped(parent)
    await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", required=True, help="every node id, comma-separated")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="", help="ignored; marks the process for cleanup checks")
    return asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
