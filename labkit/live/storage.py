"""Durable storage for a live node: one JSON file per node, replaced atomically.

``FileStorage`` is the simulator's ``Storage`` with a disk underneath. Every ``put`` and
``delete`` marks it dirty (through the ``_written`` hook); the runtime calls ``sync()`` when a
handler returns, before the event loop can put any message or reply on the wire. So whatever a
node stored while handling an event is on disk before anyone hears about it, which is the rule
Raft's persistence relies on. ``sync()`` writes the whole store to ``<file>.tmp``, fsyncs it,
renames it over the file and fsyncs the folder: a SIGKILL at any instant leaves either the old
file or the new one, never half of each.

The file is readable JSON (``cat .live/n1.json``)::

    {"node": "n1", "data": {"term": 3, "log": [...]}}
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..storage import Storage, to_json

FORMAT = 1


class FileStorage(Storage):
    """A node's ``Storage`` kept in ``path``; a restarted node reads back what was synced."""

    def __init__(self, owner: str, path: str | Path):
        super().__init__(owner)
        self.path = Path(path)
        self.syncs = 0
        self._dirty = False
        if self.path.exists():
            self.load(read_storage_file(self.path, owner))

    def _written(self, key: str) -> None:
        self._dirty = True

    def sync(self) -> bool:
        """Make every write so far durable. Returns True if something was written."""
        if not self._dirty:
            return False
        raw = self.raw()
        # The values are already JSON text: splice them in rather than decode and re-encode.
        data = ",".join(f"{json.dumps(k)}:{v}" for k, v in raw.items())
        text = f'{{"node":{json.dumps(self.owner)},"format":{FORMAT},"data":{{{data}}}}}\n'
        write_atomically(self.path, text)
        self._dirty = False
        self.syncs += 1
        return True


def read_storage_file(path: Path, owner: str) -> dict[str, str]:
    """The serialised values stored in ``path`` (what ``Storage.load`` takes)."""
    try:
        content = json.loads(path.read_text())
        data = content["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"the storage file of {owner} ({path}) is unreadable: {exc}. "
                           f"Delete it to start {owner} with empty storage.") from None
    return {k: to_json(v, f"stored value {k!r}") for k, v in data.items()}


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a crash leaves the old or the new content."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
