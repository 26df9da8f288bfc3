"""Before/after throughput in one run: this tree against earlier commits, side by side.

    python tests/benchdiff.py                    # against 24042de (issue 11's baseline)
    python tests/benchdiff.py --against HEAD~3 --repeat 7
    python tests/benchdiff.py --against 24042de HEAD~3     # three trees in one run

Each earlier commit is extracted with ``git archive`` into a temporary folder (the working
tree is not touched). Each round measures, in a fresh interpreter per tree and rotating which
tree goes first, ``labkit.bench.noop_nodes()`` (no-op nodes' delivered messages per second)
and Lab 1's ``graders/lab1_cap/bench.py`` (the reference cluster's). Each tree runs its own
code, bench and reference. The best of ``--repeat`` rounds is kept for each (a loaded machine
only slows a run), and the ratio of this tree to each earlier one is printed: on a shared
machine only ratios within one run mean anything. The figures count CPU seconds
(``time.process_time`` stands in for the benches' ``time.perf_counter``), so time spent
waiting for a busy machine's CPU is not charged to any tree; ``--wall`` counts wall seconds,
as ``nox -s bench`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

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


def compare(trees: list[Path], repeat: int, wall: bool = False) -> dict[str, list[float]]:
    """``{figure: [best of each tree, in order]}``."""
    runs = {f: [[] for _ in trees] for f in FIGURES}
    for i in range(repeat):
        for figure, code in FIGURES.items():
            for k in range(len(trees)):
                j = (i + k) % len(trees)   # rotate who goes first
                runs[figure][j].append(measure(trees[j], code, wall))
    return {f: [max(r) for r in per_tree] for f, per_tree in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/benchdiff.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--against", nargs="+", default=[BASELINE], metavar="COMMIT",
                        help=f"the earlier commits (default {BASELINE})")
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds; the best is kept (default 5)")
    parser.add_argument("--wall", action="store_true",
                        help="count wall seconds instead of CPU seconds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="labkit-benchdiff-") as tmp:
        trees = []
        for n, commit in enumerate(args.against):
            archive = subprocess.run(["git", "-C", str(REPO), "archive", commit],
                                     check=True, capture_output=True).stdout
            tree = Path(tmp) / str(n)
            tree.mkdir()
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            trees.append(tree)
        results = compare(trees + [REPO], max(1, args.repeat), args.wall)
    names = args.against + ["this tree"]
    print(f"{'figure':<32}" + "".join(f" {n:>12}" for n in names)
          + "".join(f" {'/ ' + n:>12}" for n in args.against))
    for figure, best in results.items():
        print(f"{figure:<32}" + "".join(f" {round(b):>12,}" for b in best)
              + "".join(f" {best[-1] / b:>12.3f}" for b in best[:-1]))
    print(json.dumps({f: dict(zip(names, map(round, best))) for f, best in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
