"""``nox -s search -- lab2 [--depth N] [--test NAME] [--impl PATH]``: the graded exhaustive
searches of a lab (``graders/<lab>/test_search.py``, its ``SEARCHES``) on your code, with the
bounds you choose. Prints each verdict ("no violation within depth D (S states)", or the
shortest sequence of steps that breaks an invariant) and the states per second; a violation
is written as a failure record, ``reports/failures/<id>.json`` and its trace viewer page, the
same record the graded test writes: ``nox -s replay -- <id>`` runs exactly that path again.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ..grading import failures, loader
from ..grading.labs import REPO, find_lab


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s search --", description=__doc__.splitlines()[0])
    parser.add_argument("lab", help="lab2, lab1 ... (a lab with graders/<lab>/test_search.py)")
    parser.add_argument("--depth", type=int, help="steps from the start (default: the graded "
                        "test's depth); each step more multiplies the states")
    parser.add_argument("--test", help="one search by name (default: every search of the lab)")
    parser.add_argument("--impl", default="starter", help="starter, reference or a folder "
                        "laid out like starter/ (default: starter)")
    parser.add_argument("--max-states", type=int, help="stop after this many distinct states")
    parser.add_argument("--max-seconds", type=float, help="stop after this many wall seconds")
    parser.add_argument("--report-dir", default="reports")
    args = parser.parse_args(argv)
    try:
        lab = find_lab(args.lab)
    except ValueError as exc:
        parser.error(str(exc))
    if not (lab.grader_dir / "test_search.py").exists():
        parser.error(f"{lab.short} has no exhaustive searches (no {lab.grader_dir.name}/"
                     f"test_search.py)")
    sys.path.insert(0, str(REPO))
    module = importlib.import_module(f"graders.{lab.package}.test_search")
    searches = module.SEARCHES
    if args.test and args.test not in searches:
        parser.error(f"no search {args.test!r} in {lab.short}; known: {', '.join(searches)}")
    loader.use_impl(loader.resolve_impl(args.impl))
    code = loader.load_lab(lab.package)
    from ..errors import StudentCodeError
    from ..grading.scenario import ScenarioFailure
    from .report import expect_no_violation

    status = 0
    for name, spec in searches.items():
        if args.test and name != args.test:
            continue
        depth = spec.depth if args.depth is None else args.depth
        space = spec.build(code)
        print(f"{lab.short} {name}: depth {depth}, {space.describe_bounds()}", flush=True)
        try:
            result = expect_no_violation(
                space, depth=depth, max_states=args.max_states or spec.max_states,
                max_seconds=args.max_seconds or spec.max_seconds)
        except ScenarioFailure as failure:
            status = 1
            cap = failure.capture
            nodeid = f"graders/{lab.package}/test_search.py::test_search_{name}"
            fid = failures.failure_id(lab.short, nodeid, cap)
            record = failures.to_record(cap, fid=fid, lab=lab.package, nodeid=nodeid,
                                        name=f"search {name}", impl=str(loader.impl_dir()))
            _, page = failures.write(record, Path(args.report_dir) / "failures")
            print(f"  {failure}\n  failure id: {fid}\n  replay: nox -s replay -- {fid}\n"
                  f"  trace viewer (open it in your browser): {page.resolve().as_uri()}")
            continue
        except (AssertionError, StudentCodeError) as exc:
            status = 1
            print(f"  {exc}")
            continue
        print(f"  {result.summary()}\n  {result.states:,} states in {result.seconds:.2f} s: "
              f"{result.states_per_second:,.0f} states per second")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
