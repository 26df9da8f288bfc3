"""The wire between the trusted grader and the sandboxed child: frames, values and references.

Frames: a 4-byte big-endian length, then one JSON object. A request carries ``"op"``; a reply
carries ``"ok"`` (the value) or ``"err"`` (an exception). Either side may send a request while it
waits for a reply (a callback: student code calling the grader's fake clock, the grader calling
a method of a student object inside that callback), so both sides run the same loop: send, then
read frames, serving requests, until the reply comes. Replies are therefore strictly nested.

Values: JSON data travels as itself. Everything else is a tagged object ``{"__lk__": kind, ...}``:

* ``t`` tuple, ``s`` set, ``fs`` frozenset, ``d`` dict with keys that are not strings, ``f`` a
  float JSON cannot hold (nan, inf), ``y`` bytes;
* ``b`` a builtin class by name, ``lk`` a class of ``labkit.errors`` by name;
* ``o`` an object lent by reference (the receiver gets a proxy), ``c`` a class, ``fn`` a
  function, ``m`` a module, ``x`` an exception (class, args, str, traceback frames);
* ``r`` a reference handed back: an object of the receiver's own, lent earlier.

Rule of the trusted side: it decodes data only. It never unpickles, never imports a module the
child names, and only instantiates builtin exception classes, ``labkit.errors`` classes and the
mirror classes it built itself.
"""

from __future__ import annotations

import base64
import json
import json.encoder
import json.scanner
import math
import os
import select
import struct
import weakref
from collections import deque
from typing import Any, Callable

TAG = "__lk__"
HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024          # a child cannot make the grader allocate more than this
READ_SIZE = 64 * 1024                 # bytes asked for by one read of a frame (see Channel._fill)
MAX_HANDED = 4096                     # containers remembered for identity (Codec.handed)
_ENCODER = json.JSONEncoder(separators=(",", ":"))            # ASCII: no encoding surprises
if json.encoder.c_make_encoder is None:
    _dumps = _ENCODER.encode
else:
    # The same encoder, built once: ``JSONEncoder.encode`` builds one on every call (a third
    # of the cost of a small frame). Without a markers dict a circular value is a
    # RecursionError, not a ValueError; every caller handles both.
    _c_encode = json.encoder.c_make_encoder(
        None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",",
        False, False, True)

    def _dumps(value: Any) -> str:
        return "".join(_c_encode(value, 0))
_loads = json.JSONDecoder().decode
_scan = json.scanner.c_make_scanner(json.JSONDecoder())


def loads_exact(text: str) -> Any:
    """The JSON value ``text`` holds, exactly: no space around it, nothing after it (what our
    own encoder writes). The C scanner without ``json.loads``'s two Python layers and two
    regular-expression matches: a frame and every action of a node event goes through here.
    Raises ``ValueError`` for anything else."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("no JSON value at the start") from None
    if end != len(text):
        raise ValueError(f"extra data after the JSON value (at {end})")
    return value

# Builtin classes a value may name (by "b"); anything else is refused by the decoder.
BUILTIN_TYPES = {t.__name__: t for t in (int, float, str, bool, bytes, list, tuple, dict, set,
                                         frozenset, object, type(None), complex, range)}


class ProtocolError(Exception):
    """The other side broke the protocol (a garbled frame, a frame too large, an unknown tag)."""


class ChannelClosed(ProtocolError):
    """The other side closed its end: for the grader, the child is gone."""


class ChannelTimeout(ProtocolError):
    """No frame arrived in time."""


# ----- frames ------------------------------------------------------------------------------------

class Channel:
    """Frames over two file descriptors, and the nested request loop.

    ``serve(frame) -> reply frame`` answers the other side's requests. ``timeout`` (seconds, or
    None) bounds every wait for a frame."""

    def __init__(self, rfd: int, wfd: int, serve: Callable[[dict], dict],
                 timeout: float | None = None, max_frame: int = MAX_FRAME,
                 outgoing: Callable[[], dict] | None = None,
                 alive: Callable[[], bool] | None = None):
        self.rfd = rfd
        self.wfd = wfd
        self.serve = serve
        self.timeout = timeout
        self.max_frame = max_frame
        self.outgoing = outgoing      # extra fields to piggyback on every frame sent
        self.alive = alive            # is the other side still running? (checked while waiting)
        self._buf = bytearray()
        self._nonblocking = False     # rfd is made non-blocking on the first wait with a timeout

    def send(self, frame: dict) -> None:
        if self.outgoing is not None:
            extra = self.outgoing()
            if extra:
                frame.update(extra)
        data = _dumps(frame).encode("ascii")
        data = HEADER.pack(len(data)) + data
        n = os.write(self.wfd, data)
        while n < len(data):
            data = data[n:]
            n = os.write(self.wfd, data)

    def recv(self) -> dict:
        buf = self._buf
        while True:
            if len(buf) >= 4:
                size = (buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]
                if size > self.max_frame:
                    raise ProtocolError(f"a frame of {size:,} bytes, more than the limit of "
                                        f"{self.max_frame:,}")
                if len(buf) >= 4 + size:
                    body = bytes(buf[4:4 + size])
                    del buf[:4 + size]
                    break
                self._fill(4 + size - len(buf))
                continue
            self._fill(4 - len(buf))
        try:
            frame = loads_exact(body.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"a frame that is not JSON ({str(exc)[:100]})") from None
        if type(frame) is not dict:
            raise ProtocolError("a frame that is not a JSON object")
        return frame

    def request(self, frame: dict) -> dict:
        """Send a request and return its reply, serving nested requests meanwhile."""
        self.send(frame)
        while True:
            reply = self.recv()
            if "op" in reply:
                self.send(self.serve(reply))
            else:
                return reply

    def _fill(self, missing: int) -> None:
        """Read what is available (waiting at most ``timeout``) into the buffer, asking for the
        ``missing`` bytes of the frame being read but for no less than ``READ_SIZE``. (Never for
        a fixed megabyte: ``os.read`` allocates what it is asked for, and a megabyte costs about
        20 us each time, a quarter of a whole round trip.)"""
        size = max(missing, READ_SIZE)
        if self.timeout is None:
            if self._nonblocking:
                os.set_blocking(self.rfd, True)
                self._nonblocking = False
            chunk = os.read(self.rfd, size)
        else:
            # Read what is there already (the other side usually wrote its reply while we
            # were writing: same CPU); otherwise wait in slices: a dead peer whose pipe is
            # held open by a process it forked would otherwise look merely silent until the
            # timeout.
            if not self._nonblocking:
                os.set_blocking(self.rfd, False)
                self._nonblocking = True
            try:
                chunk = os.read(self.rfd, size)
            except BlockingIOError:
                waited = 0.0
                while not select.select([self.rfd], [], [],
                                        min(0.5, self.timeout - waited))[0]:
                    waited += 0.5
                    if self.alive is not None and not self.alive():
                        raise ChannelClosed("the other end is gone") from None
                    if waited >= self.timeout:
                        raise ChannelTimeout(f"no answer within {self.timeout:g} s") from None
                chunk = os.read(self.rfd, size)
        if not chunk:
            raise ChannelClosed("the other end closed the channel")
        self._buf += chunk


# ----- values ------------------------------------------------------------------------------------

class Codec:
    """Turns values into JSON data and back, lending objects by reference.

    ``exported``: our objects the other side holds proxies of (ref -> object). ``proxies``: the
    other side's objects we hold proxies of (ref -> proxy, weakly). When one of our proxies dies,
    its ref is queued in ``released`` and sent with the next frame, so the other side can drop
    the object."""

    def __init__(self) -> None:
        self.exported: dict[int, Any] = {}
        self._ref_of: dict[int, int] = {}        # id(obj) -> ref, while exported
        self._next_ref = 1
        self.proxies: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self.released: deque[int] = deque()
        # Containers the other side handed us as the result of a call, by id: handed back,
        # they travel as a reference to the other side's own object, so that "returns what
        # fn returned" holds by identity (``result is value``), as in-process.
        self.handed: dict[int, tuple[Any, int]] = {}

    def keep_handed(self, value: Any, ref: Any) -> None:
        if type(value) in (list, dict, set) and type(ref) is int:
            self.handed[id(value)] = (value, ref)
            while len(self.handed) > MAX_HANDED:
                del self.handed[next(iter(self.handed))]

    def _handed_ref(self, v: Any) -> Any:
        entry = self.handed.get(id(v))
        return {TAG: "r", "ref": entry[1]} if entry is not None and entry[0] is v else None

    # -- references --

    def export(self, obj: Any) -> int:
        ref = self._ref_of.get(id(obj))
        if ref is not None and self.exported.get(ref) is obj:
            return ref
        ref = self._next_ref
        self._next_ref += 1
        self.exported[ref] = obj
        self._ref_of[id(obj)] = ref
        return ref

    def reserve(self) -> int:
        """A reference number for an object about to be made (see ``bind_ref``)."""
        ref = self._next_ref
        self._next_ref += 1
        return ref

    def bind_ref(self, ref: int, obj: Any) -> None:
        self.exported[ref] = obj
        self._ref_of[id(obj)] = ref

    def lookup(self, ref: Any) -> Any:
        """Our own object that the other side refers to."""
        try:
            return self.exported[ref]
        except (KeyError, TypeError):
            raise ProtocolError(f"a reference to an unknown object ({ref!r})") from None

    def drop(self, refs: list) -> None:
        """The other side no longer holds these of our objects."""
        for ref in refs:
            obj = self.exported.pop(ref, None)
            if obj is not None and self._ref_of.get(id(obj)) == ref:
                del self._ref_of[id(obj)]

    def remember(self, ref: int, proxy: Any) -> Any:
        """Register ``proxy`` for the other side's ``ref``; tell them when it dies."""
        self.proxies[ref] = proxy
        weakref.finalize(proxy, self.released.append, ref)
        return proxy

    def take_released(self) -> list[int]:
        out = []
        while self.released:
            out.append(self.released.popleft())
        return out

    # -- encoding --

    def encode(self, v: Any) -> Any:
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            return v
        if t is float:
            return v if math.isfinite(v) else {TAG: "f", "v": repr(v)}
        if self.handed and (t is list or t is dict or t is set):
            ref = self._handed_ref(v)
            if ref is not None:
                return ref
        if t is list:
            return [self.encode(x) for x in v]
        if t is dict:
            if TAG not in v and all(type(k) is str for k in v):
                return {k: self.encode(x) for k, x in v.items()}
            return {TAG: "d", "v": [[self.encode(k), self.encode(x)] for k, x in v.items()]}
        if t is tuple:
            return {TAG: "t", "v": [self.encode(x) for x in v]}
        if t is set or t is frozenset:
            return {TAG: "s" if t is set else "fs", "v": [self.encode(x) for x in v]}
        if t is bytes:
            return {TAG: "y", "v": base64.b64encode(v).decode("ascii")}
        return self.encode_other(v)

    def encode_fast(self, v: Any) -> tuple[Any, bool]:
        """``(payload, plain)``: a value that is plain JSON already (no tuple, no set, no
        non-string key, no special float, no tag) travels as itself, checked at C speed
        (dump, load, compare); anything else is encoded by ``encode``."""
        if type(v) in (dict, list) and not (self.handed and self._handed_ref(v)):
            try:
                text = _dumps(v)
                if '"__lk__"' not in text and _loads(text) == v:
                    return v, True
            except (TypeError, ValueError, RecursionError):
                pass
        return self.encode(v), False

    def encode_other(self, v: Any) -> Any:  # pragma: no cover - each side defines it
        raise NotImplementedError

    def encode_plainish(self, v: Any) -> Any:
        """Subclasses of the plain types (an IntEnum, an OrderedDict, a namedtuple, a deque)
        travel as the plain type; returns ``NotImplemented`` for anything else."""
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return self.encode(float(v))
        if isinstance(v, str):
            return str(v)
        if isinstance(v, dict):
            return self.encode(dict(v))
        if isinstance(v, tuple):
            return self.encode(tuple(v))
        if isinstance(v, (list, deque, type({}.keys()), type({}.values()), type({}.items()))):
            return self.encode(list(v))
        if isinstance(v, frozenset):
            return self.encode(frozenset(v))
        if isinstance(v, set):
            return self.encode(set(v))
        return NotImplemented

    # -- decoding --

    def decode(self, v: Any) -> Any:
        t = type(v)
        if t is list:
            return [self.decode(x) for x in v]
        if t is dict:
            kind = v.get(TAG)
            if kind is None:
                return {k: self.decode(x) for k, x in v.items()}
            return self.decode_tagged(kind, v)
        return v

    def decode_tagged(self, kind: str, v: dict) -> Any:
        if kind == "t":
            return tuple(self.decode(x) for x in v["v"])
        if kind == "d":
            out = {}
            for k, x in v["v"]:
                out[self.decode(k)] = self.decode(x)
            return out
        if kind == "s":
            return {self.decode(x) for x in v["v"]}
        if kind == "fs":
            return frozenset(self.decode(x) for x in v["v"])
        if kind == "f":
            text = v["v"]
            if text not in ("nan", "inf", "-inf"):
                raise ProtocolError(f"a bad float {text!r}")
            return float(text)
        if kind == "y":
            return base64.b64decode(v["v"])
        if kind == "b":
            return builtin_class(v["name"])
        if kind == "lk":
            return labkit_error_class(v["name"])
        return self.decode_other(kind, v)

    def decode_other(self, kind: str, v: dict) -> Any:  # pragma: no cover - each side defines it
        raise ProtocolError(f"unknown value tag {kind!r}")


def builtin_class(name: Any) -> type:
    """A builtin exception class or a plain builtin type, by name; nothing else."""
    import builtins

    cls = BUILTIN_TYPES.get(name) if isinstance(name, str) else None
    if cls is None and isinstance(name, str):
        candidate = getattr(builtins, name, None)
        if isinstance(candidate, type) and issubclass(candidate, BaseException):
            cls = candidate
    if cls is None:
        raise ProtocolError(f"{name!r} is not a builtin class the sandbox passes")
    return cls


def labkit_error_class(name: Any) -> type:
    from .. import errors

    cls = getattr(errors, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, errors.LabkitError)):
        raise ProtocolError(f"{name!r} is not a labkit error class")
    return cls


def class_tag(cls: type) -> dict | None:
    """The by-name tag of a builtin or labkit error class, or None for any other class."""
    if cls.__module__ == "builtins" and BUILTIN_TYPES.get(cls.__name__) is cls:
        return {TAG: "b", "name": cls.__name__}
    if cls.__module__ == "builtins" and issubclass(cls, BaseException):
        return {TAG: "b", "name": cls.__name__}
    if cls.__module__ == "labkit.errors":
        return {TAG: "lk", "name": cls.__name__}
    return None
