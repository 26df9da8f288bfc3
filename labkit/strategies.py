"""Hypothesis strategies that generate fault schedules, and the grading profile.

    @grading_settings(max_examples=40)
    @given(schedule=fault_schedules(node_names(5), end=4.0), seed=seeds())
    def test_safety(schedule, seed): ...

Schedules shrink towards fewer, earlier and simpler actions, so a failure is reported as a
handful of lines a student can read. Times are whole milliseconds.
"""

from __future__ import annotations

import json
import os
import re
from typing import Callable, Sequence

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from .faults import (Action, Crash, Cut, Heal, Isolate, Network, Partition, Pause, Restart,
                     Resume)

ALL_KINDS = ("partition", "isolate", "cut", "heal", "crash", "restart", "pause", "resume",
             "network")


# No "explain" phase: it reruns a failing example many times to annotate it, which costs
# seconds per failing test and adds nothing the failure message does not already say.
GRADING_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)

# The Hypothesis releases the graders are tested with (pyproject.toml pins the same range):
# the schedules a derandomized run draws depend on the Hypothesis version.
TESTED_HYPOTHESIS = ((6, 155), (6, 156))   # [low, high)


def _switch_off_local_constants() -> bool:
    """Make generated data a function of the grader alone.

    Hypothesis 6.131+ mixes integer "local constants", read from the source of every imported
    module outside site-packages, into the values it draws. For a grader that means the fault
    schedules depend on the student's own files (a constant in their node code shifts the
    schedule set), on which modules a run happened to import (grading vs replay) and on the
    process the student code lives in (in-process vs --sandbox). There is no public setting for
    it (6.155), so the collector is replaced, narrowly, by one that finds nothing; Hypothesis'
    own built-in constants stay. Returns True when it was switched off."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - an older or newer Hypothesis layout
        return False
    collect = getattr(providers, "_get_local_constants", None)
    empty = getattr(providers, "Constants", None)
    if collect is None or empty is None:
        return False  # a Hypothesis without local constants: nothing to switch off
    if getattr(collect, "_labkit_off", False):
        return True
    nothing = empty()

    def no_local_constants():
        return nothing

    no_local_constants._labkit_off = True
    providers._get_local_constants = no_local_constants
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if cache is not None and hasattr(cache, "cache"):
        cache.cache.clear()
    return True


def hypothesis_version_tested() -> bool:
    version = tuple(int(p) for p in re.findall(r"\d+", hypothesis.__version__)[:2])
    low, high = TESTED_HYPOTHESIS
    return low <= version < high


LOCAL_CONSTANTS_OFF = _switch_off_local_constants()


# ----- running one recorded example again (replay and the determinism re-check) ---------------
# A failure record keeps Hypothesis' own reproduction blob of the failing example
# (``print_blob``); ``reproducing(key, version, blob)`` makes the graded test of that key run
# exactly that example, with no search (``hypothesis.reproduce_failure``). ``key`` is
# "module:qualname" of the function under ``@given`` (nested ones included).
REPLAY_ENV = "LABKIT_REPLAY"          # JSON {"key": ..., "version": ..., "blob": ...}
_tests_by_code: dict = {}             # code object of an inner test -> key
_latest: dict[str, Callable] = {}     # key -> the decorated test last built for it
_reproduce: dict[str, tuple[str, bytes]] = {}


def _from_environment() -> None:
    raw = os.environ.get(REPLAY_ENV)
    if not raw:
        return
    spec = json.loads(raw)
    _reproduce[spec["key"]] = (spec["version"], spec["blob"].encode())


_from_environment()


def test_key(code) -> str | None:
    """The key of the graded Hypothesis test whose inner function has this code object."""
    return _tests_by_code.get(code)


class reproducing:
    """``with reproducing(key, version, blob): ...`` runs only that example of that test."""

    def __init__(self, key: str, version: str, blob: bytes) -> None:
        self.key, self.spec = key, (version, blob)

    def __enter__(self) -> "reproducing":
        self.before = _reproduce.get(self.key)
        _reproduce[self.key] = self.spec
        test = _latest.get(self.key)
        if test is not None:
            test._hypothesis_internal_use_reproduce_failure = self.spec
        return self

    def __exit__(self, *exc) -> None:
        if self.before is None:
            _reproduce.pop(self.key, None)
        else:
            _reproduce[self.key] = self.before
        test = _latest.get(self.key)
        if test is not None:
            test._hypothesis_internal_use_reproduce_failure = self.before


class GradingSettings(settings):
    """Hypothesis settings that also register the test they decorate, so that one recorded
    example of it can be run again (see ``reproducing``)."""

    def __call__(self, test):
        test = super().__call__(test)
        handle = getattr(test, "hypothesis", None)
        inner = getattr(handle, "inner_test", None)
        if getattr(test, "is_hypothesis_test", False) and inner is not None:
            key = f"{inner.__module__}:{inner.__qualname__}"
            _tests_by_code[inner.__code__] = key
            _latest[key] = test
            if key in _reproduce:
                test._hypothesis_internal_use_reproduce_failure = _reproduce[key]
        return test


def grading_settings(max_examples: int = 30, **overrides) -> settings:
    """The fixed profile every graded Hypothesis test uses: derandomized (the same examples on
    every machine and every run), no example database, no deadline, a fixed example count, no
    local constants (the examples do not depend on the code under test), and the reproduction
    blob of every failing example attached to its exception (read by the grading plugin)."""
    options = dict(derandomize=True, database=None, deadline=None, max_examples=max_examples,
                   print_blob=True, phases=GRADING_PHASES,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture,
                                          HealthCheck.filter_too_much])
    options.update(overrides)
    return GradingSettings(**options)


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
