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
  the search keeps, no more;
* round trips: before the search expands a level, the events of that level's steps are known
  (``Ahead``: every state's enabled steps, in the search's order), so they are sent to the
  child ``CHUNK`` at a time (op ``batch``), each on a fresh copy; each event of the search
  then takes its reply, in order, with its actions applied and checked here at that moment,
  exactly as for a reply of its own. Copies are independent, so an event computed ahead and
  never taken (the search stopped first) changes nothing; its copy is freed. One trade-off:
  a handler that hangs or kills the child in a state after the violation (in the same chunk)
  makes the failure a sandbox crash, not the violation: a failure either way.

The invariants, the prune predicates, the fingerprint's hash and the breadth-first order are
all computed here from what the child sends as data; the child runs student code and copies
objects, never a check. The search visits the same states in the same order as in-process.
"""

from __future__ import annotations

import itertools
import json
import weakref
from collections import deque
from typing import Any

from ..jsoncopy import loads
from ..simulator import describe_event
from .protocol import ProtocolError
from .remote import _Bound, RemoteNode, RemoteNodeMeta, SandboxCrash, _watch_key, stale

_handles = itertools.count(-1, -1)     # handles of copies: negative, never the child's own
MAX_WATCH = 8                          # accessor calls prefetched after every event
MAX_TEXT = 4 * 1024 * 1024             # characters of one node's fields text
CHUNK = 128                            # events of a level sent to the child per round trip


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

    _lk_newnode = {"search": 1}       # the child gives it a search runtime

    def __init__(self, node_id: str, peers: tuple[str, ...], runtime: Any, storage: Any,
                 rng: Any):
        self._lk_memo = {}
        super().__init__(node_id, peers, runtime, storage, rng)

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

    @classmethod
    def _lk_search_ahead(cls, level: list, space: Any) -> None:
        """The search is about to expand ``level`` (its states, in order): the events its
        steps will run, in the order the search runs them, are sent to the child ahead, in
        chunks (``Ahead``); each event then takes its reply from there, not a round trip."""
        base = next(k for k in cls.__mro__ if "_lk_info" in k.__dict__)
        sb = base._lk_sandbox
        ahead = _AHEAD.get(sb)
        if ahead is not None:
            ahead.discard()
        _AHEAD[sb] = Ahead(sb, cls, level, space)

    def _lk_event(self, kind: str, args: list) -> None:
        sb = self._lk_sandbox
        ahead = _AHEAD.get(sb)
        if ahead is not None and self._lk_src is not None:
            try:
                taken = ahead.take(self, kind, args)
            except SandboxCrash as crash:
                raise self._lk_crash(crash, kind, args) from None
            if taken is not None:
                self._lk_reply(kind, args, *taken)
                return
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
            raise self._lk_crash(crash, kind, args) from None
        finally:
            self._lk_src = None           # the child made the copy (or the child is gone)
        self._lk_text = text
        if results:
            memo = self._lk_memo
            for call, value in zip(calls, results):
                if isinstance(value, list) and len(value) in (1, 2):
                    memo[json.dumps(call)] = value

    def _lk_crash(self, crash: SandboxCrash, kind: str, args: list) -> SandboxCrash:
        what = {"s": "on_start", "m": lambda: ("message", args[0], json.dumps(args[1])),
                "t": lambda: ("timer", args[0]), "q": lambda: ("request", args[2])}[kind]
        event = describe_event(what() if callable(what) else what)
        return SandboxCrash(f"{crash} (it was running {self.id}'s handler for {event} at "
                            f"t={self._rt.now:.3f}s)", node=self.id, event=event,
                            time=self._rt.now)

    def _lk_reply(self, kind: str, args: list, handle: int, reply: Any, calls: list) -> None:
        """Take the reply the child sent ahead for this event (``Ahead``), as ``_event`` does
        for a reply of its own: this proxy becomes the copy the child made (``handle``), its
        actions are applied and checked here, in order, then its error is raised."""
        sb = self._lk_sandbox
        self._lk_src = None
        self._lk_memo, self._lk_text = {}, None
        sb.codec.bind(self, handle)
        if type(reply) is not dict:
            raise sb._died(ProtocolError("a malformed reply to a batch of events"))
        act = reply.get("act")
        if act:
            sb._apply(act)
        if "err" in reply:
            raise sb._decoded(sb._decode_error, reply["err"])
        self._lk_text = _text(sb, reply.get("ok"))
        results = reply.get("w")
        if isinstance(results, list):
            memo = self._lk_memo
            for call, value in zip(calls, results):
                if isinstance(value, list) and len(value) in (1, 2):
                    memo[json.dumps(call)] = value


class Ahead:
    """The events of one level of a search, in the order the search will run them, each on a
    new copy of its node (``[src handle, new handle, kind, args, now]``), sent to the child
    ``CHUNK`` at a time (op ``batch``) when the search reaches them. The child's copies are
    independent, so an event computed ahead and never taken (the search stopped at a
    violation first) changes nothing; its copy is freed. An event that does not match the next
    one computed (anything unforeseen) drops the rest and takes the usual round trip."""

    def __init__(self, sb: Any, cls: type, level: list, space: Any):
        from ..search.world import STEP

        self.sb = sb
        self.gen = sb.gen
        self.cls = cls
        self.items: list[tuple] = []       # (key, [src, new, kind, args, now])
        self.ready: deque = deque()        # (key, handle, reply, calls), in order
        self.pos = 0
        for world, _ in level:
            now = (world.depth + 1) * STEP
            for step in _events(world, space):
                node, kind, args = step
                obj = world.nodes[node]
                if not isinstance(obj, SearchNode) or obj._lk_src is not None or \
                        obj._lk_gen != sb.gen or obj.storage.writes != obj._lk_writes:
                    self.items.clear()     # not foreseeable: no batching of this level
                    return
                self.items.append(((obj._lk_ref, kind, json.dumps(args), now),
                                   [obj._lk_ref, next(_handles), kind, args, now], obj))

    def take(self, node: SearchNode, kind: str, args: list) -> tuple | None:
        """The reply computed ahead for ``node``'s event, or None (then the usual trip)."""
        sb = self.sb
        if sb.gen != self.gen or sb.channel is None:
            self.discard()
            return None
        if not self.ready:
            if self.pos >= len(self.items):
                return None
            self._send()
        key = (node._lk_src._lk_ref, kind, json.dumps(args), node._rt.now)
        if self.ready[0][0] != key or node.storage.writes != node._lk_writes:
            self.discard()
            return None
        _, handle, reply, calls = self.ready.popleft()
        return handle, reply, calls

    def _send(self) -> None:
        sb = self.sb
        chunk = self.items[self.pos:self.pos + CHUNK]
        self.pos += len(chunk)
        calls = list(self.cls._lk_calls)
        frame = {"op": "batch", "items": [item for _, item, _ in chunk]}
        if calls:
            frame["watch"] = calls
        reply = sb._request(frame)
        if "err" in reply:
            raise sb._decoded(sb._decode_error, reply["err"])
        replies = reply.get("ok")
        if type(replies) is not list or len(replies) != len(chunk):
            raise sb._died(ProtocolError("a malformed reply to a batch of events"))
        for (key, item, _), one in zip(chunk, replies):
            self.ready.append((key, item[1], one, calls))
        for i in range(self.pos - len(chunk), self.pos):
            self.items[i] = (self.items[i][0], self.items[i][1], None)   # src may go now

    def discard(self) -> None:
        """Free the copies made ahead and not taken; forget the rest."""
        if _AHEAD.get(self.sb) is self:
            del _AHEAD[self.sb]
        if self.sb.gen == self.gen and self.sb.codec is not None:
            for _, handle, _, _ in self.ready:
                self.sb.codec.released.append(handle)
        self.ready.clear()
        self.items.clear()


_AHEAD: "weakref.WeakKeyDictionary[Any, Ahead]" = weakref.WeakKeyDictionary()


def _events(world: Any, space: Any) -> list[tuple]:
    """``(node, kind, args)`` of every step of ``world`` that runs a handler, in the search's
    order, with the arguments ``world.apply_step`` gives the handler."""
    from ..search.world import enabled

    out = []
    for step in enabled(world, space.node_ids, space.quiet):
        kind = step[0]
        if kind == "deliver":
            _, dst, src, data = step
            if world.nodes[dst] is not None:
                out.append((dst, "m", [src, loads(data)]))
        elif kind == "timer":
            _, node, name = step
            data = world.timers[node][name]
            out.append((node, "t", [name, {} if data is None else loads(data)]))
        elif kind == "request":
            _, node, op = step
            out.append((node, "q", [op, "client", loads(world.inputs[op])]))
    return out


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
