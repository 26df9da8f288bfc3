"""Failure records: what a failed graded run leaves behind so it can be read and replayed.

``scenario()`` calls ``capture()`` when a run fails and attaches the capture to the exception it
raises (``ScenarioFailure.capture``). The grading plugin finds every such exception in what the
test raised (``captures_in``: one per distinct failure Hypothesis reports, with the blob that
Hypothesis needs to run exactly that example again), runs the same example once more to check
the failure is deterministic, and ``write()``s ``reports/failures/<id>.json`` and ``<id>.html``
(the trace viewer). The failure shown is always the failure recorded.

The id is stable: it depends on the test, the seed and the schedule only, so a replay of the
same failure overwrites the same files.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..faults import format_schedule
from ..simulator import Simulation
from ..trace import format_record

MAX_TRACE_RECORDS = 300_000


@dataclass
class Capture:
    sim: Simulation
    seed: int | None
    schedule: tuple
    prop: str
    evidence: str
    message: str
    time: float | None
    details: dict = field(default_factory=dict)
    # Which graded Hypothesis test ran it ("module:qualname", None for a scripted test), and
    # what ``hypothesis.reproduce_failure`` needs to run exactly this example again.
    hypothesis_key: str | None = None
    hypothesis_version: str = ""
    blob: str = ""
    shown: tuple | None = None  # the schedule as shown (minimal_schedule), if reduced
    explicit: bool = False      # an @example of the test (no blob: the test runs it first)

    @property
    def digest(self) -> str:
        return self.sim.trace.digest()


_last: Capture | None = None


def capture(sim: Simulation, seed: int | None, schedule: tuple, exc: BaseException,
            message: str) -> Capture:
    global _last
    _last = Capture(sim=sim, seed=seed, schedule=schedule,
                    prop=getattr(exc, "prop", type(exc).__name__),
                    evidence=getattr(exc, "evidence", str(exc)), message=message,
                    time=getattr(exc, "time", None) if getattr(exc, "time", None) is not None
                    else sim.now, details=dict(getattr(exc, "details", {}) or {}))
    return _last


def reset() -> None:
    global _last
    _last = None


def take() -> Capture | None:
    global _last
    last, _last = _last, None
    return last


@dataclass
class Found:
    """A failure inside what a test raised: the exception shown and its capture."""
    exception: BaseException
    capture: Capture


BLOB = re.compile(r"@reproduce_failure\('([^']+)', b'([^']+)'\)")


def captures_in(exc: BaseException | None) -> list[Found]:
    """Every failure with a capture inside ``exc`` (exception groups, nested too, in the order
    Hypothesis reports them), each completed with its Hypothesis test and reproduction blob."""
    from ..strategies import test_key

    out: list[Found] = []

    def visit(e: BaseException, notes: list[str], tb) -> None:
        here = [n for n in (getattr(e, "__notes__", None) or []) if isinstance(n, str)]
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                visit(inner, here + notes, e.__traceback__ or tb)
            return
        shown, cap = e, None
        seen = set()
        while e is not None and id(e) not in seen:
            seen.add(id(e))
            cap = getattr(e, "capture", None)
            if isinstance(cap, Capture):
                break
            e = e.__cause__ or e.__context__
        if not isinstance(cap, Capture) or any(f.capture is cap for f in out):
            return
        key = None
        frame_tb = e.__traceback__ or tb
        while frame_tb is not None:
            key = test_key(frame_tb.tb_frame.f_code) or key
            frame_tb = frame_tb.tb_next
        cap.hypothesis_key = key
        if key is not None:
            cap.explicit = any("Falsifying explicit example" in n for n in here)
            for note in here + notes:
                found = BLOB.search(note)
                if found:
                    cap.hypothesis_version, cap.blob = found.group(1), found.group(2)
                    break
        out.append(Found(shown, cap))

    if exc is not None:
        visit(exc, [], None)
    return out


def failure_id(lab_short: str, nodeid: str, cap: Capture) -> str:
    name = nodeid.split("::")[-1].split("[")[0].removeprefix("test_")
    key = f"{nodeid}|{cap.seed}|{format_schedule(cap.schedule)}"
    return f"{lab_short}-{name}-{hashlib.sha1(key.encode()).hexdigest()[:6]}"


def first_difference(a: Simulation, b: Simulation) -> str:
    """The first trace record where two runs differ, as two readable lines."""
    ra, rb = a.trace.records, b.trace.records
    for i, (x, y) in enumerate(zip(ra, rb)):
        if x != y:
            return (f"event #{i + 1}:\n  first run:  {format_record(x)}\n"
                    f"  second run: {format_record(y)}")
    if len(ra) != len(rb):
        i = min(len(ra), len(rb))
        extra = ra[i] if len(ra) > i else rb[i]
        return f"event #{i + 1}: only one run has {format_record(extra)}"
    return "the traces are identical but the outcome differed"


LINK_ACTIONS = ("Partition", "Isolate", "Cut", "Heal")


def minimal_schedule(schedule: tuple, sim: Simulation,
                     failure_time: float | None) -> tuple[tuple, int, int]:
    """The actions of ``schedule`` that can matter to a failure at ``failure_time``:
    ``(kept, changed_nothing, after_the_failure)``.

    Left out: actions after the failure time (the run up to the failure is the same without
    them: the simulator applies an action only when its time comes, and nothing before it
    depends on it), and actions that changed nothing when they were applied: a partition, cut,
    isolation or heal that left every link as it was (one group, a repeat of the partition in
    force, a heal of a healthy network), a pause of a node already paused or down, a resume of
    a node that was not paused. Such an action only adds a line to the trace. Link and pause
    state is followed through the schedule with the simulator's own rules, and only when the
    run's trace shows no link change or pause that the schedule does not account for (a test
    that partitions by hand keeps its schedule whole). Actions aimed at targets ("@leader")
    and trigger faults are always kept."""
    ordered = sorted(schedule, key=lambda a: a.at)
    due = [a for a in ordered if failure_time is None or a.at <= failure_time]
    late = len(ordered) - len(due)
    records = [r for r in sim.trace.records if failure_time is None or r[0] <= failure_time]
    link_times = sorted(round(r[0], 6) for r in records if r[1] == "fault" and
                        str(r[4]).split(" ")[0] in ("partition", "isolate", "cut", "heal",
                                                    "connect"))
    links_known = link_times == sorted(round(a.at, 6) for a in due if type(a).__name__
                                       in (*LINK_ACTIONS, "RecoverAll"))
    pause_times = sorted(round(r[0], 6) for r in records if r[1] == "pause")
    kept, noop, pauses = _reduce(due, sim.node_ids, links_known, True)
    if pauses != pause_times:  # pauses the schedule does not explain: keep every pause
        kept, noop, _ = _reduce(due, sim.node_ids, links_known, False)
    return tuple(kept), noop, late


def _reduce(due: list, nodes, links_known: bool, track_pauses: bool) -> tuple[list, int, list]:
    from ..network import Links

    links = Links(nodes)
    paused: set[str] = set()
    down: set[str] = set()
    kept, noop, pauses = [], 0, []
    for a in due:
        kind = type(a).__name__
        names = [v for f in a.__dataclass_fields__ for v in _names(getattr(a, f))]
        if any(n.startswith("@") for n in names) or kind not in (
                *LINK_ACTIONS, "Pause", "Resume", "Crash", "Restart", "RecoverAll", "Network"):
            kept.append(a)
            if kind in LINK_ACTIONS:
                links_known = False
            continue
        changed = True
        if kind in LINK_ACTIONS:
            before = set(links.cut)
            if kind == "Partition":
                links.partition(a.groups)
            elif kind == "Isolate":
                links.isolate(a.node)
            elif kind == "Cut":
                links.cut_link(a.src, a.dst, a.both_ways)
            else:
                links.heal()
            changed = not links_known or links.cut != before
        elif kind == "Pause":
            if a.node not in paused and a.node not in down:
                paused.add(a.node)
                pauses.append(round(a.at, 6))
            else:
                changed = not track_pauses
        elif kind == "Resume":
            changed = not track_pauses or a.node in paused
            paused.discard(a.node)
        elif kind in ("Crash", "Restart"):
            (down.add if kind == "Crash" else down.discard)(a.node)
            paused.discard(a.node)
        elif kind == "RecoverAll":
            links.heal()
            paused.clear()
            down.clear()
        if changed:
            kept.append(a)
        else:
            noop += 1
    return kept, noop, pauses


def _names(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (tuple, list)):
        return [n for v in value for n in _names(v)]
    return []


def schedule_data(schedule: tuple) -> list[dict]:
    out = []
    for action in schedule:
        d: dict[str, Any] = {"kind": type(action).__name__}
        for name in action.__dataclass_fields__:
            d[name] = getattr(action, name)
        out.append(d)
    return out


def to_record(cap: Capture, *, fid: str, lab: str, nodeid: str, name: str, impl: str) -> dict:
    sim = cap.sim
    return {
        "id": fid, "lab": lab, "test": nodeid, "name": name, "impl": impl,
        "seed": cap.seed,
        "schedule": [str(a) for a in (cap.schedule if cap.shown is None else cap.shown)],
        "schedule_full": [str(a) for a in cap.schedule],
        "schedule_data": schedule_data(cap.schedule),
        "property": cap.prop, "evidence": cap.evidence, "message": cap.message,
        "time": cap.time, "digest": cap.digest, "nodes": list(sim.node_ids),
        "trace": [list(r) for r in sim.trace.records[:MAX_TRACE_RECORDS]],
        "trace_truncated": len(sim.trace.records) > MAX_TRACE_RECORDS,
        "history": [op.to_json() for op in sim.history],
        "details": cap.details,
        "hypothesis": {"test": cap.hypothesis_key, "version": cap.hypothesis_version,
                       "blob": cap.blob, "explicit": cap.explicit}
        if cap.hypothesis_key else None,
    }


def write(record: dict, folder: Path) -> tuple[Path, Path]:
    from ..viewer import render_html  # the picture is a separate piece (Porcupine-style)

    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{record['id']}.json"
    html_path = folder / f"{record['id']}.html"
    json_path.write_text(json.dumps(record, separators=(",", ":")) + "\n")
    html_path.write_text(render_html(record))
    return json_path, html_path
