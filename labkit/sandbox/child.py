"""The sandboxed child: ``python -m labkit.sandbox.child`` hosts the student's objects.

The grader starts it with the protocol on stdin/stdout (see ``protocol``) and a JSON
configuration as its one argument. It confines itself (``confine``), imports the lab package
from its staging copy of the submission, reports the outcome, and then serves requests until
its stdin closes:

* node objects: ``newnode`` builds a node over a local copy of its storage; ``ev`` runs one
  handler and returns the actions it took (sends, replies, timers, log lines, applies, storage
  writes) for the grader to apply to the real simulation;
* any object: ``getattr``, ``setattr``, ``call``, ``callm`` (a method call), ``iter``.

Nothing the child says is trusted: it cannot change a score, only fail a test.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import pickle
import random
import sys
import traceback
import types
from typing import Any

from . import confine, delta, namespaces
from .protocol import TAG, Channel, Codec, ProtocolError, _dumps, class_tag

# The node contract (imported before confinement, so these are labkit's own modules).
from .. import contract
from ..errors import ContractError
from ..node import Node, Request
from ..storage import Storage, to_json

ACTIONS: list[list] = []          # what handlers did since the last reply, in order
PREFETCHED: list = []             # results of the calls a node event was asked to prefetch
_METHODS: dict = {}               # (grader object ref, name) -> GraderMethod, see GraderObject
_HERE = os.path.dirname(os.path.abspath(__file__))


# ----- the node side of the runtime --------------------------------------------------------------

class Context:
    """One simulation as the child sees it: the node names, and the requests delivered."""

    def __init__(self, nodes: list[str]):
        self.nodes = frozenset(nodes)
        self.order = ", ".join(nodes)
        self.requests: dict[int, str] = {}     # request id -> its body as the client sent it
        self.replied: set[int] = set()


class StubRuntime:
    """What a hosted ``Node`` calls. Checks each action like the simulator does (same
    sentences, raised at the student's line) and records it for the grader."""

    def __init__(self, ctx: Context, nid: int):
        self.ctx = ctx
        self.nid = nid
        self.now = 0.0

    def send(self, src: str, dst: str, msg: dict) -> None:
        ACTIONS.append([self.nid, "s", dst, contract.send(src, dst, msg, self.ctx.nodes)])

    def reply(self, src: str, request: Request, body: dict) -> None:
        data = contract.reply(src, request, body, self.ctx.requests, self.ctx.replied)
        self.ctx.replied.add(request.id)
        ACTIONS.append([self.nid, "r", request.id, data])

    def set_timer(self, src: str, name: str, delay: float, data: dict) -> None:
        payload = contract.timer(src, name, delay, data)
        ACTIONS.append([self.nid, "t", name, float(delay), payload])

    def cancel_timer(self, src: str, name: str) -> None:
        ACTIONS.append([self.nid, "c", name])

    def log(self, src: str, text: str) -> None:
        ACTIONS.append([self.nid, "l", str(text)])

    def apply(self, src: str, index: int, command: Any) -> None:
        ACTIONS.append([self.nid, "a", index, contract.apply(src, index, command)])


class RecordedStorage(Storage):
    """The node's storage inside the child: every write is also an action for the grader."""

    nid = 0

    def _written(self, key: str) -> None:
        raw = self._data.get(key)
        ACTIONS.append([self.nid, "d", key] if raw is None else [self.nid, "p", key, raw])


# ----- exhaustive search (labkit.search): copies of nodes ---------------------------------------

class NoReplies:
    """``Context.replied`` of a search: holds nothing. Each state of a search has its own record
    of the requests answered (a request may be answered in one state and not in another); the
    grader keeps it and checks "answer each request exactly once" against it."""

    __slots__ = ()

    def __contains__(self, rid: object) -> bool:
        return False

    def add(self, rid: object) -> None:
        pass


class SearchStub(StubRuntime):
    """The runtime of one node copy of a search (its actions carry the copy's handle). Never
    copied with a node's fields: a field that reaches it makes ``copy_node`` map it."""

    def __reduce__(self):
        raise TypeError("the search runtime is not copied with a node")


_RUNTIME = frozenset(("id", "peers", "_rt", "rng", "storage"))


def copy_node(obj: Node, rt: StubRuntime, new_rt: StubRuntime, storage: Storage) -> Node:
    """``labkit.search.world.clone_node`` in the child: the node's own fields through pickle,
    its methods bound again to the copy, its random generator copied by state, ``deepcopy``
    (mapping the runtime, the node and its storage to the copy's) when a field is not plain
    data."""
    cls = type(obj)
    new = cls.__new__(cls)
    fields = obj.__dict__
    data, methods = {}, {}
    for k, v in fields.items():
        if k in _RUNTIME:
            continue
        if type(v) is types.MethodType and v.__self__ is obj:
            methods[k] = v.__func__
        else:
            data[k] = v
    try:
        copied = pickle.loads(pickle.dumps(data, pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - not plain data (a lambda, a reference to the node...)
        copied = copy.deepcopy(data, {id(rt): new_rt, id(obj): new, id(obj.storage): storage})
    rng = type(obj.rng).__new__(type(obj.rng))
    rng.setstate(obj.rng.getstate())
    d = new.__dict__
    for k in fields:
        if k == "_rt":
            d[k] = new_rt
        elif k == "rng":
            d[k] = rng
        elif k == "storage":
            d[k] = storage
        elif k in _RUNTIME:
            d[k] = fields[k]
        elif k in methods:
            d[k] = types.MethodType(methods[k], new)
        else:
            d[k] = copied[k]
    return new


def node_text(node: Node) -> str:
    """The text of a node's fields in a search's fingerprint, as data (the grader hashes it)."""
    from ..search.bfs import node_text as text

    return text(node)


# ----- references to the grader's objects ---------------------------------------------------------

class GraderObject:
    """A proxy of an object the grader lent (a fake clock, a function, a random.Random):
    calling it or its methods asks the grader, which runs the real one."""

    __slots__ = ("_lk_ref", "_lk_name", "__weakref__")

    def __init__(self, ref: int, name: str):
        object.__setattr__(self, "_lk_ref", ref)
        object.__setattr__(self, "_lk_name", name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return SERVER.callback({"op": "call", "ref": self._lk_ref, "a": SERVER.codec.encode(
            list(args)), "kw": SERVER.codec.encode(kwargs)})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"the grader's {self._lk_name} object does not share {name!r}")
        method = _METHODS.get((self._lk_ref, name))
        if method is not None:
            return method
        reply = SERVER.channel.request({"op": "getattr", "ref": self._lk_ref, "name": name})
        value = reply.get("ok")
        if isinstance(value, dict) and value.get(TAG) == "method":
            # A method of the object itself (``rng.uniform``): the same the next time, so that
            # calling it again costs one round trip (the grader looks it up at each call).
            method = _METHODS[(self._lk_ref, name)] = GraderMethod(self._lk_ref, name)
            if len(_METHODS) > 4096:
                del _METHODS[next(iter(_METHODS))]
            return method
        return SERVER.result(reply)

    def __repr__(self) -> str:
        return f"<the grader's {self._lk_name}>"


class GraderMethod:
    """A method of a grader's object, called by name (the grader looks it up at each call)."""

    __slots__ = ("ref", "name")

    def __init__(self, ref: int, name: str):
        self.ref = ref
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        codec = SERVER.codec
        return SERVER.callback({"op": "callm", "ref": self.ref, "name": self.name,
                                "a": codec.encode(list(args)), "kw": codec.encode(kwargs)})


class ChildCodec(Codec):
    def __init__(self) -> None:
        super().__init__()
        self.mirrors: dict[int, type] = {}     # grader class ref -> mirror class

    def encode_other(self, v: Any) -> Any:
        if isinstance(v, GraderObject):
            return {TAG: "r", "ref": v._lk_ref}
        if isinstance(v, BaseException):
            return self.encode_exception(v)
        if isinstance(v, type):
            ref = getattr(v, "_lk_pref", None)
            if ref is not None and v.__dict__.get("_lk_pref") == ref:
                return {TAG: "r", "ref": ref}
            return self.encode_class(v)
        if isinstance(v, types.ModuleType):
            return {TAG: "m", "name": v.__name__}
        plain = self.encode_plainish(v)
        if plain is not NotImplemented:
            return plain
        if isinstance(v, (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                          types.BuiltinMethodType)):
            return {TAG: "fn", "ref": self.export(v), "name": getattr(v, "__name__", "?"),
                    "mod": getattr(v, "__module__", None), "qual": getattr(v, "__qualname__", None),
                    "path": resolvable(v)}
        return {TAG: "o", "ref": self.export(v), "cls": self.encode_class(type(v))}

    def encode_class(self, cls: type) -> dict:
        tag = class_tag(cls)
        if tag is not None:
            return tag
        info: dict[str, Any] = {TAG: "c", "ref": self.export(cls), "name": cls.__name__,
                                "mod": cls.__module__, "qual": cls.__qualname__,
                                "path": resolvable(cls)}
        if issubclass(cls, BaseException):
            info["kind"] = "exc"
            info["bases"] = [self.encode_class(b) for b in cls.__bases__
                             if issubclass(b, BaseException)]
        else:
            info["kind"] = "node" if issubclass(cls, Node) else "plain"
            info.update(describe_members(cls))
        return info

    def encode_exception(self, exc: BaseException, depth: int = 0) -> dict:
        ref = getattr(exc, "_lk_pref", None)
        if ref is not None:
            return {TAG: "r", "ref": ref}            # the grader's own exception, handed back
        attrs = {k: x for k, x in vars(exc).items() if not k.startswith("_")}
        out = {TAG: "x", "cls": self.encode_class(type(exc)), "args": self.encode(list(exc.args)),
               "str": safe_str(exc), "ref": self.export(exc), "attrs": self.encode(attrs),
               "tb": frames_of(exc)}
        cause = exc.__cause__
        if cause is None and not exc.__suppress_context__:
            cause = exc.__context__
        if cause is not None and cause is not exc and depth < 5:
            out["cause"] = self.encode_exception(cause, depth + 1)
        if isinstance(exc, SyntaxError):
            out["syntax"] = [exc.filename, exc.lineno, exc.offset, exc.text, exc.msg]
        return out

    def decode_other(self, kind: str, v: dict) -> Any:
        if kind == "r":
            return self.lookup(v["ref"])
        if kind == "o":
            ref = v["ref"]
            proxy = self.proxies.get(ref)
            if proxy is None:
                proxy = self.remember(ref, GraderObject(ref, str(v.get("name", "object"))))
            return proxy
        if kind == "c":
            return self.mirror(v)
        if kind == "cp":
            return resolve(v["mod"], v["qual"])
        if kind == "x":
            cls = self.decode(v["cls"])
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                raise ProtocolError("an exception of a class that is not an exception")
            args = self.decode(v["args"])
            exc = cls.__new__(cls, *args)
            exc.args = tuple(args)
            try:
                exc._lk_pref = v["ref"]
                exc._lk_str = v.get("str")
            except AttributeError:
                pass
            return exc
        raise ProtocolError(f"unknown value tag {kind!r}")

    def mirror(self, v: dict) -> Any:
        """A local stand-in for a grader class: a real exception class for exceptions (so
        ``except retry_on`` works), a callable proxy otherwise."""
        ref = v["ref"]
        known = self.mirrors.get(ref)
        if known is not None:
            return known
        if v.get("kind") == "exc":
            bases = tuple(b for b in (self.decode(x) for x in v.get("bases", []))
                          if isinstance(b, type) and issubclass(b, BaseException)) or (Exception,)
            try:
                cls = type(str(v["name"]), bases, {"_lk_pref": ref, "__str__": _mirror_str,
                                                   "__module__": "grader"})
            except TypeError:
                cls = type(str(v["name"]), (Exception,), {"_lk_pref": ref, "__str__": _mirror_str,
                                                          "__module__": "grader"})
        else:
            cls = GraderObject(ref, str(v.get("name", "class")))
        self.mirrors[ref] = cls
        return cls


def _mirror_str(self: BaseException) -> str:
    text = getattr(self, "_lk_str", None)
    return text if isinstance(text, str) else BaseException.__str__(self)


MAX_TEXT = 4000          # characters of an exception's message sent to the grader


def safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a student __str__ that raises
        return f"<{type(exc).__name__} whose str() raised>"
    if not isinstance(text, str):
        return f"<{type(exc).__name__} whose str() is not text>"
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"... ({len(text) - MAX_TEXT:,} more characters cut)"
    return text


def frames_of(exc: BaseException) -> list[list]:
    """``[file, line, function, source line]`` per frame, the source read here (from the
    child's copy of the submission): the grader never reads a file the child names."""
    out = []
    for f in traceback.extract_tb(exc.__traceback__)[-60:]:
        if os.path.dirname(os.path.abspath(f.filename)) == _HERE:
            continue                              # the child's own plumbing
        out.append([f.filename[:500], f.lineno or 0, str(f.name)[:100], (f.line or "")[:300]])
    return out[-40:]


def resolvable(obj: Any) -> bool:
    mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(mod, str) or not isinstance(qual, str) or "<" in qual:
        return False
    try:
        return resolve(mod, qual) is obj
    except Exception:  # noqa: BLE001
        return False


def resolve(mod: str, qual: str) -> Any:
    obj: Any = sys.modules.get(mod) or importlib.import_module(mod)
    for part in qual.split(".") if qual else ():
        obj = getattr(obj, part)
    return obj


_NODE_NAMES = frozenset(dir(Node))
SPECIALS = ("__len__", "__iter__", "__contains__", "__getitem__", "__setitem__", "__delitem__",
            "__eq__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__str__",
            "__repr__", "__call__")


def describe_members(cls: type) -> dict:
    """The names the grader's proxy class defines as forwarding methods: the plain methods of
    the class (not those of ``Node``) and the special methods it overrides. Anything else
    (attributes, properties, static methods) is read on demand."""
    methods, dunders = [], []
    is_node = issubclass(cls, Node)
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or (is_node and klass is Node):
            continue
        for name, member in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("__"):
                if name in SPECIALS and member is not None:
                    dunders.append(name)
            elif isinstance(member, types.FunctionType) and not (is_node and name in _NODE_NAMES):
                methods.append(name)
    return {"methods": methods, "dunders": dunders}


# ----- the server --------------------------------------------------------------------------------

class Server:
    def __init__(self, channel: Channel, codec: ChildCodec, package: str):
        self.channel = channel
        self.codec = codec
        self.package = package
        self.contexts: dict[int, Context] = {}
        self.nodes: dict[int, tuple[Node, StubRuntime]] = {}
        # The last result of each prefetched call, by node ref and call (``prefetch_text``):
        # a JSON copy of it (the grader holds that result) and the ``touched``/``world``
        # stamp then.
        self.sent: dict[Any, dict[str, tuple[Any, tuple[int, int]]]] = {}
        self.watched: dict[int, list] = {}       # (call, key) to prefetch after each node's event
        self.touched: dict[int, int] = {}        # events each node has handled
        self.world = 0                           # requests other than node events

    def callback(self, frame: dict) -> Any:
        return self.result(self.channel.request(frame))

    def result(self, reply: dict) -> Any:
        if "err" in reply:
            raise self.codec.decode(reply["err"])
        value = self.codec.decode(reply.get("ok"))
        if "own" in reply:
            self.codec.keep_handed(value, reply["own"])
        return value

    def outgoing(self) -> dict:
        released = self.codec.take_released()
        return {"rel": released} if released else {}

    def serve(self, frame: dict) -> dict:
        if "rel" in frame:
            self.codec.drop(frame["rel"])
            for ref in frame["rel"]:
                self.nodes.pop(ref, None)
                self.sent.pop(ref, None)
                self.watched.pop(ref, None)
                self.touched.pop(ref, None)
        for ctx in frame.get("freectx", ()):
            self.contexts.pop(ctx, None)
        op = frame.get("op")
        outer = ACTIONS[:]                         # a nested request (inside a callback)
        del ACTIONS[:]
        try:
            reply = {}
            if op == "ev":
                nid = frame.get("n")
                self.touched[nid] = self.touched.get(nid, 0) + 1
                value = self.event(frame)
            elif op == "batch":
                self.world += 1
                value = self.batch(frame)
            else:
                self.world += 1
                value, plain = self.codec.encode_fast(self.generic(op, frame))
                if plain:
                    reply["plain"] = 1                 # the grader need not decode it
            reply["ok"] = value
        except BaseException as exc:  # noqa: BLE001 - everything the student raises goes back
            try:
                reply = {"err": self.codec.encode_exception(exc)}
            except BaseException as bad:  # noqa: BLE001 - e.g. a RecursionError while encoding
                reply = {"err": self.codec.encode_exception(
                    RuntimeError(f"{type(exc).__name__} that could not be sent back: {bad}"))}
        if ACTIONS:
            reply["act"] = list(ACTIONS)
        if PREFETCHED:
            reply["w"] = list(PREFETCHED)
            del PREFETCHED[:]
        ACTIONS[:] = outer
        return reply

    # -- nodes --

    def event(self, frame: dict) -> Any:
        nid = frame["n"]
        if "clone" in frame:                       # a search: copy a node, then drive the copy
            self.clone_node(frame["clone"], nid)
        node, rt = self.nodes[nid]
        watch = frame.get("watch")      # (taken before the handler runs, even if it raises)
        live = frame.get("wt")          # a node of a live simulation: watch is [(call, key)]
        if watch == 1:                             # the same calls as after its last event
            watch = self.watched.get(nid)
        elif watch and live:
            watch = self.watched[nid] = [(call, _dumps(call[:2])) for call in watch]
        rt.now = frame["now"]
        if "sync" in frame:
            node.storage.load(frame["sync"])
        kind, args = frame["k"], frame["a"]
        if kind == "m":
            node.on_message(args[0], args[1])
        elif kind == "t":
            node.on_timer(args[0], args[1])
        elif kind == "q":
            rid, client, body = args
            rt.ctx.requests[rid] = json.dumps(body)
            node.on_request(Request(rid, client, body))
        elif kind == "s":
            node.on_start()
        else:
            raise ProtocolError(f"unknown event kind {kind!r}")
        text = node_text(node) if frame.get("fp") else None   # a search's fingerprint
        if watch:
            if live:
                PREFETCHED[:] = [self.prefetch_text(node, call, key) for call, key in watch]
            else:
                PREFETCHED[:] = [self.prefetch(node, call) for call in watch]
        return text

    def prefetch(self, node: Node, call: list) -> list | None:
        """What the grader asked after this node's recent events, asked again now
        (``RemoteNode._lk_callm``): ``[name, args]`` of this node, or ``[name, args, ref]`` of
        the hosted node ``ref``. ``[value]`` (``[value, 1]``: plain JSON), or None if it
        raised, cannot travel or names no hosted node."""
        try:
            return self._encoded(getattr(self._target(node, call), call[0])(*call[1]))
        except BaseException:  # noqa: BLE001 - the grader's own call will meet the error
            return None

    def _target(self, node: Node, call: list) -> Node:
        return self.nodes[call[2]][0] if len(call) > 2 else node

    def _encoded(self, value: Any) -> list:
        payload, plain = self.codec.encode_fast(value)
        return [payload, 1] if plain else [payload]

    def prefetch_text(self, node: Node, call: list, key: str) -> list | None:
        """``prefetch`` for the grader's live nodes (``Sandbox.event``), sending as little as
        it can. The grader keeps the last plain-JSON result of each call, and so does the
        child (a JSON copy, in ``sent``), so the new result travels as:

        * ``[0, 2]``: the same as last time. A node that has had no request of its own since
          (no event, and nothing but events sent at all: ``touched``, ``world``) is not even
          asked again: nodes share nothing, so its answer is the same;
        * ``[delta, 4]``: what changed since (``labkit.sandbox.delta``: a log that grew by an
          entry sends that entry);
        * ``[text, 3]``: the whole result, plain JSON, as its text;
        * otherwise as ``prefetch`` sends it (and the grader keeps nothing).

        ``key`` names the call (its name and arguments) among the node's."""
        try:
            ref = call[2] if len(call) > 2 else None
            sent = self.sent.setdefault(ref, {})
            stamp = (self.touched.get(ref, 0), self.world)
            last = sent.get(key)
            if last is not None and last[1] == stamp:
                return [0, 2]
            value = getattr(self._target(node, call), call[0])(*call[1])
            if last is not None:
                found = delta.diff(last[0], value)
                if found is not None:
                    sent[key] = (found[1], stamp)
                    return [found[0], 4] if found[0] else [0, 2]
            if type(value) in (dict, list):
                fresh = delta.copy_of(value)
                if fresh is not None:
                    sent[key] = (fresh[0], stamp)
                    return [fresh[1], 3]
            sent.pop(key, None)
            return self._encoded(value)
        except BaseException:  # noqa: BLE001 - the grader's own call will meet the error
            return None

    def new_node(self, frame: dict) -> int:
        ctx = self.contexts.get(frame["ctx"])
        if ctx is None:
            ctx = self.contexts[frame["ctx"]] = Context(frame["nodes"])
            if frame.get("search"):
                ctx.replied = NoReplies()
        cls = self.codec.decode(frame["cls"])
        nid = self.codec.reserve()
        storage = RecordedStorage(frame["id"])
        storage.load(frame["storage"])
        storage.nid = nid
        state = frame["rng"]
        rng = random.Random()
        rng.setstate((state[0], tuple(state[1]), state[2]))
        rt = SearchStub(ctx, nid) if frame.get("search") else StubRuntime(ctx, nid)
        node = cls(frame["id"], tuple(frame["peers"]), rt, storage, rng)
        self.codec.bind_ref(nid, node)
        self.nodes[nid] = (node, rt)
        return nid

    def batch(self, frame: dict) -> list:
        """Events of a search on copies of nodes, many per round trip (``labkit.sandbox.search``):
        for each ``[src, new, kind, args, now]``, copy ``src`` as ``new`` and run the event on
        the copy; its reply (``ok``: the fields' text, or ``err``; ``act``, ``w``) as ``ev``'s."""
        out = []
        watch = frame.get("watch")
        for src, new, kind, args, now in frame["items"]:
            one: dict = {}
            try:
                one["ok"] = self.event({"n": new, "clone": src, "k": kind, "a": args, "now": now,
                                        "fp": 1, "watch": watch})
            except BaseException as exc:  # noqa: BLE001 - everything the student raises goes back
                try:
                    one = {"err": self.codec.encode_exception(exc)}
                except BaseException as bad:  # noqa: BLE001 - e.g. a RecursionError while encoding
                    one = {"err": self.codec.encode_exception(
                        RuntimeError(f"{type(exc).__name__} that could not be sent back: {bad}"))}
            if ACTIONS:
                one["act"] = list(ACTIONS)
                del ACTIONS[:]
            if PREFETCHED:
                one["w"] = list(PREFETCHED)
                del PREFETCHED[:]
            out.append(one)
        return out

    def clone_node(self, src: Any, new: Any) -> None:
        """A copy of node ``src`` as handle ``new`` (a search state's own copy, made before a
        step changes it; ``new`` is chosen by the grader, negative: never one of ours)."""
        if type(new) is not int or new >= 0 or new in self.nodes:
            raise ProtocolError(f"a bad handle for a copy of a node ({new!r})")
        entry = self.nodes.get(src) if type(src) is int else None
        if entry is None:
            raise ProtocolError(f"a copy of an unknown node ({src!r})")
        node, rt = entry
        new_rt = SearchStub(rt.ctx, new)
        new_rt.now = rt.now
        st = node.storage
        storage = object.__new__(type(st))
        storage.__dict__.update(st.__dict__)
        storage._data = dict(st._data)
        storage.nid = new
        copied = copy_node(node, rt, new_rt, storage)
        self.codec.bind_ref(new, copied)
        self.nodes[new] = (copied, new_rt)

    # -- any object --

    def generic(self, op: str, frame: dict) -> Any:
        decode = self.codec.decode
        if op == "getattr":
            obj = decode(frame["obj"])
            name = frame["name"]
            return getattr(obj, name)
        if op == "callm":
            obj = decode(frame["obj"])
            return getattr(obj, frame["name"])(*decode(frame["a"]), **decode(frame["kw"]))
        if op == "call":
            return decode(frame["obj"])(*decode(frame["a"]), **decode(frame["kw"]))
        if op == "setattr":
            setattr(decode(frame["obj"]), frame["name"], decode(frame["v"]))
            return None
        if op == "iter":
            return list(decode(frame["obj"]))
        if op == "newnode":
            return self.new_node(frame)
        if op == "module":
            return importlib.import_module(frame["name"])
        if op == "clone":
            self.clone_node(frame["src"], frame["as"])
            return None
        if op == "fields":
            return node_text(self.nodes[frame["n"]][0])
        if op == "ping":
            return "pong"
        raise ProtocolError(f"unknown request {op!r}")


SERVER: Server


def main() -> None:
    global SERVER
    config = json.loads(sys.argv[1])
    confine.die_with_parent(config["parent"])
    proto_in, proto_out = os.dup(0), os.dup(1)

    def end_before_student_code(frame: dict) -> None:
        """Tell the grader why this child ends before any student code ran, and end."""
        Channel(proto_in, proto_out, serve=lambda f: {}).send(frame)
        os._exit(0)

    if not config.get("own_session") and not confine.drop_terminal():
        # In the grader's session and still holding its terminal: ask for a session of our
        # own (the grader starts a new child with one) before any student code runs.
        end_before_student_code({"layers": [], "session": 1})
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)                  # stdout and stderr: the file the grader opened for them
    layers = confine.set_rlimits(config["memory_mb"], config["cpu_s"])
    own = namespaces.layer(config.get("ns"))
    if own:
        layers.append(own)
    bindings = tuple(config.get("bindings") or confine.BINDINGS)
    if config.get("seccomp", True) and sys.platform.startswith("linux"):
        try:
            confine.seccomp_binding(bindings)   # while it can still read it (seccomp_binding)
        except confine.Unconfined:
            pass                                # said below, where the filter is applied
    if os.geteuid() == 0:          # while root: a bounded scratch folder (confine.scratch_space)
        try:
            owner = confine.user_ids(config["user"]) if config.get("user") else (0, 0)
        except (KeyError, ValueError):
            owner = None                         # ``become`` below says so
        if owner is not None:
            bounded = confine.scratch_space(config["scratch"], *owner)
            if bounded:
                layers.append(bounded)
    if config.get("user"):
        needs = confine.python_trees()[:1] + [os.path.dirname(os.__file__), config["lib"],
                                               config["impl"], config["scratch"]]
        if confine.become(config["user"], needs):
            layers.append(f"user {config['user']}")
            # Changing the uid clears the parent-death signal (prctl(2)): set it again, or a
            # child whose grader was killed (a lost cluster worker) runs on until its CPU limit.
            confine.die_with_parent(config["parent"])
        else:
            layers.append(f"not {config['user']}: it cannot read Python or the staging copy")
    if os.geteuid() == 0 and not config.get("allow_root"):   # never run student code as root
        why = layers[-1] if config.get("user") else "no user to become was given"
        end_before_student_code({"layers": layers, "refused": why})
    missing = []                   # layers this system should give and did not: no grading

    def confined(apply) -> None:
        try:
            applied = apply()
        except confine.Unconfined as why:
            missing.append(str(why))
        else:
            if applied:
                layers.append(applied)

    if config.get("seccomp", True):
        confined(lambda: confine.seccomp_filter(bindings))
    if confine.forbid_processes():
        layers.append("no new processes")
    if config.get("landlock", True):
        confined(lambda: confine.landlock(read=confine.python_trees() + confine.SYSTEM_TREES
                                          + [config["lib"], config["impl"]],
                                          write=[config["scratch"]]))
    if missing:
        end_before_student_code({"layers": layers, "missing": missing})
    os.chdir(config["scratch"])
    os.environ["TMPDIR"] = config["scratch"]
    sys.path[:] = [config["impl"]] + [p for p in sys.path if p and p != config["scratch"]]

    codec = ChildCodec()
    server = Server(Channel(proto_in, proto_out, serve=lambda f: SERVER.serve(f)), codec,
                    config["package"])
    server.channel.outgoing = server.outgoing
    SERVER = server
    hello: dict[str, Any] = {"layers": layers, "pid": os.getpid()}
    try:
        module = importlib.import_module(config["package"])
        hello["ok"] = {"file": getattr(module, "__file__", None)}
    except BaseException as exc:  # noqa: BLE001 - the import error is the student's
        hello["err"] = codec.encode_exception(exc)
    server.channel.send(hello)
    while True:
        try:
            frame = server.channel.recv()
        except ProtocolError:
            os._exit(0)                           # the grader closed the pipe: we are done
        server.channel.send(server.serve(frame))


if __name__ == "__main__":
    main()
