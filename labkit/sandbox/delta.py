"""What changed in an accessor's result since the grader last had it, sent as a delta.

A Raft node's ``raft_state()`` holds its whole log, and the graders read it after every
event. Sent whole, a log of a thousand entries costs the child a JSON dump and the grader a
JSON parse after every event, for an answer that mostly gained an entry or two. So the child
keeps a copy of the last result it sent for each prefetched call (``Server.sent``), and when
both that copy and the new result are dicts with string keys (or both lists), it sends only
what changed (``diff``); the grader builds the new result from the one it holds (``patch``):

    {"=": {key: text}, "+": {key: [n, text]}, "-": [key, ...]}      (a dict)
    {"*": [n, text]}                                                (a list)

``=``: the key's new value, as JSON text; ``+``: the key holds a list that kept its first
``n`` items and then has the items of ``text`` (a Raft log that grew by one entry sends that
entry only); ``-``: keys gone; ``*``: a result that is a list, grown or cut the same way.
The result the grader built is a new dict (and a new list for a key that changed), sharing
the unchanged items with the old result: graders treat accessor results as read-only, as
they must in-process, where they get the node's own objects.

What is sent is exactly what a JSON copy of the new result would hold (each new value is
dumped, parsed back and compared with the original; a value that does not survive that, a
tuple or a set, makes ``diff`` give up and the whole result travels as before), with one
limit, stated: what did not change is found with ``==`` (in C: an unchanged log costs one
comparison), so a list item or a value nested in a field, changed in place to an equal value
of another type (``1`` to ``True`` or ``1.0``), is not seen; the type of each field is.

Nothing here trusts the child: ``patch`` checks the shape of what it applies (a malformed
delta raises ``ValueError``, a protocol breach for the grader).
"""

from __future__ import annotations

from typing import Any

from .protocol import _dumps
from .protocol import loads_exact as _loads
_SCALARS = (str, int, bool, type(None))
_MISSING = object()


def copy_of(value: Any) -> Any:
    """A JSON copy of ``value`` with its text, ``(copy, text)``, or None if ``value`` is not
    exactly JSON data (a tuple, a set, a key that is not a string, a tagged dict)."""
    try:
        text = _dumps(value)
    except (TypeError, ValueError, RecursionError):
        return None
    if '"__lk__"' in text:
        return None
    copy = _loads(text)
    return (copy, text) if copy == value else None


def _kept(old: list, new: list) -> int:
    """How many leading items ``new`` shares with ``old`` (compared with ``==``)."""
    n = len(old)
    if len(new) >= n and new[:n] == old:
        return n                                   # the common case: it only grew
    lo, hi = 0, min(n, len(new))                   # new[:lo] == old[:lo]; not at hi + 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if new[:mid] == old[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def diff(old: Any, new: Any) -> tuple[dict, dict] | None:
    """``(delta, copy)``: what turns ``old`` (a JSON copy the grader holds) into ``new`` (the
    accessor's result now), and the JSON copy of ``new`` to keep for next time (sharing what
    did not change with ``old``); ``({}, old)`` when nothing changed; None when ``new`` cannot
    travel as a delta of ``old`` (see the module docstring)."""
    if type(old) is list and type(new) is list:      # a list result: ``{"*": [n, text]}``
        n = _kept(old, new)
        if n == len(old) == len(new):
            return {}, old
        tail = copy_of(new[n:])
        return None if tail is None else ({"*": [n, tail[1]]}, old[:n] + tail[0])
    if type(old) is not dict or type(new) is not dict:
        return None
    if new == old and all(type(value) is type(old[key]) for key, value in new.items()):
        return {}, old                  # (one comparison in C: what most events leave alone)
    sets: dict[str, str] = {}
    grows: dict[str, list] = {}
    copy = dict(old)
    for key, value in new.items():
        if type(key) is not str or key == "__lk__":
            return None
        was = old.get(key, _MISSING)
        kind = type(value)
        if kind is type(was) and kind in _SCALARS and value == was:
            continue
        if kind is list and type(was) is list:
            n = _kept(was, value)
            if n == len(was) == len(value):
                continue
            tail = copy_of(value[n:])
            if tail is None:
                return None
            grows[key] = [n, tail[1]]
            copy[key] = was[:n] + tail[0]
            continue
        fresh = copy_of(value)
        if fresh is None:
            return None
        if was is not _MISSING and fresh[0] == was and _dumps(was) == fresh[1]:
            continue
        sets[key] = fresh[1]
        copy[key] = fresh[0]
    gone = [key for key in old if key not in new]
    for key in gone:
        del copy[key]
    delta: dict[str, Any] = {}
    if sets:
        delta["="] = sets
    if grows:
        delta["+"] = grows
    if gone:
        delta["-"] = gone
    return (delta, copy) if delta else ({}, old)


def patch(old: Any, delta: Any) -> Any:
    """The result ``delta`` (from ``diff``, sent by the child) makes of ``old``; raises
    ``ValueError`` if it is malformed."""
    if type(delta) is not dict:
        raise ValueError("a malformed delta of an accessor result")
    if "*" in delta and len(delta) == 1:
        return _grown(old, delta["*"])
    if type(old) is not dict or not set(delta) <= {"=", "+", "-"}:
        raise ValueError("a malformed delta of an accessor result")
    new = dict(old)
    sets, grows, gone = delta.get("=", {}), delta.get("+", {}), delta.get("-", [])
    if type(sets) is not dict or type(grows) is not dict or type(gone) is not list:
        raise ValueError("a malformed delta of an accessor result")
    for key, text in sets.items():
        if type(text) is not str:
            raise ValueError("a malformed delta of an accessor result")
        new[key] = _loads(text)
    for key, change in grows.items():
        new[key] = _grown(old.get(key), change)
    for key in gone:
        if type(key) is not str:
            raise ValueError("a malformed delta of an accessor result")
        new.pop(key, None)
    return new


def _grown(was: Any, change: Any) -> list:
    """``was[:n]`` and then the items of ``text``, for ``change == [n, text]``."""
    if not (type(was) is list and type(change) is list and len(change) == 2
            and type(change[0]) is int and 0 <= change[0] <= len(was)
            and type(change[1]) is str):
        raise ValueError("a malformed delta of an accessor result")
    tail = _loads(change[1])
    if type(tail) is not list:
        raise ValueError("a malformed delta of an accessor result")
    return was[:change[0]] + tail
