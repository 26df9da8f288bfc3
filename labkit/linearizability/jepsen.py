"""Parsers for two formats of real histories recorded by Jepsen-style test harnesses.

Both turn a log into ``Op`` values. A log has no clock, so the line number of an event is its
time: an operation is called at the line of its ``:invoke`` and returns at the line of its
completion. Completions:

* ``:ok``: the operation happened, with the logged result;
* ``:fail``: it did not take effect. For a compare-and-set, Jepsen logs ``:fail`` when the
  compare did not match, which is still an observation ("the value was not ``from``"), so a
  failed cas becomes an ``ok`` operation with output ``{"ok": False}``. Any other ``:fail``
  becomes status ``"fail"``;
* ``:info``: the outcome is unknown (a timeout): status ``"unknown"``. So is an invocation that
  never completes before the log ends.

``parse_etcd_log`` reads the etcd logs (``INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]``) for
``cas_register_model``; ``parse_kv_log`` reads one EDN map per line
(``{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}``) for
``KVModel(missing="")``, as that store answers "" for a key never written.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .model import FAIL, OK, UNKNOWN, Op

_ETCD_LINE = re.compile(r"INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s*(.*?)\s*$")
_EDN_PAIR = re.compile(r':([\w?!-]+)\s+("(?:[^"\\]|\\.)*"|:[\w?!-]+|-?\d+|nil|true|false)')


class HistoryFormatError(ValueError):
    """A line of a history log could not be understood."""


def parse_etcd_log(text: str) -> list[Op]:
    """Operations of a Jepsen etcd log, for ``cas_register_model`` (values are ints)."""
    events = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _ETCD_LINE.match(line)
        if not match:
            raise HistoryFormatError(f"line {lineno}: not a jepsen.util event: {line!r}")
        process, kind, f, value = match.groups()
        events.append((lineno, int(process), kind, f, _etcd_value(value, lineno)))
    return _pair(events, _etcd_input, _etcd_output)


def parse_kv_log(text: str) -> list[Op]:
    """Operations of an EDN key-value log (get, put, append), for ``KVModel(missing="")``."""
    events = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = {name: _edn_value(raw) for name, raw in _EDN_PAIR.findall(line)}
        if not {"process", "type", "f"} <= fields.keys():
            raise HistoryFormatError(f"line {lineno}: expected an EDN map with :process, :type "
                                     f"and :f; got {line!r}")
        events.append((lineno, fields["process"], fields["type"], fields["f"],
                       (fields.get("key"), fields.get("value"))))
    return _pair(events, _kv_input, _kv_output)


def _pair(events: list, make_input: Callable, make_output: Callable) -> list[Op]:
    """Match each invocation with its process's next completion."""
    open_calls: dict[Any, tuple[int, str, Any]] = {}
    done: list[tuple[int, Op]] = []
    for lineno, process, kind, f, value in events:
        if kind == "invoke":
            if process in open_calls:
                raise HistoryFormatError(f"line {lineno}: process {process} invokes again "
                                         f"before its previous operation completed")
            open_calls[process] = (lineno, f, make_input(f, value))
            continue
        if process not in open_calls:
            raise HistoryFormatError(f"line {lineno}: process {process} completes an operation "
                                     f"it never invoked")
        call, call_f, inp = open_calls.pop(process)
        if kind == "ok":
            op = Op(process, inp, make_output(f, value, True), call, lineno, OK)
        elif kind == "fail" and call_f == "cas":
            op = Op(process, inp, {"ok": False}, call, lineno, OK)
        elif kind == "fail":
            op = Op(process, inp, None, call, lineno, FAIL)
        elif kind == "info":
            op = Op(process, inp, None, call, None, UNKNOWN)
        else:
            raise HistoryFormatError(f"line {lineno}: unknown event type {kind!r}: expecting "
                                     f"invoke, ok, fail or info")
        done.append((call, op))
    for process, (call, _, inp) in open_calls.items():     # never completed: unknown
        done.append((call, Op(process, inp, None, call, None, UNKNOWN)))
    done.sort(key=lambda pair: pair[0])
    return [op for _, op in done]


def _etcd_value(text: str, lineno: int) -> Any:
    if text in ("nil", ""):
        return None
    if text.startswith(":"):
        return text                                  # e.g. :timed-out on an :info line
    if text.startswith("["):
        return tuple(int(x) for x in text.strip("[]").split())
    try:
        return int(text)
    except ValueError:
        raise HistoryFormatError(f"line {lineno}: cannot read value {text!r}") from None


def _etcd_input(f: str, value: Any) -> dict:
    if f == "read":
        return {"op": "read"}
    if f == "write":
        return {"op": "write", "value": value}
    if f == "cas":
        return {"op": "cas", "from": value[0], "to": value[1]}
    raise HistoryFormatError(f"unknown etcd operation {f!r}: expecting read, write or cas")


def _etcd_output(f: str, value: Any, ok: bool) -> dict:
    if f == "read":
        return {"value": value}
    if f == "cas":
        return {"ok": ok}
    return {}


def _edn_value(raw: str) -> Any:
    if raw.startswith('"'):
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    if raw.startswith(":"):
        return raw[1:]
    if raw == "nil":
        return None
    if raw in ("true", "false"):
        return raw == "true"
    return int(raw)


def _kv_input(f: str, value: Any) -> dict:
    key, val = value
    if f == "get":
        return {"op": "get", "key": key}
    if f in ("put", "append"):
        return {"op": f, "key": key, "value": val}
    raise HistoryFormatError(f"unknown key-value operation {f!r}: expecting get, put or append")


def _kv_output(f: str, value: Any, ok: bool) -> dict:
    return {"value": value[1]} if f == "get" else {}
