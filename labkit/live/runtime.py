"""A live node: one student ``Node`` in its own OS process, on real time and real sockets.

    python -m labkit.live.runtime --spec <package> --impl reference --node n1 --nodes n1,n2,n3 \\
        --port 5001 --router-port 41234 --data-dir .live --epoch 12345.6 --incarnation 1

The node object sees exactly the interface the simulator gives it (``now``, ``send``,
``reply``, ``set_timer``, ``cancel_timer``, ``log``, ``apply``, ``storage``); here:

* time is ``time.monotonic()`` minus the cluster's start (``--epoch``), the same in every node;
* messages go to the router over one websocket (``router.py``), which forwards, drops or delays
  them; a message sent while the router is unreachable is lost, as the contract allows;
* timers are event-loop timers; storage is a ``FileStorage`` synced after every handler, before
  any message or reply produced by that handler leaves the process;
* client requests arrive over HTTP on ``--port`` through the lab's route table (``labs.py``).

Rules of this process: every handler runs on the event loop thread, one at a time, and never
awaits. A handler that raises does not kill the process: the error (with the student's file
and line) is kept and served on ``/_live/status``, and the HTTP request it was handling gets a
``500`` carrying the same text, so a test fails with the student's error, not a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, WSMsgType, web

from .. import contract
from ..node import SNAPSHOT_KEY, Node, Request
from ..blame import student_error
from ..storage import to_json
from .labs import BadRequest, LiveLab, Route, load_spec
from .lifetime import run_until_stopped
from .storage import FileStorage, write_atomically

MAX_ERRORS = 20        # first errors kept in full (later ones are only counted)
MAX_APPLIED = 100_000  # applied commands kept for /_live/applied


class _Runtime:
    """What the ``Node`` calls: the same narrow boundary as the simulator's ``_Runtime``."""

    __slots__ = ("_p", "send", "reply", "set_timer", "cancel_timer", "apply", "log")

    def __init__(self, process: "NodeProcess"):
        self._p = process
        self.send = process.send
        self.reply = process.reply
        self.set_timer = process.set_timer
        self.cancel_timer = process.cancel_timer
        self.apply = process.apply
        self.log = process.log

    @property
    def now(self) -> float:
        return time.monotonic() - self._p.epoch


class NodeProcess:
    """The node object plus everything around it: router link, timers, HTTP, status."""

    def __init__(self, spec: LiveLab, cls: type[Node], args: argparse.Namespace):
        self.spec = spec
        self.cls = cls
        self.id: str = args.node
        self.nodes: tuple[str, ...] = tuple(args.nodes.split(","))
        self.peers = tuple(n for n in self.nodes if n != self.id)
        self.port: int = args.port
        self.router_port: int = args.router_port
        self.epoch: float = args.epoch
        self.incarnation: int = args.incarnation
        self.seed: int = args.seed
        self.data_dir = Path(args.data_dir)
        self.storage = FileStorage(self.id, self.data_dir / f"{self.id}.json")
        self.node: Node | None = None
        self.errors: list[dict] = []
        self.error_count = 0
        self.logs: collections.deque[str] = collections.deque(maxlen=200)
        self.applied: list[tuple[int, Any]] = []
        self.machine: list[Any] = []   # the state machine: commands applied (or restored) so far
        self.snapshot_every: int = getattr(args, "snapshot_every", 0)
        self.sent = self.received = self.lost = self.requests = 0
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._pending: dict[int, asyncio.Future] = {}
        self._replied: set[int] = set()
        self._requests: dict[int, dict] = {}   # id -> body of every request handed over
        self._issued = 0
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._connected = asyncio.Event()
        self._ws_open = False
        self._rt = _Runtime(self)

    @property
    def now(self) -> float:
        return time.monotonic() - self.epoch

    # ----- actions the node asks for --------------------------------------------------------------

    def send(self, src: str, dst: str, msg: dict) -> None:
        data = contract.send(src, dst, msg, self.nodes)  # itself included, as in the simulator
        self.sent += 1
        if not self._ws_open:
            self.lost += 1  # no router: the network lost it
            return
        self._outbox.put_nowait(f'{{"dst":{json.dumps(dst)},"msg":{data}}}')

    def reply(self, src: str, request: Request, body: dict) -> None:
        data = contract.reply(src, request, body, self._requests, self._replied)
        rid = request.id
        self._replied.add(rid)
        future = self._pending.pop(rid, None)
        if future is not None and not future.done():  # else: the client gave up (late reply)
            future.set_result(json.loads(data))

    def set_timer(self, src: str, name: str, delay: float, data: dict) -> None:
        payload = contract.timer(src, name, delay, data)
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(delay, self._fire, name, payload)

    def cancel_timer(self, src: str, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def apply(self, src: str, index: int, command: Any) -> None:
        data = contract.apply(src, index, command)
        value = json.loads(data)
        if len(self.applied) < MAX_APPLIED:
            self.applied.append((index, value))
        self.log(src, f"apply {index} {data}")
        if type(value) is dict and len(value) == 1 and SNAPSHOT_KEY in value:  # a restore
            restored = value[SNAPSHOT_KEY]
            self.machine = list(restored.get("applied", [])) if type(restored) is dict else []
            return
        self.machine.append(value)
        if self.snapshot_every and index % self.snapshot_every == 0:
            asyncio.get_running_loop().call_soon(self._ask_snapshot, index)

    def _ask_snapshot(self, index: int) -> None:
        """The state machine asks the node to compact up to ``index`` (``--snapshot-every``):
        ``node.snapshot(index, {"index": index, "applied": [commands 1..index]})``, after the
        handler that applied ``index`` returned, as in the simulator."""
        node = self.node
        if node is None or not callable(getattr(node, "snapshot", None)):
            return
        data = {"index": index, "applied": self.machine[:index]}
        self.log(self.id, f"state machine: snapshot({index}, ...)")
        error = self.invoke(f"snapshot({index}, data)", node.snapshot, index, data)
        if error is not None:
            self.snapshot_every = 0   # reported once (GET /_live/status); asked no more

    def log(self, src: str, text: str) -> None:
        line = f"{self.now:10.3f} {src} {text}"
        self.logs.append(line)
        print(line, flush=True)

    # ----- events in ------------------------------------------------------------------------------

    def invoke(self, what: Any, fn: Any, *args: Any) -> dict | None:
        """Run one handler; sync storage; on an exception keep it and return its record."""
        try:
            fn(*args)
            return None
        except Exception as exc:  # student code: contain it, remember where it came from
            return self._record(student_error(exc, self.id, what, self.now), exc)
        finally:
            self.storage.sync()

    def _record(self, err: Exception, cause: BaseException) -> dict:
        record = {"time": round(self.now, 3), "text": str(err),
                  "not_implemented": isinstance(cause, NotImplementedError),
                  "kind": type(cause).__name__, "message": str(cause)}
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(record)
        print(f"ERROR {record['text']}", file=sys.stderr, flush=True)
        return record

    def boot(self) -> None:
        try:
            self.node = self.cls(self.id, self.peers, self._rt, self.storage,
                                 random.Random(f"{self.seed}/{self.id}/{self.incarnation}"))
        except Exception as exc:
            self._record(student_error(exc, self.id, "construction", self.now), exc)
            return
        self.log(self.id, f"start (incarnation {self.incarnation})")
        self.invoke("on_start", self.node.on_start)

    def _fire(self, name: str, payload: str | None) -> None:
        self._timers.pop(name, None)
        if self.node is not None:
            data = {} if payload is None else json.loads(payload)
            self.invoke(("timer", name), self.node.on_timer, name, data)

    def _deliver(self, text: str) -> None:
        envelope = json.loads(text)
        src, msg = envelope["src"], envelope["msg"]
        self.received += 1
        if self.node is not None:
            self.invoke(("message", src, json.dumps(msg)), self.node.on_message, src, msg)

    async def handle(self, route: Route, http: web.Request) -> web.Response:
        try:
            body = route.build(http.match_info, http.query)
        except BadRequest as exc:
            return self._json({"error": "bad_request", "detail": str(exc)}, 400)
        if self.node is None:  # its construction raised: answer with that error
            return self._failure(self.errors[0] if self.errors else {
                "text": "the node is not running", "not_implemented": False, "message": ""})
        self.requests += 1
        self._issued += 1
        rid = self._issued
        future = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        request = Request(rid, f"http:{http.remote}", json.loads(to_json(body, "the request")))
        self._requests[rid] = request.body
        failure = self.invoke(("request", body), self.node.on_request, request)
        if failure is not None:
            self._pending.pop(rid, None)
            return self._failure(failure)
        try:
            reply = await asyncio.wait_for(future, self.spec.client_timeout)
        except asyncio.TimeoutError:
            self._pending.pop(rid, None)
            return self._json({"error": "timeout", "detail": (
                f"{self.id} did not reply within {self.spec.client_timeout:g} s; the operation "
                f"may or may not have taken effect")}, 504)
        return self._json(reply, 503 if "error" in reply else 200)

    def _failure(self, record: dict) -> web.Response:
        return self._json({"error": "node_error", "detail": record["text"],
                           "not_implemented": record["not_implemented"],
                           "message": record["message"]}, 500)

    def _json(self, body: dict, status: int = 200) -> web.Response:
        return web.json_response({"node": self.id, **body} if "node" not in body else body,
                                 status=status, dumps=lambda o: json.dumps(o) + "\n")

    # ----- status ---------------------------------------------------------------------------------

    def status(self) -> dict:
        described: dict = {}
        if self.node is not None:
            try:
                described = self.spec.describe(self.node)
            except Exception as exc:  # a half-built node object: show what is wrong, not crash
                described = {"describe_error": f"{type(exc).__name__}: {exc}"}
        return {"node": self.id, "pid": os.getpid(), "port": self.port,
                "incarnation": self.incarnation, "now": round(self.now, 3),
                "running": self.node is not None, "router": self._ws_open, "view": described,
                "sent": self.sent, "received": self.received, "lost": self.lost,
                "requests": self.requests, "applied": len(self.applied),
                "last_applied": self.applied[-1][0] if self.applied else None,
                "timers": sorted(self._timers), "storage_keys": sorted(self.storage.keys()),
                "storage_syncs": self.storage.syncs,
                "errors": self.errors, "error_count": self.error_count,
                "log": list(self.logs)[-20:]}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._not_found])
        for route in self.spec.routes:
            async def handler(http: web.Request, route: Route = route) -> web.Response:
                return await self.handle(route, http)
            app.router.add_get(route.path, handler)
            app.router.add_post(route.path, handler)
        app.router.add_get("/", self._index)
        app.router.add_get("/_live/status", self._status)
        app.router.add_get("/_live/applied", self._applied)
        app.router.add_get("/_live/storage", self._storage)
        return app

    async def _status(self, http: web.Request) -> web.Response:
        return self._json(self.status())

    async def _storage(self, http: web.Request) -> web.Response:
        return self._json({"node": self.id, "storage": self.storage.snapshot()})

    async def _index(self, http: web.Request) -> web.Response:
        return self._json(self._routes_doc())

    def _routes_doc(self) -> dict:
        return {"lab": self.spec.package, "routes": {r.path: r.doc for r in self.spec.routes},
                "examples": [f"http://localhost:{self.port}{r.example}" for r in self.spec.routes],
                "status": f"http://localhost:{self.port}/_live/status"}

    async def _applied(self, http: web.Request) -> web.Response:
        since = int(http.query.get("since", "0") or 0)
        return self._json({"applied": [[i, c] for i, c in self.applied[since:]],
                           "total": len(self.applied)})

    @web.middleware
    async def _not_found(self, http: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(http)
        except web.HTTPNotFound:
            return self._json({"error": "no_such_route", "path": http.path,
                               **self._routes_doc()}, 404)
        except web.HTTPMethodNotAllowed:
            return self._json({"error": "method_not_allowed", "detail": "use GET or POST"}, 405)

    # ----- the router link ------------------------------------------------------------------------

    async def router_link(self) -> None:
        """Stay connected to the router: reconnect after any drop; incoming messages are
        handed to the node; outgoing ones leave in order from one writer task."""
        url = f"http://127.0.0.1:{self.router_port}/node/{self.id}"
        async with ClientSession() as session:
            while True:
                try:
                    async with session.ws_connect(url, max_msg_size=0, autoping=True) as ws:
                        self._ws_open = True
                        self._connected.set()
                        writer = asyncio.create_task(self._write(ws))
                        try:
                            async for frame in ws:
                                if frame.type == WSMsgType.TEXT:
                                    self._deliver(frame.data)
                                elif frame.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                                    break
                        finally:
                            writer.cancel()
                except (ClientError, OSError, asyncio.TimeoutError):
                    pass
                finally:
                    self._ws_open = False
                    while not self._outbox.empty():  # queued for a link that is gone: lost
                        self._outbox.get_nowait()
                        self.lost += 1
                await asyncio.sleep(0.2)

    async def _write(self, ws: Any) -> None:
        while True:
            text = await self._outbox.get()
            await ws.send_str(text)


async def _router_port(ready: Path, timeout: float = 60.0) -> int:
    """The router's port from its ready file, once it is there (0 if it never is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return int(json.loads(ready.read_text())["port"])
        except (OSError, ValueError, KeyError, TypeError):
            await asyncio.sleep(0.02)
    return 0


def _port_error(port: int, exc: OSError) -> str:
    return (f"cannot listen on port {port}: {exc.strerror or exc}. Another program (or an "
            f"earlier cluster) uses it: stop it, or move the cluster with --port-base")


def _load_class(spec: LiveLab, impl: str | None, node: str) -> type[Node]:
    if impl:
        sys.path.insert(0, impl)
    import importlib
    module = importlib.import_module(spec.package)
    name = spec.class_for(node)
    cls = getattr(module, name, None)
    if not isinstance(cls, type) or not issubclass(cls, Node):
        raise RuntimeError(f"{spec.package} has no Node class {name}")
    return cls


async def serve(args: argparse.Namespace) -> int:
    ready = Path(args.ready_file)
    parent = os.getppid()

    def report(**fields: Any) -> None:
        write_atomically(ready, json.dumps({"pid": os.getpid(), "incarnation": args.incarnation,
                                            **fields}))

    try:
        spec = load_spec(args.spec)
        cls = _load_class(spec, args.impl, args.node)
    except Exception as exc:
        report(error=f"cannot load the node class: {type(exc).__name__}: {exc}",
               traceback=traceback.format_exc())
        return 2
    process = NodeProcess(spec, cls, args)
    runner = web.AppRunner(process.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", args.port, reuse_address=True).start()
    except OSError as exc:
        report(error=_port_error(args.port, exc))
        await runner.cleanup()
        return 3
    process.port = args.port = runner.addresses[0][1]  # the real one when --port 0
    if not process.router_port:  # started together with the router: learn its port
        process.router_port = await _router_port(Path(args.router_ready_file))
        if not process.router_port:
            report(error=f"{args.node}: the router did not start")
            return 4
    link = asyncio.create_task(process.router_link())
    try:
        await asyncio.wait_for(process._connected.wait(), 15)
    except asyncio.TimeoutError:
        report(error=f"{args.node} could not reach the router on port {args.router_port}")
        return 4
    process.boot()
    report(port=args.port, error=None)

    await run_until_stopped(parent)
    link.cancel()
    await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="lab package, or module:NAME of a LiveLab")
    parser.add_argument("--impl", default="", help="folder to import the lab package from")
    parser.add_argument("--node", required=True)
    parser.add_argument("--nodes", required=True, help="every node id, comma-separated")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--router-port", type=int, default=0,
                        help="0: read it from --router-ready-file once the router is up")
    parser.add_argument("--router-ready-file", default="")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--epoch", type=float, default=time.monotonic())
    parser.add_argument("--incarnation", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--snapshot-every", type=int, default=0,
                        help="the state machine asks for a snapshot after every N-th index")
    parser.add_argument("--tag", default="", help="ignored; marks the process for cleanup checks")
    args = parser.parse_args(argv)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
