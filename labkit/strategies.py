"""Hypothesis strategies that generate fault schedules, and the grading profile.

    @grading_settings(max_examples=40)
    @given(schedule=fault_schedules(node_names(5), end=4.0), seed=seeds())
    def test_safety(schedule, seed): ...

Schedules shrink towards fewer, earlier and simpler actions, so a failure is reported as a
handful of lines a student can read. Times are whole milliseconds.
"""

from __future__ import annotations

from typing import Sequence

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from .faults import (Action, Crash, Cut, Heal, Isolate, Network, Partition, Pause, Restart,
                     Resume)

ALL_KINDS = ("partition", "isolate", "cut", "heal", "crash", "restart", "pause", "resume",
             "network")


# No "explain" phase: it reruns a failing example many times to annotate it, which costs
# seconds per failing test and adds nothing the failure message does not already say.
GRADING_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)


def grading_settings(max_examples: int = 30, **overrides) -> settings:
    """The fixed profile every graded Hypothesis test uses: derandomized (the same examples on
    every machine and every run), no example database, no deadline, a fixed example count."""
    options = dict(derandomize=True, database=None, deadline=None, max_examples=max_examples,
                   print_blob=False, phases=GRADING_PHASES,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture,
                                          HealthCheck.filter_too_much])
    options.update(overrides)
    return settings(**options)


def seeds() -> st.SearchStrategy[int]:
    """Simulation seeds (shrink towards 0)."""
    return st.integers(min_value=0, max_value=2**31 - 1)


@st.composite
def _action(draw, nodes: Sequence[str], start: float, end: float, kinds: Sequence[str]) -> Action:
    at = draw(st.integers(int(start * 1000), int(end * 1000))) / 1000
    kind = draw(st.sampled_from(kinds))
    node = st.sampled_from(nodes)
    if kind == "partition":
        # Assign every node a side; shrinks towards everyone on side 0 (no split).
        sides = draw(st.lists(st.integers(0, 2), min_size=len(nodes), max_size=len(nodes)))
        groups = tuple(tuple(n for n, s in zip(nodes, sides) if s == k) for k in range(3))
        return Partition(at, tuple(g for g in groups if g))
    if kind == "isolate":
        return Isolate(at, draw(node))
    if kind == "cut":
        src = draw(node)
        dst = draw(node.filter(lambda n: n != src))
        return Cut(at, src, dst, both_ways=draw(st.booleans()))
    if kind == "heal":
        return Heal(at)
    if kind == "crash":
        return Crash(at, draw(node))
    if kind == "restart":
        return Restart(at, draw(node))
    if kind == "pause":
        return Pause(at, draw(node))
    if kind == "resume":
        return Resume(at, draw(node))
    if kind == "network":
        p = st.sampled_from([0.0, 0.1, 0.3])
        return Network(at, loss=draw(p), duplicate=draw(p), long_delay=draw(p))
    raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(ALL_KINDS)}")


def fault_schedules(nodes: Sequence[str], *, start: float = 0.0, end: float = 5.0,
                    max_actions: int = 8, kinds: Sequence[str] = ALL_KINDS,
                    max_down: int | None = None) -> st.SearchStrategy[tuple[Action, ...]]:
    """Schedules of up to ``max_actions`` actions between ``start`` and ``end`` seconds.

    ``kinds`` restricts the fault types. ``max_down`` bounds how many nodes may be crashed or
    paused at the same time (crashes and pauses that would exceed it are left out), e.g.
    ``max_down=1`` for "any single failure" (partitions are not limited by it).
    """
    unknown = set(kinds) - set(ALL_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(ALL_KINDS)}")
    actions = st.lists(_action(tuple(nodes), start, end, tuple(kinds)), max_size=max_actions)
    return actions.map(lambda acts: _limit_down(sorted(acts, key=lambda a: a.at), max_down))


def _limit_down(actions: list[Action], max_down: int | None) -> tuple[Action, ...]:
    if max_down is None:
        return tuple(actions)
    crashed: set[str] = set()
    paused: set[str] = set()
    kept = []
    for a in actions:
        if isinstance(a, (Crash, Pause)):
            down = crashed | paused
            if a.node not in down and len(down) >= max_down:
                continue
            if isinstance(a, Crash):
                crashed.add(a.node)
                paused.discard(a.node)
            elif a.node not in crashed:
                paused.add(a.node)
        elif isinstance(a, Restart):
            crashed.discard(a.node)
            paused.discard(a.node)
        elif isinstance(a, Resume):
            paused.discard(a.node)
        kept.append(a)
    return tuple(kept)


# ----- aimed schedules: targets ("@leader") and triggers mixed with every fault kind -----------

AIMED_KINDS = ALL_KINDS + ("crash_after", "crash_at_write")


@st.composite
def _aimed_action(draw, nodes: Sequence[str], targets: Sequence[str], start: float, end: float,
                  kinds: Sequence[str], events: Sequence[str]):
    from .faults import CrashAfter, CrashAtWrite
    names = tuple(f"@{t}" for t in targets) + tuple(nodes)   # shrinks towards the first target
    kind = draw(st.sampled_from(kinds))
    if kind not in ("crash_after", "crash_at_write"):
        action = draw(_action(tuple(nodes), start, end, (kind,)))
        if kind == "partition":
            if targets and draw(st.booleans()):   # the first target plus a few, against the rest
                size = draw(st.integers(0, (len(nodes) - 1) // 2))
                group = (names[0],) + tuple(draw(st.permutations(nodes)))[:size]
                return Partition(action.at, (group,))
            return action
        if kind in ("isolate", "crash", "restart", "pause", "resume"):
            return type(action)(action.at, draw(st.sampled_from(names)))
        if kind == "cut":
            src = draw(st.sampled_from(names))
            dst = draw(st.sampled_from(names).filter(lambda n: n != src))
            return Cut(action.at, src, dst, both_ways=draw(st.booleans()))
        return action
    at = draw(st.integers(int(start * 1000), int(end * 1000))) / 1000
    node = draw(st.sampled_from(names))
    if kind == "crash_at_write":
        return CrashAtWrite(at, node)
    return CrashAfter(at, node, draw(st.sampled_from(tuple(events))))


def aimed_schedules(nodes: Sequence[str], targets: Sequence[str], *, start: float = 0.0,
                    end: float = 5.0, max_actions: int = 8, kinds: Sequence[str] = AIMED_KINDS,
                    events: Sequence[str] = ("reply", "apply", "write", "send"),
                    max_down: int | None = None) -> st.SearchStrategy[tuple]:
    """Like ``fault_schedules``, with every node field drawn from the ``targets`` (``"@t"``,
    resolved when the action fires through ``sim.add_target``) as well as the nodes, partitions
    that put the first target in a minority, and the trigger actions ``CrashAfter`` (one of
    ``events``: "reply", "apply", "write", "send" or "send:<type>") and ``CrashAtWrite``
    (kinds "crash_after", "crash_at_write"). Shrinks towards fewer, earlier actions aimed at
    the first target."""
    unknown = set(kinds) - set(AIMED_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(AIMED_KINDS)}")
    actions = st.lists(_aimed_action(tuple(nodes), tuple(targets), start, end, tuple(kinds),
                                     tuple(events)), max_size=max_actions)
    return actions.map(lambda acts: _limit_down(sorted(acts, key=lambda a: a.at), max_down))
