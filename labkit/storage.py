"""Durable storage: the part of a node's state that survives a crash.

A ``Storage`` belongs to a node id, not to a node object: when a node crashes, its Python object
(and every attribute on it) is thrown away, and the restarted node gets a fresh object over the
same ``Storage``. Values are copied through JSON on the way in and on the way out, exactly like
messages, so nothing a node keeps in memory can alias what is on "disk":

    self.storage.put("term", 3)
    self.storage.get("term", 0)        # -> 3, a fresh copy every time
    self.storage["log"] = [...]         # same as put
    "log" in self.storage               # -> True

JSON rules apply: tuples come back as lists and dict keys come back as strings.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from .errors import ContractError
from .jsoncopy import dumps, encode, loads, scan

_MISSING = object()


def to_json(value: Any, what: str) -> str:
    """Serialise ``value`` compactly, or raise ContractError naming the field that is not JSON."""
    try:
        return dumps(value)
    except (TypeError, ValueError, RecursionError):
        pass
    try:  # the fast encoder's errors are terse: ask json for its own description
        json.dumps(value, allow_nan=False)
        problem = "it cannot be serialised"
    except (TypeError, ValueError, RecursionError) as exc:
        problem = str(exc)
    path = _first_non_json(value, "")
    where = f" (field {path})" if path else ""
    raise ContractError(f"{what} is not JSON{where}: {problem}. Use only dict, list, str, int, "
                        f"float, bool and None.")


def _first_non_json(value: Any, path: str) -> str:
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                return f"{path}[{k!r}] (key)"
            found = _first_non_json(v, f"{path}[{k!r}]")
            if found:
                return found
        return ""
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _first_non_json(v, f"{path}[{i}]")
            if found:
                return found
        return ""
    if value is None or isinstance(value, (str, int, bool)):
        return ""
    if isinstance(value, float):
        return path or "<value>" if value != value or value in (float("inf"), float("-inf")) else ""
    return f"{path or '<value>'} = {type(value).__name__}"


class Storage:
    """A node's durable key-value store. Keys are strings; values are JSON data."""

    #: ``fn(key)`` called before each write lands, and after (trigger faults set them:
    #: ``labkit.faults.CrashAtWrite`` raises from ``before_write``, so the write never lands)
    before_write: Any = None
    after_write: Any = None

    def __init__(self, owner: str):
        self.owner = owner
        self._data: dict[str, str] = {}
        self.writes = 0

    def put(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise ContractError(f"storage keys are strings; {self.owner} used {key!r}")
        try:
            data = "".join(encode(value, 0))   # dumps, inlined: the hot path of every write
        except (TypeError, ValueError, RecursionError):
            data = to_json(value, f"the value stored under {key!r} by {self.owner}")  # raises
        if self.before_write is not None:
            self.before_write(key)
        self._data[key] = data
        self.writes += 1
        self._written(key)
        if self.after_write is not None:
            self.after_write(key)

    def get(self, key: str, default: Any = None) -> Any:
        raw = self._data.get(key, _MISSING)
        if raw is _MISSING:
            return default
        return scan(raw, 0)[0]

    def delete(self, key: str) -> None:
        if key in self._data and self.before_write is not None:
            self.before_write(key)
        if self._data.pop(key, None) is not None:
            self.writes += 1
            self._written(key)
            if self.after_write is not None:
                self.after_write(key)

    def keys(self) -> list[str]:
        return list(self._data)

    def __setitem__(self, key: str, value: Any) -> None:
        self.put(key, value)

    def __getitem__(self, key: str) -> Any:
        raw = self._data[key]
        return loads(raw)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def snapshot(self) -> dict[str, Any]:
        """A plain copy of everything stored (for graders and traces)."""
        return {k: json.loads(v) for k, v in self._data.items()}

    def load(self, raw: dict[str, str]) -> None:
        """Replace the contents with already-serialised values (used by the live runtime)."""
        self._data = dict(raw)

    def raw(self) -> dict[str, str]:
        return dict(self._data)

    def _written(self, key: str) -> None:
        """Hook for runtimes that must make a write durable (the live runtime syncs a file)."""
