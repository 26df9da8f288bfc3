"""Exhaustive search (handout: "When a failure is rare"): every interleaving of a small cluster.

The generated tests draw schedules at random; a bug that needs one exact order of deliveries
(two candidates of one term asking the same voter while it is still in an older term; a second
command reaching the leader before the first one's copies arrive) may never come up there.
These tests search breadth-first over *every* order (``labkit.search``): three nodes, every
message in flight may be delivered next, every armed timer may fire next (time is abstracted
away: a delay orders nothing), client commands may reach any node (a client retries an
``error`` at another node). States are deduplicated by the nodes' fields, storage, the messages
in flight and the armed timers; the invariants below are checked in every state, and a failure
is the *shortest* sequence of steps that breaks one, shown in the trace viewer.

Predicates (DSLabs-style), stated here because they decide what is searched:

* invariants, read through ``raft_state()``: election safety (no two up nodes lead the same
  term), log matching (two logs agree up to and including any index where their entries have
  the same term), state-machine safety (no two nodes have committed different entries at one
  index);
* prune: a state where some node is past term 1 is checked but not expanded (one round of
  elections; the generated tests cover later terms), and neither is a state deeper than the
  test's depth bound.

Each test is sized so that the reference explores its whole bounded space in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from labkit.grading import require
from labkit.search import Space, StatePredicate, View
from labkit.search.report import expect_graded

from .invariants import ELECTION_SAFETY, LOG_MATCHING, STATE_MACHINE_SAFETY

MAX_TERM = 1          # prune: states past this term are not expanded


def states(view: View) -> list[tuple[str, dict]]:
    """Every up node's ``raft_state()``, in id order."""
    return [(n, obj.raft_state()) for n, obj in view.nodes()]


def two_leaders(view: View) -> str | None:
    leaders: dict[int, str] = {}
    for n, st in states(view):
        if st["role"] == "leader":
            if st["term"] in leaders:
                return (f"term {st['term']} has two leaders: {leaders[st['term']]} and {n} "
                        f"(each needs a majority of votes, and a node votes once per term)")
            leaders[st["term"]] = n
    return None


def _entry(e: dict) -> str:
    return f"{e.get('command')!r} (term {e.get('term')})"


def logs_disagree(view: View) -> str | None:
    sts = states(view)
    for i, (a, sa) in enumerate(sts):
        for b, sb in sts[i + 1:]:
            la, lb = sa["log"], sb["log"]
            for k in range(min(len(la), len(lb)) - 1, -1, -1):
                if la[k].get("term") == lb[k].get("term"):   # the highest index, same term
                    for j in range(k + 1):
                        if la[j] != lb[j]:
                            return (f"{a} and {b} both hold an entry of term {la[k].get('term')} "
                                    f"at index {k + 1}, but at index {j + 1} {a} has "
                                    f"{_entry(la[j])} and {b} has {_entry(lb[j])}")
                    break
    return None


def commits_disagree(view: View) -> str | None:
    committed: dict[int, tuple[str, dict]] = {}
    for n, st in states(view):
        if st.get("snapshot_index"):
            continue   # not in these scenarios: nothing is compacted
        for k, e in enumerate(st["log"][:st["commit_index"]], 1):
            other = committed.setdefault(k, (n, e))
            if other[1] != e:
                return (f"{other[0]} committed {_entry(other[1])} at index {k} and {n} "
                        f"committed {_entry(e)}")
    return None


def past_term(view: View) -> str | None:
    for n, st in states(view):
        if st["term"] > MAX_TERM:
            return f"{n} is in term {st['term']}"
    return None


ELECTION = StatePredicate(ELECTION_SAFETY.name, two_leaders, ELECTION_SAFETY.statement)
MATCHING = StatePredicate(LOG_MATCHING.name, logs_disagree, LOG_MATCHING.statement)
COMMITS = StatePredicate(STATE_MACHINE_SAFETY.name, commits_disagree,
                         STATE_MACHINE_SAFETY.statement)
PAST_TERM = StatePredicate(f"past term {MAX_TERM}", past_term,
                           f"some node is past term {MAX_TERM}")


def label(node: Any) -> str | None:
    st = node.raft_state()
    return f"{st['role']} {st['term']}"


@dataclass(frozen=True)
class Search:
    """One graded search: what it builds and its bounds (``nox -s search`` runs the same)."""
    name: str
    commands: tuple
    invariants: tuple
    depth: int
    max_states: int = 100_000
    # No wall-time bound: a graded verdict depends on depth and states only, never on how busy
    # the machine is (the plugin's per-test time limit guards the wall clock, reported as such).
    max_seconds: float | None = None
    reference_states: int = 0     # what the reference explores (the failure text says it)

    def build(self, lab) -> Space:
        """The space to search for the code under test (``lab``: its package)."""
        return Space(require(lab, "RaftNode"), 3,
                     requests=[{"op": "submit", "command": c} for c in self.commands],
                     invariants=self.invariants, prune=(PAST_TERM,), describe=label)


SEARCHES = {
    s.name: s for s in (
        Search("election_safety", ("x",), (ELECTION,), depth=6, reference_states=1_516),
        Search("log_matching", ("x", "y"), (MATCHING, COMMITS), depth=6,
               reference_states=2_032),
    )
}


def sandboxed(lab) -> bool:
    try:
        from labkit.sandbox import RemoteModule
    except ImportError:  # pragma: no cover - a labkit without the sandbox
        return False
    return isinstance(lab, RemoteModule)


def run(lab, search: Search, depth: int | None = None) -> None:
    # Under --sandbox the node objects live in the child: the search keeps handles of them
    # (labkit.sandbox.search) and visits the same states, in the same order, with the same
    # verdict; the invariants run here, on what the child sends as data.
    expect_graded(search, lab, "lab2", depth)


@pytest.mark.points(5)
def test_search_election_safety(lab):
    """Election safety in every interleaving (exhaustive search)

    Three nodes, one client command, every order of deliveries and timer firings up to 6
    steps, one round of elections: no two nodes ever lead the same term. A failure is the
    shortest sequence of steps, in the trace viewer. Handout: "When a failure is rare"."""
    run(lab, SEARCHES["election_safety"])


@pytest.mark.points(5)
def test_search_log_matching(lab):
    """Log matching in every interleaving (exhaustive search)

    Three nodes, two client commands (a client retries at another node when told
    not_leader), every order up to 6 steps, one round of elections: logs agree up to any
    index where they hold entries of the same term, and no two nodes commit different
    entries. Handout: "When a failure is rare"."""
    run(lab, SEARCHES["log_matching"])
