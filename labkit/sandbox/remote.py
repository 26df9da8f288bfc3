"""What the graders hold in ``--sandbox`` mode: proxies of the objects living in the child.

* ``RemoteModule``: the lab package. Attribute reads go to the child; classes and functions come
  back as proxies that survive a restart of the child (they are found again by module and name).
* ``RemoteNode``: a ``labkit.Node`` the simulator constructs and drives as usual. Each handler
  call sends the event to the child and applies the actions the real node took there (sends,
  replies, timers, log lines, applies, storage writes) to the real runtime, in order; an
  exception comes back and is raised here with the student's file and line. Any other attribute
  (``raft_state()``, ``peek(key)``, ``count``) is read from the child.
* ``RemoteObject``: any other student object (a circuit breaker, a hash ring); methods, attributes
  and special methods are forwarded. The grader's objects passed in (a fake clock, a function,
  a ``random.Random``) are lent by reference: the child calls back.
"""

from __future__ import annotations

import functools
import json
import linecache
import os
import random
import site
import sys
import sysconfig
import types
import weakref
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import ContractError, GraderBug, StudentCodeError
from ..node import Node, Request
from ..simulator import describe_event
from .protocol import TAG, Codec, ProtocolError, class_tag, loads_exact
from .tracebacks import fake_traceback

if TYPE_CHECKING:  # pragma: no cover
    from .process import Sandbox


def _loads(data: str) -> Any:
    try:
        return loads_exact(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"an action whose payload is not JSON ({str(exc)[:80]})") from None


# Special methods a proxy class forwards when the student's class defines them: only calling
# it (a named call whose result travels as data; iteration is always forwarded, the child
# turning the object into a list). Never ``__eq__``, ``__hash__``, ``__bool__``, ``__len__``,
# ``__str__`` and the like: the grader compares and prints values, and a proxy of a student
# object is no value (it is equal to itself only, true, and shown as what it is), so an object
# that "equals everything" earns nothing.
SPECIAL_NAMES = frozenset(("__call__",))
MAX_LOG = 2000           # characters of one log line of a node kept in the trace
MAX_TEXT = 4000          # characters of an exception's message (and of each text argument)


class SandboxCrash(StudentCodeError):
    """The sandboxed process died, went silent or broke the protocol while running student
    code. Always a failure of the test it happened in."""


class StaleObject(StudentCodeError):
    """An object of a sandboxed process that has been stopped since (after an earlier crash)."""


# What student code may hold a reference to: everything it holds, it may read the public
# attributes of and call (and it can forge a frame naming any reference), so each of these must
# lead only to more of the same. The graders' (and tests') own objects and classes, plain
# functions and methods (no public attributes), ``object()`` sentinels and ``random.Random``;
# never a module, nor anything of the standard library, an installed package or labkit (a path,
# a file, a simulation's internals: a module holding ``os`` is one public attribute away from
# running a command as the grader).
LENDABLE_TYPES = frozenset((object, random.Random, types.FunctionType, types.MethodType,
                            types.BuiltinFunctionType, types.BuiltinMethodType,
                            types.MethodWrapperType, types.WrapperDescriptorType,
                            types.MethodDescriptorType, types.ClassMethodDescriptorType,
                            functools.partial))
_LIBRARIES = tuple(sorted({os.path.realpath(p) + os.sep for p in (
    *(sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")),
    *getattr(site, "getsitepackages", list)(), getattr(site, "USER_SITE", None),
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) if p}))


@functools.lru_cache(maxsize=1024)   # once per class: its file's path is looked up on disk
def lendable(cls: type) -> bool:
    """May an instance of ``cls`` (a class, for a class itself) be lent to the child? Yes for
    ``LENDABLE_TYPES`` and for classes defined in a file of the graders or the tests: one
    outside the standard library, the installed packages and labkit."""
    if cls in LENDABLE_TYPES:
        return True
    if issubclass(cls, ModuleType):
        return False
    file = getattr(sys.modules.get(getattr(cls, "__module__", "") or ""), "__file__", None)
    return bool(file) and not os.path.realpath(file).startswith(_LIBRARIES)


# ----- the codec of the trusted side -------------------------------------------------------------

class ParentCodec(Codec):
    def __init__(self, sandbox: "Sandbox", gen: int):
        super().__init__()
        self.sandbox = sandbox
        self.gen = gen
        self._lent: list[int] = []          # refs of callback results, oldest first

    def lend_result(self, value: Any) -> int:
        """A reference for a container a grader callback returned (the child sends it back as
        that reference if student code returns the very object); the last few are kept."""
        ref = self.reserve()
        self.bind_ref(ref, value)
        self._lent.append(ref)
        if len(self._lent) > 4096:
            self.drop([self._lent.pop(0)])
        return ref

    # -- encoding: what we send to the child --

    def encode_other(self, v: Any) -> Any:
        if isinstance(v, RemoteFunction) and v._lk_path is not None:
            return {TAG: "cp", "mod": v._lk_path[0], "qual": v._lk_path[1]}
        if isinstance(v, (RemoteObject, RemoteNode, RemoteFunction)):
            return {TAG: "r", "ref": v._lk_ref_in(self.gen)}
        if isinstance(v, RemoteModule):
            return {TAG: "cp", "mod": v.__name__, "qual": ""}
        if isinstance(v, type):
            info = v.__dict__.get("_lk_info")
            if info is not None:
                if info.get("path"):
                    return {TAG: "cp", "mod": info["mod"], "qual": info["qual"]}
                if v.__dict__.get("_lk_gen") != self.gen:
                    raise stale(info.get("name", "class"))
                return {TAG: "r", "ref": info["ref"]}
            tag = class_tag(v)
            if tag is not None:
                return tag
            if not (issubclass(v, BaseException) or lendable(v)):
                raise GraderBug(f"a grader handed student code the class {v.__module__}."
                                f"{v.__qualname__}; the sandbox lends only exception classes "
                                f"and the graders' own classes (see remote.lendable)")
            out = {TAG: "c", "ref": self.export(v), "name": v.__name__,
                   "kind": "exc" if issubclass(v, BaseException) else "plain"}
            if issubclass(v, BaseException):
                out["bases"] = [self.encode(b) for b in v.__bases__
                                if issubclass(b, BaseException)]
            return out
        if isinstance(v, BaseException):
            ref = getattr(v, "_lk_cref", None)
            if ref is not None and getattr(v, "_lk_gen", None) == self.gen:
                return {TAG: "r", "ref": ref}
            return {TAG: "x", "cls": self.encode(type(v)), "args": self.encode(list(v.args)),
                    "str": str(v), "ref": self.export(v)}
        plain = self.encode_plainish(v)
        if plain is not NotImplemented:
            return plain
        if not lendable(type(v)):
            raise GraderBug(f"a grader handed student code a {type(v).__module__}."
                            f"{type(v).__qualname__}; the sandbox lends only the graders' own "
                            f"objects, functions and random.Random (see remote.lendable)")
        return {TAG: "o", "ref": self.export(v), "name": type(v).__name__}

    # -- decoding: what the child sends us --

    def decode_other(self, kind: str, v: dict) -> Any:
        if kind == "r":
            return self.lookup(v.get("ref"))
        if kind == "o":
            ref = v.get("ref")
            proxy = self.proxies.get(ref)
            if proxy is not None:
                return proxy
            cls = self.decode(v.get("cls"))
            if not (isinstance(cls, type) and issubclass(cls, (RemoteObject, RemoteNode))):
                cls = self.sandbox.mirror_class({TAG: "c", "ref": -1, "name": "object",
                                                 "mod": "?", "qual": "object", "kind": "plain"},
                                                self.gen)
            return self.bind(cls.__new__(cls), ref)
        if kind == "fn":
            ref = v.get("ref")
            proxy = self.proxies.get(ref)
            if proxy is None:
                proxy = self.bind(RemoteFunction(self.sandbox, str(v.get("name")),
                                                 (v.get("mod"), v.get("qual")) if v.get("path")
                                                 else None), ref)
            return proxy
        if kind == "c":
            return self.sandbox.mirror_class(v, self.gen)
        if kind == "m":
            return self.sandbox.module_proxy(str(v.get("name")))
        if kind == "x":
            return self.sandbox.rebuild_exception(v, self)
        if kind == "method":
            raise ProtocolError("a method marker where a value was expected")
        raise ProtocolError(f"unknown value tag {kind!r}")

    def bind(self, proxy: Any, ref: Any) -> Any:
        if type(ref) is not int:
            raise ProtocolError(f"a bad object reference {ref!r}")
        object.__setattr__(proxy, "_lk_ref", ref)
        object.__setattr__(proxy, "_lk_gen", self.gen)
        object.__setattr__(proxy, "_lk_sandbox", self.sandbox)
        return self.remember(ref, proxy)


def stale(what: str) -> StaleObject:
    return StaleObject(f"this {what} belonged to a sandboxed process that was stopped after an "
                       f"earlier failure; it cannot be used any more")


# ----- proxies -----------------------------------------------------------------------------------

class _Bound:
    """Shared by proxies of one child object: its reference and generation."""

    _lk_ref: int
    _lk_gen: int
    _lk_sandbox: "Sandbox"

    def _lk_ref_in(self, gen: int) -> int:
        if self._lk_gen != gen:
            raise stale(type(self).__name__ + " object")
        return self._lk_ref

    def _lk_callm(self, name: str, args: tuple, kwargs: dict) -> Any:
        return self._lk_sandbox.call({"op": "callm", "obj": self, "name": name, "a": args,
                                      "kw": kwargs})

    def _lk_getattr(self, name: str) -> Any:
        if name.startswith("_lk_") or name in ("__getstate__", "__deepcopy__", "__copy__"):
            raise AttributeError(name)
        return self._lk_sandbox.call({"op": "getattr", "obj": self, "name": name})


def _method(name: str):
    def method(self, *args: Any, **kwargs: Any) -> Any:
        return self._lk_callm(name, args, kwargs)
    method.__name__ = name
    return method


class RemoteMeta(type):
    """Metaclass of proxy classes of plain student classes: calling the class builds the
    object in the child; reading a class attribute reads it there."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        base = next(k for k in cls.__mro__ if "_lk_info" in k.__dict__)
        sb: "Sandbox" = base._lk_sandbox
        obj = sb.call({"op": "call", "obj": base, "a": args, "kw": kwargs})
        if cls is not base and isinstance(obj, base) and type(obj) is base:
            object.__setattr__(obj, "__class__", cls)   # a grader's subclass of the proxy
        return obj

    def __getattr__(cls, name: str) -> Any:
        info = cls.__dict__.get("_lk_info")
        if info is None or name.startswith("_lk_") or name.startswith("__"):
            raise AttributeError(name)
        return cls._lk_sandbox.call({"op": "getattr", "obj": cls, "name": name})


class RemoteNodeMeta(type):
    """Metaclass of proxy classes of node classes: class attributes are read in the child."""

    def __getattr__(cls, name: str) -> Any:
        info = cls.__dict__.get("_lk_info")
        if info is None or name.startswith("_lk_") or name.startswith("__"):
            raise AttributeError(name)
        return cls._lk_sandbox.call({"op": "getattr", "obj": cls, "name": name})


class RemoteObject(_Bound, metaclass=RemoteMeta):
    """A proxy of a plain student object (see the module docstring)."""

    def __getattr__(self, name: str) -> Any:
        return self._lk_getattr(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_lk_"):
            object.__setattr__(self, name, value)
            return
        self._lk_sandbox.call({"op": "setattr", "obj": self, "name": name, "v": value})

    def __iter__(self):
        return iter(self._lk_sandbox.call({"op": "iter", "obj": self}))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object of the submission>"

    __str__ = __repr__


class RemoteFunction(_Bound):
    """A proxy of a student function (module-level ones survive a restart of the child)."""

    def __init__(self, sandbox: "Sandbox", name: str, path: tuple | None):
        object.__setattr__(self, "_lk_sandbox", sandbox)
        self.__name__ = name
        self._lk_path = path

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._lk_sandbox.call({"op": "call", "obj": self, "a": args, "kw": kwargs})

    def __repr__(self) -> str:
        return f"<student function {self.__name__} (sandboxed)>"


class RemoteModule(ModuleType):
    """The lab package as the graders see it in ``--sandbox`` mode."""

    def __init__(self, sandbox: "Sandbox", name: str, file: str | None):
        super().__init__(name)
        self._lk_sandbox = sandbox
        self._lk_cache: dict[str, Any] = {}
        if file:
            self.__file__ = file

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name not in ("__all__", "__version__"):
            raise AttributeError(name)
        if name in self._lk_cache:
            return self._lk_cache[name]
        value = self._lk_sandbox.call({"op": "getattr", "obj": self, "name": name})
        if isinstance(value, (type, RemoteFunction, RemoteModule)) or \
                isinstance(value, (str, int, float, bool, tuple, frozenset)) or value is None:
            self._lk_cache[name] = value            # stable: classes, functions, constants
        return value

    def __repr__(self) -> str:
        # As a module prints itself: a failure message that shows the lab (Hypothesis prints
        # the ``lab`` argument of a falsifying example) reads the same sandboxed or not.
        file = getattr(self, "__file__", None)
        return f"<module {self.__name__!r} from {file!r}>" if file else \
            f"<module {self.__name__!r}>"


class _Context:
    """Parent-side state of one simulation runtime: the requests delivered to its nodes."""

    _next = 1

    def __init__(self, runtime: Any):
        self.runtime = runtime
        self.id = _Context._next
        _Context._next += 1
        self.requests: dict[int, Request] = {}


_contexts: weakref.WeakValueDictionary[int, _Context] = weakref.WeakValueDictionary()


class RemoteNode(_Bound, Node, metaclass=RemoteNodeMeta):
    """A node whose real object lives in the sandboxed child (see the module docstring)."""

    _lk_newnode: dict = {}   # more fields of the child's "newnode" request (a search's node)

    def __init__(self, node_id: str, peers: tuple[str, ...], runtime: Any, storage: Any,
                 rng: Any):
        Node.__init__(self, node_id, peers, runtime, storage, rng)
        ctx = _contexts.get(id(runtime))
        if ctx is None or ctx.runtime is not runtime:
            ctx = _Context(runtime)
            _contexts[id(runtime)] = ctx
        self._lk_ctx = ctx
        base = next(k for k in type(self).__mro__ if "_lk_info" in k.__dict__)
        sb: "Sandbox" = base._lk_sandbox
        version, internal, gauss = rng.getstate()
        self._lk_writes = storage.writes
        sb.call({"op": "newnode", "cls": base, "id": node_id, "peers": list(peers),
                 "nodes": sorted((node_id, *peers)), "ctx": ctx.id, "storage": storage.raw(),
                 "rng": [version, list(internal), gauss], **self._lk_newnode}, node=self)
        self._lk_writes = storage.writes
        sb.track_context(ctx)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_lk_") or name.startswith("__"):
            raise AttributeError(name)
        return self._lk_getattr(name)

    # -- accessors read after an event (a checker's raft_state(), peek(key)): prefetched --
    #
    # A checker that reads nodes after every event would cost a round trip per read. So each
    # node remembers the calls the grader made (on it, or on another node of the same child)
    # after each of its last RECENT events, and after its next event the child makes those
    # calls too and sends the results with the actions. Only calls whose arguments are all
    # scalars are learnt: they are taken to be accessors, without side effects (every grader's
    # are: raft_state(), peek(key)); a call that changes a node takes more than scalars (Lab
    # 2's snapshot(index, data)) and always goes to the child. A call the grader stops making
    # is dropped after RECENT events.
    #
    # A result holds while nothing at all is sent to the child (``Sandbox.prefetched``: the
    # child's state is then exactly what the call would see): read again before that, the
    # call gives the same object, as a call that missed does (``Sandbox.read``). A result equal
    # to what the same call gave after the node's previous event comes back as "the same" (no
    # text to send or decode: a Raft log of a thousand entries costs nothing while it does not
    # change) and is that same object again. Graders treat what accessors return as read-only,
    # as they must in-process, where it is the node's own objects.

    _lk_recent: tuple = ()     # per recent event, newest first: [(cache key, call), ...]
    _lk_watched: list | None = None   # the calls last sent for prefetching after an event

    def _lk_callm(self, name: str, args: tuple, kwargs: dict) -> Any:
        sb = self._lk_sandbox
        key = _watch_key(name, args, kwargs)
        if key is not None and self._lk_gen == sb.gen:
            key = (self._lk_ref, key)
            after = sb.after
            if after is not None and len(after) < MAX_WATCH and \
                    all(k != key for k, _ in after):
                after.append((key, [name, list(args), self._lk_ref]))
            if sb.epoch == sb.prefetched_at:
                hit = sb.prefetched.get(key)
                if hit is not None:
                    if type(hit) is tuple:
                        return hit[0]
                    value = sb.cached_value(hit)
                    sb.prefetched[key] = (value,)
                    return value
            return sb.read(key, {"op": "callm", "obj": self, "name": name, "a": args,
                                 "kw": kwargs})
        return _Bound._lk_callm(self, name, args, kwargs)

    # -- events --

    def on_start(self) -> None:
        self._lk_event("s", [])

    def on_message(self, src: str, msg: dict) -> None:
        self._lk_event("m", [src, msg])

    def on_timer(self, name: str, data: dict) -> None:
        self._lk_event("t", [name, data])

    def on_request(self, request: Request) -> None:
        self._lk_ctx.requests[request.id] = request
        self._lk_event("q", [request.id, request.client, request.body])

    def _lk_event(self, kind: str, args: list) -> None:
        sb = self._lk_sandbox
        frame = {"op": "ev", "n": self._lk_ref, "k": kind, "a": args, "now": self._rt.now,
                 "wt": 1}
        if self.storage.writes != self._lk_writes:        # someone else wrote: resend it all
            frame["sync"] = self.storage.raw()
            self._lk_writes = self.storage.writes
        watch = _watch(self._lk_recent) if self._lk_recent else None
        if watch:
            calls = [call for _, call in watch]
            if calls == self._lk_watched:
                frame["watch"] = 1              # the child keeps the node's last list
            else:
                frame["watch"] = self._lk_watched = calls
        after: list = []
        self._lk_recent = (after, *self._lk_recent[:RECENT - 1])
        sb.after = after
        try:
            sb.event(frame, self._lk_gen, watch)
        except SandboxCrash as crash:
            what = {"s": "on_start", "m": lambda: ("message", args[0], json.dumps(args[1])),
                    "t": lambda: ("timer", args[0]), "q": lambda: ("request", args[2])}[kind]
            event = describe_event(what() if callable(what) else what)
            raise SandboxCrash(f"{crash} (it was running {self.id}'s handler for {event} at "
                               f"t={self._rt.now:.3f}s)", node=self.id, event=event,
                               time=self._rt.now) from None

    def _lk_apply(self, action: list) -> None:
        """Do here what the real node did in the child (one action, in order), after checking
        its shape (``[node, kind, fields...]``, the fields of JSON types the kind says; a
        malformed one is a ``ProtocolError``). What it does is checked by the runtime."""
        kind, n = action[1], len(action)
        rt = self._rt
        if kind == "s" and n == 4 and type(action[2]) is str and type(action[3]) is str:
            rt.send(self.id, action[2], _loads(action[3]))
        elif kind == "t" and n == 5 and type(action[2]) is str and \
                type(action[3]) in (int, float) and type(action[4]) in (str, type(None)):
            rt.set_timer(self.id, action[2], action[3],
                         {} if action[4] is None else _loads(action[4]))
        elif kind == "r" and n == 4 and type(action[2]) is int and type(action[3]) is str:
            request = self._lk_ctx.requests.get(action[2])
            if request is None:
                raise ContractError(f"{self.id} replied to request #{action[2]}, which is not "
                                    f"a client request it received")
            rt.reply(self.id, request, _loads(action[3]))
        elif kind == "c" and n == 3 and type(action[2]) is str:
            rt.cancel_timer(self.id, action[2])
        elif kind == "l" and n == 3 and type(action[2]) is str:
            text = action[2]
            rt.log(self.id, text if len(text) <= MAX_LOG else
                   f"{text[:MAX_LOG]}... ({len(text) - MAX_LOG:,} more characters cut)")
        elif kind == "a" and n == 4 and type(action[3]) is str:
            rt.apply(self.id, action[2], _loads(action[3]))
        elif kind == "p" and n == 4 and type(action[2]) is str and type(action[3]) is str:
            self.storage.put(action[2], _loads(action[3]))
            self._lk_writes = self.storage.writes
        elif kind == "d" and n == 3 and type(action[2]) is str:
            self.storage.delete(action[2])
            self._lk_writes = self.storage.writes
        else:
            raise ProtocolError(f"a malformed action {str(action)[:80]}")


RECENT = 8              # events of a node whose later calls are prefetched after its next one
MAX_WATCH = 64          # calls prefetched after one event


def _watch(recent: tuple) -> list:
    """The ``(key, call)`` to prefetch after a node's event: every call made after one of its
    recent events (``recent``: the lists of ``RemoteNode._lk_recent``), once, the newest
    first; at most ``MAX_WATCH``."""
    out: list = []
    seen: set = set()
    for calls in recent:
        for pair in calls:
            if pair[0] not in seen:
                seen.add(pair[0])
                out.append(pair)
    return out[:MAX_WATCH]


_KEY_TYPES = frozenset((str, int, float, bool, type(None)))


def _watch_key(name: str, args: tuple, kwargs: dict) -> tuple | None:
    """A key for a call whose arguments are plain JSON scalars (what accessors take): its
    name, its arguments and their types (``1``, ``1.0`` and ``True`` are equal otherwise)."""
    if kwargs:
        return None
    if not args:
        return (name,)
    kinds = tuple(map(type, args))
    if not _KEY_TYPES.issuperset(kinds):
        return None
    return (name, args, kinds)


def student_frames(frames: Any, staging: Any) -> list[tuple[str, int, str]]:
    """The frames of an exception reported by the child that are in its copy of the
    submission, with the staging paths turned back into the submission's own paths. The source
    line of each comes from the child (it read its own copy) and is put in ``linecache``, so
    formatting the traceback here never reads a file: a frame naming any other file (the
    grader's, ``/proc/self/environ``) is dropped."""
    out = []
    if not isinstance(frames, list):
        return out
    prefix = str(staging.impl) + os.sep
    for f in frames[-40:]:
        if not (isinstance(f, list) and len(f) in (3, 4) and isinstance(f[0], str)
                and type(f[1]) is int and isinstance(f[2], str)):
            continue
        raw = os.path.normpath(f[0])
        if not raw.startswith(prefix) or not 0 < f[1] <= 20_000:
            continue
        path = staging.to_original(raw)
        line = f[3] if len(f) == 4 and isinstance(f[3], str) else ""
        _remember_line(path, f[1], line[:300])
        out.append((path, f[1], f[2][:100]))
    return out


def _remember_line(path: str, lineno: int, text: str) -> None:
    """Put ``text`` in ``linecache`` as line ``lineno`` of ``path``, as an entry that is never
    checked against the disk (mtime None: ``checkcache`` leaves it alone)."""
    entry = linecache.cache.get(path)
    lines = list(entry[2]) if entry is not None and entry[1] is None else []
    if lineno > len(lines):
        lines += ["\n"] * (lineno - len(lines))
    lines[lineno - 1] = text.replace("\n", " ") + "\n"
    linecache.cache[path] = (sum(map(len, lines)), None, lines, path)


def attach_traceback(exc: BaseException, frames: list[tuple[str, int, str]]) -> BaseException:
    """Give ``exc`` the student's frames; an exception always leaves here with a traceback
    (pytest's ``ExceptionInfo.from_exception`` insists on one)."""
    tb = fake_traceback(frames)
    if tb is None:
        try:
            raise exc
        except BaseException:  # noqa: BLE001 - only to attach this frame as the traceback
            tb = exc.__traceback__
    return exc.with_traceback(tb)


__all__ = ["RemoteModule", "RemoteNode", "RemoteObject", "RemoteFunction", "ParentCodec",
           "SandboxCrash", "StaleObject", "Path"]
