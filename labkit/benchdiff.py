"""Before/after throughput in one run: this tree against an earlier commit, side by side.

    python -m labkit.benchdiff                    # against 24042de (issue 11's baseline)
    python -m labkit.benchdiff --against HEAD~3 --repeat 7

The earlier commit is extracted with ``git archive`` into a temporary folder (the working tree
is not touched). Each round measures, in a fresh interpreter per tree and alternating between
the trees, ``labkit.bench.noop_nodes()`` (no-op nodes' delivered messages per second) and Lab 1's
``graders/lab1_cap/bench.py`` (the reference cluster's). Each tree runs its own code, bench and
reference. The best of ``--repeat`` rounds is kept for each (a loaded machine only slows a run),
and the ratio after / before is printed: on a shared machine only ratios within one run mean
anything. The figures count CPU seconds (``time.process_time`` stands in for the benches'
``time.perf_counter``), so time spent waiting for a busy machine's CPU is not charged to
either tree; ``--wall`` counts wall seconds, as ``nox -s bench`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .grading.labs import REPO

BASELINE = "24042de"

#: figure name -> the code that prints it, run in the tree's own folder
FIGURES = {
    "noop_delivered_messages_per_s":
        "from labkit.bench import noop_nodes; print(noop_nodes()[0])",
    "lab1_delivered_messages_per_s":
        "from graders.lab1_cap.bench import bench; print(bench()['lab1_delivered_messages_per_s'])",
}


#: put before a figure's code: its bench then reads CPU seconds where it reads the wall clock
CPU_CLOCK = "import time; time.perf_counter = time.process_time\n"


def measure(tree: Path, code: str, wall: bool = False) -> float:
    """Run ``code`` in a fresh interpreter inside ``tree``; the number it prints last."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = code if wall else CPU_CLOCK + code
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True, text=True,
                         capture_output=True)
    return float(out.stdout.split()[-1])


def compare(before: Path, after: Path, repeat: int,
            wall: bool = False) -> dict[str, dict[str, float]]:
    """``{figure: {"before": best, "after": best, "ratio": after / before}}``."""
    runs: dict[str, dict[str, list[float]]] = {f: {"before": [], "after": []} for f in FIGURES}
    for i in range(repeat):
        for figure, code in FIGURES.items():
            order = (("before", before), ("after", after))
            for side, tree in (order if i % 2 == 0 else order[::-1]):   # alternate who goes first
                runs[figure][side].append(measure(tree, code, wall))
    return {f: {"before": round(max(r["before"])), "after": round(max(r["after"])),
                "ratio": round(max(r["after"]) / max(r["before"]), 3)} for f, r in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.benchdiff",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=BASELINE,
                        help=f"the earlier commit (default {BASELINE})")
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds; the best is kept (default 5)")
    parser.add_argument("--wall", action="store_true",
                        help="count wall seconds instead of CPU seconds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="labkit-benchdiff-") as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.against],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        results = compare(Path(tmp), REPO, max(1, args.repeat), args.wall)
    print(f"{'figure':<32} {args.against:>12} {'this tree':>12} {'ratio':>7}")
    for figure, r in results.items():
        print(f"{figure:<32} {r['before']:>12,} {r['after']:>12,} {r['ratio']:>7.3f}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
