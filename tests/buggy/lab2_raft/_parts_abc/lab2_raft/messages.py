"""The four Raft messages (Figure 2 of the extended Raft paper), as plain JSON dicts.

Every message carries ``type`` and the sender's ``term``. Build them with these functions so
that a misspelt field fails here, at the sender, and not later inside another node:

    self.send(peer, request_vote(self.term, self.id, last_log_index=3, last_log_term=2))

A log entry is ``{"term": int, "command": <any JSON value>}``; entry 1 is ``entries[0]``.
"""

from __future__ import annotations

from typing import Any


def request_vote(term: int, candidate: str, last_log_index: int, last_log_term: int) -> dict:
    """A candidate asks for a vote in ``term``; its log ends at ``last_log_index`` with an
    entry of ``last_log_term`` (0 and 0 for an empty log)."""
    _ints(term=term, last_log_index=last_log_index, last_log_term=last_log_term)
    return {"type": "request_vote", "term": term, "candidate": candidate,
            "last_log_index": last_log_index, "last_log_term": last_log_term}


def request_vote_reply(term: int, granted: bool) -> dict:
    """The voter's answer, with the voter's current term."""
    _ints(term=term)
    return {"type": "request_vote_reply", "term": term, "granted": bool(granted)}


def append_entries(term: int, leader: str, prev_index: int, prev_term: int,
                   entries: list[dict], commit: int) -> dict:
    """The leader of ``term`` sends ``entries`` to go right after entry ``prev_index`` (whose
    term is ``prev_term``; 0 and 0 mean "from the start"), and its commit index. With no
    entries it is a heartbeat."""
    _ints(term=term, prev_index=prev_index, prev_term=prev_term, commit=commit)
    if not isinstance(entries, list):
        raise TypeError(f"append_entries: entries must be a list of entries, got {entries!r}")
    return {"type": "append_entries", "term": term, "leader": leader, "prev_index": prev_index,
            "prev_term": prev_term, "entries": entries, "commit": commit}


def append_entries_reply(term: int, success: bool, match_index: int = 0,
                         conflict_index: int = 0, conflict_term: int | None = None) -> dict:
    """The follower's answer, with its current term.

    * success: the follower's log now matches the leader's through ``match_index``
      (``prev_index + len(entries)`` of the request it answers).
    * failure: ``conflict_term`` is the term of the follower's entry at ``prev_index`` and
      ``conflict_index`` the first index the follower holds with that term; if the follower's
      log is too short, ``conflict_term`` is None and ``conflict_index`` is its length + 1.
      (A failure because the leader's term is old carries neither; the leader steps down.)
    """
    _ints(term=term, match_index=match_index, conflict_index=conflict_index)
    return {"type": "append_entries_reply", "term": term, "success": bool(success),
            "match_index": match_index, "conflict_index": conflict_index,
            "conflict_term": conflict_term}


def entry(term: int, command: Any) -> dict:
    """One log entry."""
    _ints(term=term)
    return {"term": term, "command": command}


def _ints(**fields: Any) -> None:
    for name, value in fields.items():
        if type(value) is not int:
            raise TypeError(f"message field {name} must be an int, got {value!r}")


__all__ = ["request_vote", "request_vote_reply", "append_entries", "append_entries_reply",
           "entry"]
