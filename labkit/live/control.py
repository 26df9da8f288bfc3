"""The demo's control API and status page, served next to a running ``Cluster``.

    GET  /                          the status page (refreshes itself every second)
    GET  /api                       this list
    GET  /api/status                nodes, roles, terms, the partition, messages per second
    POST /api/partition             {"groups": [["n1","n2"],["n3"]]}  or  ?groups=n1,n2|n3
    POST /api/isolate/<node>        cut every link to and from the node
    POST /api/cut/<src>/<dst>       one-way cut (?both_ways=1 for both)
    POST /api/connect/<a>/<b>       restore the links between a and b
    POST /api/heal                  restore every link
    POST /api/network               {"loss": 0.2, "min_latency": 0, "max_latency": 0.05, "duplicate": 0}
    POST /api/kill/<node>           SIGKILL the node's process (storage stays on disk)
    POST /api/restart/<node>        a new process over the same storage
    POST /api/pause/<node>          SIGSTOP (frozen: nothing handled until resumed)
    POST /api/resume/<node>         SIGCONT

Process faults run on the event loop's thread (they only send a signal or start a process);
anything that waits on a node or the router runs in a worker thread, so a paused node never
freezes the page.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web

from .cluster import Cluster, LiveError

STATUS_PAGE = Path(__file__).with_name("status.html")
API_DOC = __doc__.split("\n\n")[1]


def parse_groups(text: str) -> list[list[str]]:
    """``"n1,n2|n3"`` -> ``[["n1", "n2"], ["n3"]]``."""
    return [[n.strip() for n in group.split(",") if n.strip()] for group in text.split("|")
            if group.strip()]


async def _body(http: web.Request) -> dict:
    if not http.can_read_body:
        return {}
    try:
        body = await http.json()
    except ValueError:
        raise ValueError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def control_app(cluster: Cluster) -> web.Application:
    tasks: set[asyncio.Task] = set()

    def action(fn: Callable[[web.Request], Awaitable[str]]) -> Callable:
        async def handler(http: web.Request) -> web.Response:
            try:
                did = await fn(http)
            except (ValueError, KeyError) as exc:
                return web.json_response({"ok": False, "error": str(exc).strip("'\"")},
                                         status=400)
            except LiveError as exc:
                return web.json_response({"ok": False, "error": str(exc)}, status=500)
            return web.json_response({"ok": True, "did": did})
        return handler

    def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return asyncio.to_thread(fn, *args, **kwargs)

    async def partition(http: web.Request) -> str:
        body = await _body(http)
        groups = body.get("groups") or parse_groups(http.query.get("groups", ""))
        if not groups or not all(isinstance(g, list) for g in groups):
            raise ValueError('give the groups as {"groups": [["n1","n2"],["n3"]]} or '
                             '?groups=n1,n2|n3')
        await in_thread(cluster.partition, *groups)
        return "partition " + " | ".join(",".join(g) for g in groups)

    async def isolate(http: web.Request) -> str:
        node = http.match_info["node"]
        await in_thread(cluster.isolate, node)
        return f"isolate {node}"

    async def cut(http: web.Request) -> str:
        src, dst = http.match_info["src"], http.match_info["dst"]
        both = http.query.get("both_ways", "") in ("1", "true", "yes")
        await in_thread(cluster.cut, src, dst, both_ways=both)
        return f"cut {src}{'<' if both else ''}->{dst}"

    async def connect(http: web.Request) -> str:
        a, b = http.match_info["a"], http.match_info["b"]
        await in_thread(cluster.connect, a, b)
        return f"connect {a}<->{b}"

    async def heal(http: web.Request) -> str:
        await in_thread(cluster.heal)
        return "heal"

    async def network(http: web.Request) -> str:
        settings = {**{k: float(v) for k, v in http.query.items()}, **await _body(http)}
        await in_thread(cluster.set_network, **settings)
        return "network " + " ".join(f"{k}={v}" for k, v in sorted(settings.items()))

    async def process(http: web.Request) -> str:
        what, node = http.match_info["what"], http.match_info["node"]
        if what == "kill":
            cluster.kill(node)
        elif what == "pause":
            cluster.pause(node)
        elif what == "resume":
            cluster.resume(node)
        else:
            cluster.restart(node, wait=False)
            task = asyncio.create_task(in_thread(cluster.wait_ready, node))
            tasks.add(task)
            task.add_done_callback(_report_restart(node, tasks))
        return f"{what} {node}"

    async def status(http: web.Request) -> web.Response:
        return web.json_response(await in_thread(cluster.snapshot),
                                 dumps=lambda o: json.dumps(o, indent=1))

    async def page(http: web.Request) -> web.Response:
        return web.Response(text=STATUS_PAGE.read_text(), content_type="text/html")

    async def doc(http: web.Request) -> web.Response:
        return web.Response(text=API_DOC + "\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/api", doc)
    app.router.add_get("/api/status", status)
    app.router.add_post("/api/partition", action(partition))
    app.router.add_post("/api/isolate/{node}", action(isolate))
    app.router.add_post("/api/cut/{src}/{dst}", action(cut))
    app.router.add_post("/api/connect/{a}/{b}", action(connect))
    app.router.add_post("/api/heal", action(heal))
    app.router.add_post("/api/network", action(network))
    app.router.add_post(r"/api/{what:kill|restart|pause|resume}/{node}", action(process))
    return app


def _report_restart(node: str, tasks: set) -> Callable[[asyncio.Task], None]:
    def done(task: asyncio.Task) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            print(f"restart {node} failed: {task.exception()}", flush=True)
    return done
