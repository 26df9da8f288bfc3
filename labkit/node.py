"""The node API: what student code sees, and the only way it touches the world.

A node is event-driven and does no I/O of its own (the rule of etcd's raft package and h11):
the runtime calls one of its handlers, the handler updates state and asks the runtime for
actions. Events in: ``on_start``, ``on_message``, ``on_timer``, ``on_request``. Actions out:
``send``, ``reply``, ``set_timer`` / ``cancel_timer``, ``storage`` writes, ``log``, ``apply``.
A node never sleeps, never reads the wall clock, never opens a socket and never starts a
thread; that is what makes every run reproducible and lets one class run unchanged in the
simulator, as a real process (live mode) and in a sandboxed child (tamper-proof grading).

Subclass ``Node`` and write the handlers. Do not override ``__init__``: set up volatile state
in ``on_start``, which runs at boot and again after every restart (on a brand-new object).
"""

from __future__ import annotations

import random
import sys
from typing import TYPE_CHECKING, Any

from .errors import ContractError

#: the one key of the command a node's ``restore_snapshot`` hands to the state machine
SNAPSHOT_KEY = "__snapshot__"

#: ``"handle_<type>"`` per message type and ``"timer_<name>"`` per timer name, made once: a
#: name built afresh for each message misses CPython's attribute cache (it keys on the string
#: object), which costs a whole class-hierarchy lookup per dispatch
_HANDLE: dict[str, str] = {}
_TIMER: dict[str, str] = {}

if TYPE_CHECKING:  # pragma: no cover
    from .storage import Storage


class Request:
    """A client operation delivered to a node. ``body`` is a JSON dict such as
    ``{"op": "get", "key": "x"}``. Answer it exactly once with ``node.reply(request, {...})``;
    a reply with an ``"error"`` field tells the client the operation failed (had no effect)."""

    __slots__ = ("id", "client", "body")

    def __init__(self, id: int, client: str, body: dict):
        self.id = id
        self.client = client
        self.body = body

    def __repr__(self) -> str:
        return f"Request(id={self.id}, client={self.client!r}, body={self.body!r})"


class Node:
    """Base class of every student node.

    Provided by the runtime:

    * ``id``: this node's name, e.g. ``"n1"``; ``peers``: the other nodes' names, sorted.
    * ``rng``: a ``random.Random`` seeded from the run's seed, the node and its incarnation.
      Use it for all randomness (election timeouts, jitter); never the ``random`` module.
    * ``storage``: durable key-value storage that survives crash and restart.
    """

    id: str
    peers: tuple[str, ...]
    rng: random.Random
    storage: "Storage"

    def __init__(self, node_id: str, peers: tuple[str, ...], runtime: Any, storage: "Storage",
                 rng: random.Random):
        self.id = node_id
        self.peers = peers
        self.rng = rng
        self.storage = storage
        self._rt = runtime

    # ----- actions (provided) ------------------------------------------------------------------

    def now(self) -> float:
        """The current time in seconds (virtual in the simulator)."""
        return self._rt.now

    def send(self, dst: str, msg: dict) -> None:
        """Send ``msg`` (a JSON dict, by convention with a ``"type"`` field) to node ``dst``.

        The message is copied through JSON now; it may be delayed, lost, duplicated or
        reordered, and is silently dropped if ``dst`` is down or cut off."""
        self._rt.send(self.id, dst, msg)

    def broadcast(self, msg: dict) -> None:
        """``send`` the same message to every peer."""
        for p in self.peers:
            self._rt.send(self.id, p, msg)

    def reply(self, request: Request, body: dict) -> None:
        """Answer a client request, once. Replying twice is a contract error."""
        self._rt.reply(self.id, request, body)

    def set_timer(self, name: str, delay: float, **data: Any) -> None:
        """Arm the timer ``name`` to fire ``delay`` seconds from now with ``data``.

        Re-arming a timer that is already set replaces it (only the latest fires)."""
        self._rt.set_timer(self.id, name, delay, data)

    def cancel_timer(self, name: str) -> None:
        """Disarm the timer ``name``; nothing happens if it is not set."""
        self._rt.cancel_timer(self.id, name)

    def log(self, text: str) -> None:
        """Write a line to the run's trace (shown in failure reports and the trace viewer)."""
        self._rt.log(self.id, str(text))

    def apply(self, index: int, command: Any) -> None:
        """Hand a committed command to the state machine (replicated-log labs)."""
        self._rt.apply(self.id, index, command)

    def restore_snapshot(self, index: int, data: Any) -> None:
        """Hand a snapshot to the state machine: ``data`` is its state after entries
        1..``index``, as it gave it to you; the next entry you apply is ``index + 1``
        (replicated-log labs with snapshots). It travels as an apply of
        ``{SNAPSHOT_KEY: data}`` at ``index``: the trace shows it as an apply."""
        self._rt.apply(self.id, index, {SNAPSHOT_KEY: data})

    # ----- handlers (written by students) -----------------------------------------------------

    def on_start(self) -> None:
        """Called at boot and after every restart, on a fresh object. Read ``storage`` here."""

    def on_message(self, src: str, msg: dict) -> None:
        """Called for each message that arrives. The default calls ``handle_<type>(src, msg)``."""
        kind = msg.get("type")
        if type(kind) is str:
            name = _HANDLE.get(kind) or _HANDLE.setdefault(kind, sys.intern("handle_" + kind))
            handler = getattr(self, name, None)
        else:
            handler = None
        if handler is None:
            known = sorted(n[len("handle_"):] for n in dir(self) if n.startswith("handle_"))
            raise ContractError(
                f"{self.id} got a message of type {kind!r} from {src} and has no "
                f"handle_{kind} method; it handles: {', '.join(known) or 'nothing yet'}")
        handler(src, msg)

    def on_timer(self, name: str, data: dict) -> None:
        """Called when a timer fires. The default calls ``timer_<name>(**data)``."""
        attr = _TIMER.get(name) or _TIMER.setdefault(name, sys.intern(f"timer_{name}"))
        handler = getattr(self, attr, None)
        if handler is None:
            known = sorted(n[len("timer_"):] for n in dir(self) if n.startswith("timer_"))
            raise ContractError(f"{self.id}: timer {name!r} fired but there is no timer_{name} "
                                f"method; known timers: {', '.join(known) or 'none'}")
        handler(**data)

    def on_request(self, request: Request) -> None:
        """Called for each client operation. Reply with ``self.reply(request, {...})``."""
        raise NotImplementedError(f"{type(self).__name__}.on_request")
