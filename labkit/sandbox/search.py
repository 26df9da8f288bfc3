"""Exhaustive search (``labkit.search``) of a sandboxed submission: the node objects stay in
the child, the search and its verdict stay here.

``labkit.search`` keeps one node object per node per state and copies a node before a step
changes it (copy on write, ``world.clone_node``). Under ``--sandbox`` the objects live in the
child, so each state's node is a *handle* there, and this module's ``SearchNode`` is the
grader's proxy of one handle:

* a copy (``_lk_search_clone``) costs nothing here: a new handle number (negative: chosen by
  the grader, so the actions of the copy find their proxy at once) and a note of the handle it
  copies. The child makes the copy (``child.Server.clone_node``: the same pickle-of-fields
  copy as ``world.clone_node``, with its own storage and runtime) in the same round trip as the
  event that changes it; a copy no step drives (a crash) is never made;
* an event (deliver, timer, request, start) goes through the usual event path: the child runs
  the handler and sends back its actions (sends, replies, timers, applies, storage writes),
  which are applied here to the search's runtime and checked here (``contract``), as for any
  node; with them come the text of the node's fields for the fingerprint (``bfs.node_text``,
  read as data) and the results of the accessors the invariants called on handles before
  (``raft_state()``: prefetched);
* a handle is never changed after its event (the next step on that node copies it first), so
  what was read of it (its fields' text, its accessors' results) is kept with its proxy and
  read again at no cost in every later state that shares it;
* a handle no state needs any more is freed in the child when its proxy dies here (the usual
  release of references, sent with the next frame): the child holds the nodes of the states
  the search keeps, no more.

The invariants, the prune predicates, the fingerprint's hash and the breadth-first order are
all computed here from what the child sends as data; the child runs student code and copies
objects, never a check. The search visits the same states in the same order as in-process.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from ..node import Node
from ..simulator import describe_event
from .protocol import ProtocolError
from .remote import (_Bound, _Context, _contexts, RemoteNode, RemoteNodeMeta, SandboxCrash,
                     _watch_key, stale)

_handles = itertools.count(-1, -1)     # handles of copies: negative, never the child's own
MAX_WATCH = 8                          # accessor calls prefetched after every event
MAX_TEXT = 4 * 1024 * 1024             # characters of one node's fields text


def search_class(cls: Any) -> Any:
    """The search variant of a proxy class of a sandboxed node class (``cls`` itself when it
    is anything else)."""
    if not (isinstance(cls, type) and issubclass(cls, RemoteNode)) or issubclass(cls, SearchNode):
        return cls
    known = cls.__dict__.get("_lk_search_variant")
    if known is None:
        known = RemoteNodeMeta(cls.__name__, (SearchNode, cls),
                               {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                "_lk_calls": []})
        type.__setattr__(cls, "_lk_search_variant", known)
    return known


class SearchNode(RemoteNode):
    """The grader's proxy of one node handle of a search (see the module docstring)."""

    _lk_src: "SearchNode | None" = None   # the handle this one copies, until the child does
    _lk_text: str | None = None           # the fields' text, read with the last event
    _lk_memo: dict | None = None          # accessor results since the last event, by call key
    _lk_calls: list = []                  # accessor calls to prefetch (one list per class)

    def __init__(self, node_id: str, peers: tuple[str, ...], runtime: Any, storage: Any,
                 rng: Any):
        # RemoteNode.__init__, for a node of a search (the child gives it a search runtime)
        Node.__init__(self, node_id, peers, runtime, storage, rng)
        ctx = _contexts.get(id(runtime))
        if ctx is None or ctx.runtime is not runtime:
            ctx = _Context(runtime)
            _contexts[id(runtime)] = ctx
        self._lk_ctx = ctx
        base = next(k for k in type(self).__mro__ if "_lk_info" in k.__dict__)
        sb = base._lk_sandbox
        version, internal, gauss = rng.getstate()
        self._lk_memo = {}
        sb.call({"op": "newnode", "cls": base, "id": node_id, "peers": list(peers),
                 "nodes": sorted((node_id, *peers)), "ctx": ctx.id, "storage": storage.raw(),
                 "rng": [version, list(internal), gauss], "search": 1}, node=self)
        self._lk_writes = storage.writes
        sb.track_context(ctx)

    # -- copies --

    def _lk_search_clone(self, storage: Any) -> "SearchNode":
        """A copy of this node over ``storage`` (the state's own copy of its storage): a new
        handle, made in the child with the next event on it (``_lk_materialize`` otherwise)."""
        sb = self._lk_sandbox
        src = self._lk_src if self._lk_src is not None else self
        src._lk_ref_in(sb.gen)
        cls = type(self)
        new = cls.__new__(cls)
        d = new.__dict__
        d.update(self.__dict__)
        d["storage"] = storage
        d["_lk_src"] = src
        d["_lk_text"] = self._lk_text
        d["_lk_memo"] = dict(self._lk_memo) if self._lk_memo else {}
        sb.codec.bind(new, next(_handles))
        return new

    def _lk_materialize(self) -> None:
        src = self._lk_src
        if src is not None:
            sb = self._lk_sandbox
            sb.call({"op": "clone", "src": src._lk_ref_in(sb.gen), "as": self._lk_ref_in(sb.gen)})
            self._lk_src = None

    # -- what the search reads --

    def _lk_search_text(self) -> str:
        """The text of the node's fields in the fingerprint (``bfs.node_text``, in the child)."""
        text = self._lk_text
        if text is None:
            self._lk_materialize()
            text = self._lk_sandbox.call({"op": "fields", "n": self._lk_ref_in(
                self._lk_sandbox.gen)})
            self._lk_text = _text(self._lk_sandbox, text)
            text = self._lk_text
        return text

    def _lk_callm(self, name: str, args: tuple, kwargs: dict) -> Any:
        key = _watch_key(name, args, kwargs)
        memo = self._lk_memo
        if key is not None and memo is not None:
            hit = memo.get(key)
            if type(hit) is tuple:
                return hit[0]
            if hit is not None:
                value = self._lk_sandbox.cached_value(hit)
                memo[key] = (value,)
                return value
        self._lk_materialize()
        value = _Bound._lk_callm(self, name, args, kwargs)
        if key is not None:
            calls = type(self)._lk_calls
            call = [name, list(args)]
            if len(calls) < MAX_WATCH and call not in calls:
                calls.append(call)
            if memo is None:
                memo = self._lk_memo = {}
            memo[key] = (value,)
        return value

    def _lk_getattr(self, name: str) -> Any:
        self._lk_materialize()
        return RemoteNode._lk_getattr(self, name)

    # -- events --

    def _lk_event(self, kind: str, args: list) -> None:
        sb = self._lk_sandbox
        frame = {"op": "ev", "n": self._lk_ref, "k": kind, "a": args, "now": self._rt.now,
                 "fp": 1}
        src = self._lk_src
        if src is not None:
            frame["clone"] = src._lk_ref_in(sb.gen)
        if self.storage.writes != self._lk_writes:        # someone else wrote: resend it all
            frame["sync"] = self.storage.raw()
            self._lk_writes = self.storage.writes
        calls = type(self)._lk_calls
        if calls:
            frame["watch"] = calls
        self._lk_memo, self._lk_text = {}, None
        try:
            text, results = _event(sb, frame, self._lk_gen)
        except SandboxCrash as crash:
            what = {"s": "on_start", "m": lambda: ("message", args[0], json.dumps(args[1])),
                    "t": lambda: ("timer", args[0]), "q": lambda: ("request", args[2])}[kind]
            event = describe_event(what() if callable(what) else what)
            raise SandboxCrash(f"{crash} (it was running {self.id}'s handler for {event} at "
                               f"t={self._rt.now:.3f}s)", node=self.id, event=event,
                               time=self._rt.now) from None
        finally:
            self._lk_src = None           # the child made the copy (or the child is gone)
        self._lk_text = text
        if results:
            memo = self._lk_memo
            for call, value in zip(calls, results):
                if isinstance(value, list) and len(value) in (1, 2):
                    memo[json.dumps(call)] = value


def _text(sb: Any, text: Any) -> str:
    if type(text) is not str or len(text) > MAX_TEXT:
        raise sb._died(ProtocolError("the fields of a node that are not text (or too long)"))
    return text


def _event(sb: Any, frame: dict, gen: int) -> tuple[str, list | None]:
    """``Sandbox.event`` for a search node: the actions are applied here as usual; returns the
    node's fields text and the prefetched results, still encoded."""
    if gen != sb.gen or sb.channel is None:
        raise stale("node")
    reply = sb._request(frame)
    act = reply.get("act")
    if act:
        sb._apply(act)
    if "err" in reply:
        raise sb._decoded(sb._decode_error, reply["err"])
    text = _text(sb, reply.get("ok"))
    results = reply.get("w")
    return text, results if isinstance(results, list) else None


__all__ = ["SearchNode", "search_class"]
