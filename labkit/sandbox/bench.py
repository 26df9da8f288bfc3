"""What tamper-proof grading costs: the sandbox against the in-process simulator.

``bench() -> dict`` (wired into ``nox -s bench``):

* ``spawn_ms``: starting a sandboxed child and importing a lab package in it;
* ``call_roundtrip_us``: one method call on a student object (grader -> child -> grader);
* ``noop_messages_per_s_inprocess`` / ``_sandbox``: delivered messages per second with nodes
  that only answer each message (the simulator's own cost, then the sandbox's on top);
* ``<lab>_reference_s_inprocess`` / ``_sandbox``: for each lab whose ``graders/<package>/
  bench.py`` defines ``sandbox_workload(lab_module)``, that workload on the reference nodes,
  in wall seconds (``<lab>`` is the short name);
* ``slowdown_noop`` and ``slowdown_<lab>``: sandbox time / in-process time.

``grading_ratio()`` (``python -m labkit.sandbox.bench --grading [lab ...]``) times every lab's
whole grader suite on the reference, in-process and sandboxed, and gives the ratio.

Measured with ``time.perf_counter`` here only; nothing asserts a speed.
"""

from __future__ import annotations

import statistics
import tempfile
import textwrap
import time
from pathlib import Path

from ..grading.labs import REPO
from ..simulator import Simulation
from . import load_remote, shutdown_all

PING = textwrap.dedent('''
    from labkit import Node


    class Counter:
        def __init__(self):
            self.n = 0

        def add(self, k):
            self.n += k
            return self.n


    class PingPong(Node):
        def on_start(self):
            for _ in range(8):
                self.send(self.peers[0], {"type": "ping"})

        def handle_ping(self, src, msg):
            self.send(src, msg)
''')
MESSAGES = 20_000
CALLS = 5_000


def _noop(cls) -> float:
    sim = Simulation(cls, 2, seed=0, max_events=10 * MESSAGES)
    start = time.perf_counter()
    while sim.delivered < MESSAGES:
        sim.run_for(1.0)
    return sim.delivered / (time.perf_counter() - start)


def _timed(workload, lab) -> float:
    start = time.perf_counter()
    workload(lab)
    return time.perf_counter() - start


def _lab_workloads() -> list[tuple[str, str, object]]:
    """``(short name, package, sandbox_workload)`` of the labs that have one and a reference."""
    import importlib

    from ..grading.labs import labs

    found = []
    for lab in labs():
        if not ((lab.grader_dir / "bench.py").is_file()
                and (REPO / "reference" / lab.package / "__init__.py").is_file()):
            continue
        workload = getattr(importlib.import_module(f"graders.{lab.package}.bench"),
                           "sandbox_workload", None)
        if workload is not None:
            found.append((lab.short, lab.package, workload))
    return found


def bench() -> dict[str, float]:
    from .process import share_one_cpu

    share_one_cpu()              # as a --sandbox grading run does (pytest_hook.enable)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="labkit-sandbox-bench-") as tmp:
        pkg = Path(tmp) / "sandbox_bench"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(PING)
        spawns = []
        for _ in range(3):
            start = time.perf_counter()
            remote = load_remote(Path(tmp), "sandbox_bench")
            spawns.append(time.perf_counter() - start)
        out["spawn_ms"] = statistics.median(spawns) * 1000
        counter = remote.Counter()
        start = time.perf_counter()
        for _ in range(CALLS):
            counter.add(1)
        out["call_roundtrip_us"] = (time.perf_counter() - start) / CALLS * 1e6

        import importlib.util

        spec = importlib.util.spec_from_file_location("_sandbox_bench_local", pkg / "__init__.py")
        local = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(local)
        out["noop_messages_per_s_inprocess"] = _noop(local.PingPong)
        out["noop_messages_per_s_sandbox"] = _noop(remote.PingPong)
        out["slowdown_noop"] = out["noop_messages_per_s_inprocess"] / \
            out["noop_messages_per_s_sandbox"]
        for short, package, workload in _lab_workloads():
            local = _import_reference(package)
            inprocess = out[f"{short}_reference_s_inprocess"] = _timed(workload, local)
            sandboxed = out[f"{short}_reference_s_sandbox"] = _timed(
                workload, load_remote(REPO / "reference", package))
            out[f"slowdown_{short}"] = sandboxed / inprocess
        shutdown_all()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def grading_ratio(packages: list[str] | None = None) -> dict[str, float]:
    """The whole cost, as an instructor sees it: each lab's grader suite on the reference, run
    in-process and then with ``--sandbox``, side by side, in wall seconds
    (``grade_<lab>_s_inprocess`` / ``_sandbox``), whether each run earned full marks
    (``grade_<lab>_full_...``: 1.0, or 0.0 when its time does not count for much), their sums
    (``grade_all_s_...``) and ``grading_ratio`` (sandboxed / in-process, for all labs)."""
    import os
    import subprocess
    import sys

    from ..grading.labs import labs

    out: dict[str, float] = {}
    totals = {"inprocess": 0.0, "sandbox": 0.0}
    with tempfile.TemporaryDirectory(prefix="labkit-grading-bench-") as tmp:
        for lab in labs():
            if packages and lab.package not in packages and lab.short not in packages:
                continue
            if not ((lab.grader_dir / "conftest.py").is_file()
                    and (REPO / "reference" / lab.package / "__init__.py").is_file()):
                continue
            for mode in ("inprocess", "sandbox"):
                cmd = [sys.executable, "-m", "pytest", str(lab.grader_dir), "--impl",
                       "reference", "--report-dir", str(Path(tmp) / lab.short / mode), "-q",
                       "-p", "no:cacheprovider", "-m", "not live", "-o", "timeout=900",
                       *(["--sandbox"] if mode == "sandbox" else [])]
                start = time.perf_counter()
                subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=3600,
                               env={**os.environ, "PYTHONHASHSEED": "0"})
                seconds = time.perf_counter() - start
                out[f"grade_{lab.short}_s_{mode}"] = seconds
                totals[mode] += seconds
                # A run that did not earn full marks (a crash, a timeout) is no fair time.
                out[f"grade_{lab.short}_full_{mode}"] = float(_full_score(
                    Path(tmp) / lab.short / mode / "score.json"))
    if totals["inprocess"]:
        out["grade_all_s_inprocess"] = totals["inprocess"]
        out["grade_all_s_sandbox"] = totals["sandbox"]
        out["grading_ratio"] = totals["sandbox"] / totals["inprocess"]
    return {k: round(v, 2) for k, v in out.items()}


def _full_score(path: Path) -> bool:
    import json

    try:
        report = json.loads(path.read_text())
        return report["score"] == report["max_score"] > 0
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _import_reference(package: str):
    """``reference/<package>`` under a private module name (not the graded ``package``)."""
    import importlib.util
    import sys

    name = f"_sandbox_bench_reference_{package}"
    if name not in sys.modules:
        folder = REPO / "reference" / package
        spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


if __name__ == "__main__":
    import sys as _sys

    results = grading_ratio(_sys.argv[2:]) if _sys.argv[1:2] == ["--grading"] else bench()
    for name, value in results.items():
        print(f"  {name:<36} {value:,}")
