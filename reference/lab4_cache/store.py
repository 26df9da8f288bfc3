"""What one cache node keeps: its replica entries (with LRU eviction) and its hints.

An *entry* is a plain JSON dict, the same on disk and on the wire::

    {"value": "v1", "version": [7, "c2"], "deleted": False, "expires": 12.5}

* ``version`` is ``[counter, coordinator]``; versions compare as lists (counter first, then the
  coordinator's id breaks ties), so every write made anywhere has its own place in one order.
* ``deleted`` marks a tombstone: a delete is a write of a tombstone, so that a replica that
  missed the delete cannot bring the old value back through repair.
* ``expires`` is the virtual time the value stops being visible, or None (no time-to-live).
  An expired entry is kept (with its version) until it is evicted, for the same reason.

Rules (handout section 5):
  * A replica stores an entry only if its version is newer than the one it holds (``newer``):
    that one rule makes duplicates, reordering, repairs and handoffs harmless.
  * Entries and hints live in ``storage`` (they survive a crash); the recency order (LRU) and
    the eviction counter are volatile.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from labkit.storage import Storage

ENTRY = "e:"    # storage key prefix of a replica entry: "e:<key>"
HINT = "h:"     # storage key prefix of a hint: "h:<owner>:<key>"

NO_VERSION: tuple = (-1, "")


# ----- entries -----------------------------------------------------------------------------------

def make_entry(value: Any, version: list, *, deleted: bool = False,
               expires: float | None = None) -> dict:
    return {"value": None if deleted else value, "version": list(version), "deleted": deleted,
            "expires": expires}


def version_of(entry: dict | None) -> tuple:
    """The entry's version as a comparable tuple; NO_VERSION for "no entry"."""
    return NO_VERSION if entry is None else tuple(entry["version"])


def newer(a: dict | None, b: dict | None) -> bool:
    """True if entry ``a`` is strictly newer than entry ``b`` (None is older than anything)."""
    return version_of(a) > version_of(b)


def newest(entries) -> dict | None:
    """The newest of some entries (None entries allowed), or None if there is none."""
    best = None
    for entry in entries:
        if newer(entry, best):
            best = entry
    return best


def visible_value(entry: dict | None, now: float) -> Any:
    """What a read returns for this entry at time ``now``: None if absent, deleted or expired."""
    if entry is None or entry["deleted"]:
        return None
    expires = entry.get("expires")
    if expires is not None and expires <= now:
        return None
    return entry["value"]


# ----- replica entries ---------------------------------------------------------------------------

class ReplicaStore:
    """The entries this node holds as a home replica, at most ``capacity`` of them.

    Invariant: ``_lru`` holds exactly the keys with an entry in storage, least recently used
    first. Tombstones and expired entries are entries too: they count towards the capacity.
    """

    def __init__(self, storage: Storage, capacity: int):
        self._storage = storage
        self.capacity = capacity
        self.evictions = 0
        # After a restart the recency order is gone; start from the storage order.
        self._lru: OrderedDict[str, None] = OrderedDict(
            (k[len(ENTRY):], None) for k in storage.keys() if k.startswith(ENTRY))

    def __len__(self) -> int:
        return len(self._lru)

    def keys(self) -> list[str]:
        return sorted(self._lru)

    def get(self, key: str, *, touch: bool = True) -> dict | None:
        """The entry for ``key`` or None. Reading it makes it the most recently used."""
        if key not in self._lru:
            return None
        if touch:
            self._lru.move_to_end(key)
        return self._storage.get(ENTRY + key)

    def put(self, key: str, entry: dict) -> bool:
        """Store ``entry`` if it is newer than what is held; True if it was stored.

        Storing a new key into a full store first evicts the least recently used entry."""
        current = self.get(key)                  # a write is a use, stored or not
        if not newer(entry, current):
            return False
        if current is None:
            while len(self._lru) >= self.capacity > 0:
                victim, _ = self._lru.popitem(last=False)
                self._storage.delete(ENTRY + victim)
                self.evictions += 1
            if self.capacity <= 0:
                return False
        self._storage.put(ENTRY + key, entry)
        self._lru[key] = None
        self._lru.move_to_end(key)
        return True

    def live_keys(self, now: float) -> int:
        """How many keys read as present now (not deleted, not expired)."""
        return sum(1 for key in self._lru
                   if visible_value(self._storage.get(ENTRY + key), now) is not None)

    def max_counter(self) -> int:
        return max((self._storage.get(ENTRY + k)["version"][0] for k in self._lru), default=0)


# ----- hints -------------------------------------------------------------------------------------

class HintStore:
    """Copies of writes this node holds for another node (the *owner*) until it acknowledges.

    A record is ``{"owner", "key", "entry", "since", "fallback", "tries"}``:

    * ``fallback`` False: this node coordinated the write and still owes the owner its copy;
      after ``FAILOVER_AFTER`` it hands the copy to a fallback node of the ring;
    * ``fallback`` True: another node handed the copy to this node (a sloppy-quorum stand-in);
      it delivers the copy to the owner as soon as the owner answers;
    * ``since``: when the record was created here; ``tries``: failover offers made so far.

    Invariant: one record per (owner, key), holding the newest entry seen for that pair.
    """

    def __init__(self, storage: Storage):
        self._storage = storage
        self._records: dict[tuple[str, str], dict] = {}
        for name in storage.keys():
            if name.startswith(HINT):
                record = storage.get(name)
                self._records[(record["owner"], record["key"])] = record

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> list[dict]:
        """Every record, in (owner, key) order."""
        return [self._records[pair] for pair in sorted(self._records)]

    def add(self, owner: str, key: str, entry: dict, *, now: float, fallback: bool) -> None:
        """Hold ``entry`` for ``owner`` (keeping the newer entry if one is already held)."""
        record = self._records.get((owner, key))
        if record is None:
            record = {"owner": owner, "key": key, "entry": entry, "since": now,
                      "fallback": fallback, "tries": 0}
        elif newer(entry, record["entry"]):
            record = {**record, "entry": entry, "fallback": record["fallback"] and fallback}
        else:
            return
        self._save(record)

    def update(self, record: dict, **changes: Any) -> None:
        self._save({**record, **changes})

    def acknowledged(self, owner: str, key: str, version: list) -> None:
        """``owner`` (or a fallback standing in for it) holds ``version`` or newer: drop the
        record unless it holds something newer still."""
        record = self._records.get((owner, key))
        if record is not None and version_of(record["entry"]) <= tuple(version):
            del self._records[(owner, key)]
            self._storage.delete(self._name(owner, key))

    def max_counter(self) -> int:
        return max((r["entry"]["version"][0] for r in self._records.values()), default=0)

    def _save(self, record: dict) -> None:
        self._records[(record["owner"], record["key"])] = record
        self._storage.put(self._name(record["owner"], record["key"]), record)

    @staticmethod
    def _name(owner: str, key: str) -> str:
        return f"{HINT}{owner}:{key}"
