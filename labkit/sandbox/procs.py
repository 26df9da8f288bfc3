"""Finding and killing every process a sandboxed child left behind (Linux ``/proc``).

A child lives in its own process group (in the grader's session, without its terminal), carries
a random token in its environment, and the grader is a child subreaper
(``PR_SET_CHILD_SUBREAPER``): a grandchild that double-forks and calls ``setsid`` is re-
parented to the grader instead of ``init``. At the end ``kill_tree`` kills, until none is left:
the child's process group, every descendant of the child, every process that carries the token,
and every orphan re-parented to the grader. Elsewhere (macOS) only the process group is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

_PROC = "/proc"
_subreaper = False


def become_subreaper() -> bool:
    """Make orphaned descendants of this process come back to it (Linux); once per process."""
    global _subreaper
    if _subreaper:
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = libc.prctl(36, 1, 0, 0, 0) == 0            # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        _subreaper = False
    return _subreaper


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, pgid) of ``pid``, or None if it is gone."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        return None


def _has_token(pid: int, token: bytes) -> bool:
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as f:
            return token in f.read()
    except OSError:
        return False


def _uid(pid: int) -> int | None:
    try:
        with open(f"{_PROC}/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def stragglers(root: int, pgid: int, marker: str, uid: int | None = None) -> list[int]:
    """Every live process belonging to ``root``: its process group, its descendants, any
    process whose environment holds ``marker`` (``NAME=token``), and, when the child had a
    uid of its own, every process of that uid (a daemon that cleared its environment too)."""
    if not os.path.isdir(_PROC):
        return []
    me = os.getpid()
    table: dict[int, tuple[int, int]] = {}
    for name in os.listdir(_PROC):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                table[int(name)] = st
    mine = {pid for pid, (_, pg) in table.items() if pg == pgid and pid != me}
    if root in table:
        mine.add(root)
    tok = marker.encode() if marker else b""
    grew = True
    while grew:                                   # descendants of anything already found
        grew = False
        for pid, (ppid, _) in table.items():
            if pid not in mine and ppid in mine:
                mine.add(pid)
                grew = True
    for pid, (ppid, _) in table.items():          # tokens: orphans re-parented to us, setsid'd
        if tok and pid not in mine and pid != me and _has_token(pid, tok):
            mine.add(pid)
        elif uid is not None and pid not in mine and pid != me and _uid(pid) == uid:
            mine.add(pid)
    mine.discard(me)
    return sorted(mine)


def kill_tree(root: int, pgid: int, marker: str, rounds: int = 50,
              uid: int | None = None) -> int:
    """SIGKILL everything ``stragglers`` finds until nothing is left; returns how many.

    Those found before the first kill are collected too: one that the group kill ends (the
    child behind the keeper of ``labkit.sandbox.namespaces``) comes back to us as a zombie."""
    first = set(stragglers(root, pgid, marker, uid)) - {root}
    killed: set[int] = set()
    for _ in range(rounds):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
        found = [p for p in stragglers(root, pgid, marker, uid) if _alive(p)]
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        reap(killed - {root})
        time.sleep(0.01)
    reap((killed | first) - {root})
    return len(killed)


def _alive(pid: int) -> bool:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    state = data[data.rfind(b")") + 2:data.rfind(b")") + 3]
    return state not in (b"Z", b"X")


def reap(pids: set[int]) -> None:
    """Collect the killed processes that were re-parented to us (we are their subreaper).
    Only these: waiting for any child would steal the exit status of other code's children."""
    for pid in list(pids):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
