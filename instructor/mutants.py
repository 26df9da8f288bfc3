"""Mutation testing of the graders: how many small bugs in the reference do they catch?

    nox -s mutants -- lab2 [--sample N] [--max-minutes M] [--timeout S] [--survivors]
                           [--committed] [--only TEXT] [--list]
    python -m instructor.mutants lab2 ...            # the same without nox

Each mutant is the reference's lab package with one small change (``<`` for ``<=``, ``and``
for ``or``, a number off by one, a loop that never runs, ...), made by cosmic-ray's mutation
operators. The reference is copied to a scratch folder first (with ``labkit/`` and ``graders/``,
so edits made in the checkout during a long run change nothing; ``--committed`` copies the
last commit instead, leaving others' unfinished edits out), and only the copy is ever
mutated: ``reference/`` is never touched. Every mutant is graded by the lab's own graders,
``pytest graders/<lab> --impl <copy> -x -m "not live"`` with the determinism re-run off
(``LABKIT_NO_RECHECK=1``) and a time limit, and ends up

* **killed**: a grader test failed (the report names the first one);
* **survived**: every grader test passed; the report shows its diff;
* **timed out**: the time limit passed (not counted as killed);
* **equivalent**: listed in ``instructor/mutants/<lab>.toml`` with the reason it cannot be told
  apart from the reference (not graded; ``--run-equivalent`` grades them too);
* **error**: the graders themselves broke (no score report): a grader bug, shown in full.

The kill rate is killed / (mutants graded - equivalent), so a time-out or an error counts
against it. Results go to ``reports/mutants/<lab>.json`` and ``<lab>.md``.

Why cosmic-ray and not mutmut. Both were tried on Lab 0. mutmut 3 rewrites every function of
its own copy (``mutants/``) into a trampoline that picks the active mutant at call time, and
names the mutants after the copy's module path (stripping only ``src.``); it runs pytest in its
own process, forked per mutant, on the tests its coverage pass selected. It can drive
``--impl``, but only from a scratch project with the lab package under ``src/`` and
``--impl src``: then the graders import ``lab0_resilience`` as the trampolines expect, and it
works, faster than this tool (no pytest start per mutant). We still use cosmic-ray because
the graders then see an ordinary submission: one plain file changed, no ``mutmut`` import and
no trampoline frames inside the code the simulator attributes errors to (and ``--sandbox``
children could not import mutmut); every mutant is graded in a fresh process exactly as a
student's code is (no plugin or Hypothesis state inherited through a fork); and a mutant is
an operator at a position, which gives keys that survive edits elsewhere (mutmut numbers the
mutants of a function). We use cosmic-ray's operators (a curated subset, below) and its
mutator; this module runs the grader command per mutant itself, because cosmic-ray's runner
reports a time-out as killed, which we must not.

A mutant's key, used by the equivalent lists, is ``file | original line | operator |
mutated line`` (lines stripped; `` #2`` and so on when the same key occurs again in a file),
so a list survives edits elsewhere in the reference. ``tests/test_mutants.py`` checks that
every listed mutant is still produced by the current reference.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from labkit.grading.labs import Lab, find_lab  # noqa: E402

LISTS = REPO / "instructor" / "mutants"
TOOL = "cosmic-ray"
# cosmic-ray's operators, a curated subset: the bug shapes a student writes (boundaries,
# negations, and/or, off-by-one, a skipped loop, a swapped sign or operator, a caught
# exception that is not raised), not every operator pair (x % y -> x << y adds nothing).
_CMP = ["Lt_LtE", "LtE_Lt", "Gt_GtE", "GtE_Gt", "Lt_GtE", "GtE_Lt", "Gt_LtE", "LtE_Gt",
        "Eq_NotEq", "NotEq_Eq", "Is_IsNot", "IsNot_Is"]
_BIN = ["Add_Sub", "Sub_Add", "Mul_Div", "Div_Mul", "FloorDiv_Div", "Mod_FloorDiv",
        "Pow_Mul", "BitAnd_BitOr", "BitOr_BitAnd"]
OPERATORS = (
    [f"core/ReplaceComparisonOperator_{pair}" for pair in _CMP]
    + [f"core/ReplaceBinaryOperator_{pair}" for pair in _BIN]
    + ["core/ReplaceUnaryOperator_Delete_Not", "core/ReplaceUnaryOperator_USub_UAdd",
       "core/AddNot", "core/ReplaceAndWithOr", "core/ReplaceOrWithAnd",
       "core/ReplaceTrueWithFalse", "core/ReplaceFalseWithTrue",
       "core/ReplaceBreakWithContinue", "core/ReplaceContinueWithBreak",
       "core/NumberReplacer", "core/ZeroIterationForLoop", "core/ExceptionReplacer",
       "core/RemoveDecorator"])
STATUSES = ("killed", "survived", "timed out", "equivalent", "error", "not run")


@dataclass
class Mutant:
    file: str          # from the reference folder: "lab2_raft/raft.py"
    line: int          # first changed line, 1-based
    operator: str
    occurrence: int    # cosmic-ray's index of this operator's positions in the file
    source: str        # the original line(s), stripped
    replacement: str   # the mutated line(s), stripped
    diff: str
    key: str = ""
    status: str = "not run"
    test: str = ""     # the grader test that failed first
    seconds: float = 0.0
    note: str = ""


# ----- enumerating mutants ----------------------------------------------------------------------

def _cosmic_ray():
    try:
        import cosmic_ray.plugins as plugins
        from cosmic_ray.ast import ast_nodes, get_ast
        from cosmic_ray.mutating import mutate_code
    except ImportError:
        raise SystemExit("instructor.mutants needs cosmic-ray: `nox -s mutants` installs it, "
                         "or `python -m pip install cosmic-ray==8.7.0`") from None
    return plugins, ast_nodes, get_ast, mutate_code


def mutants_of_source(code: str, file: str, operators=OPERATORS,
                      only_line: str | None = None) -> list[Mutant]:
    """Every mutant cosmic-ray's ``operators`` make of ``code``, in a stable order, keyed;
    with ``only_line``, only those on lines that read so (stripped): a quick check of one."""
    plugins, ast_nodes, get_ast, mutate_code = _cosmic_ray()
    found: list[Mutant] = []
    original = code.split("\n")
    annotations = _annotation_spans(code)
    for name in operators:
        operator = plugins.get_operator(name)()
        positions = [start for node in ast_nodes(get_ast(code))
                     for start, _ in operator.mutation_positions(node)]
        for occurrence, start in enumerate(positions):
            if any(lo <= start < hi for lo, hi in annotations):
                continue  # a type annotation: never evaluated (from __future__ import annotations)
            if only_line is not None and original[start[0] - 1].strip() != only_line:
                continue
            mutated = mutate_code(code, operator, occurrence)
            if mutated is None or mutated == code:
                continue
            changed = mutated.split("\n")
            removed, added = [], []
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
                    None, original, changed, autojunk=False).get_opcodes():
                if tag != "equal":
                    removed += original[i1:i2]
                    added += changed[j1:j2]
            diff = "\n".join(difflib.unified_diff(original, changed, f"a/{file}", f"b/{file}",
                                                  n=2, lineterm=""))
            found.append(Mutant(file, start[0], name, occurrence, _joined(removed),
                                _joined(added), diff))
    found.sort(key=lambda m: (m.line, m.operator, m.occurrence))
    seen: dict[str, int] = {}
    for m in found:
        key = f"{m.file} | {m.source} | {m.operator} | {m.replacement}"
        seen[key] = seen.get(key, 0) + 1
        m.key = key if seen[key] == 1 else f"{key} #{seen[key]}"
    return found


def _joined(lines: list[str]) -> str:
    """The changed lines of a mutant for its key: stripped, without blank and comment lines
    (cosmic-ray removes a decorator with the comment above it)."""
    kept = [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]
    return " / ".join(kept)


def _annotation_spans(code: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(line, column) ranges of the type annotations in ``code`` (parso's positions: lines from
    1, columns from 0, like ``ast``'s)."""
    import ast
    spans = []
    for node in ast.walk(ast.parse(code)):
        found = []
        if isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        spans += [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in found]
    return spans


def lab_mutants(lab: Lab, root: Path = REPO / "reference") -> list[Mutant]:
    """The mutants of every Python file of ``root/<lab package>``, file by file."""
    found = []
    for path in sorted((root / lab.package).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        found += mutants_of_source(path.read_text(encoding="utf-8"), rel)
    return found


def _rank(mutant: Mutant) -> str:
    return hashlib.sha256(mutant.key.encode()).hexdigest()


def sample(mutants: list[Mutant], n: int) -> list[Mutant]:
    """A deterministic sample of ``n``: the mutants whose key hashes lowest (the same sample on
    every machine, and it moves little when the reference changes), in file order."""
    ranked = sorted(mutants, key=_rank)
    chosen = {id(m) for m in ranked[:n]}
    return [m for m in mutants if id(m) in chosen]


# ----- the equivalent-mutant lists --------------------------------------------------------------

@dataclass
class Equivalent:
    file: str
    source: str
    operator: str
    replacement: str
    reason: str
    occurrence: int = 1   # the n-th mutant with this key in the file (the " #n" suffix)

    @property
    def key(self) -> str:
        key = f"{self.file} | {self.source} | {self.operator} | {self.replacement}"
        return key if self.occurrence == 1 else f"{key} #{self.occurrence}"


def equivalents(lab: Lab) -> list[Equivalent]:
    """The lab's committed list, ``instructor/mutants/<lab>.toml`` (``[[equivalent]]`` tables
    with file, source, operator, replacement, reason); empty when there is none."""
    path = LISTS / f"{lab.short}.toml"
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    fields = {"file", "source", "operator", "replacement", "reason", "occurrence"}
    out = []
    for i, entry in enumerate(data.get("equivalent", []), 1):
        unknown = set(entry) - fields
        if unknown:
            raise ValueError(f"{path}: entry {i} has unknown fields {sorted(unknown)}")
        out.append(Equivalent(**entry))
    return out


# ----- grading one mutant -----------------------------------------------------------------------

@dataclass
class Workspace:
    """A scratch copy: labkit/, graders/, pyproject.toml and reference/ (all labs: Lab 4 uses
    Lab 0's breaker). Only ``impl/<package>/`` is mutated, one file at a time."""
    root: Path
    lab: Lab
    committed: bool = False   # copy the last commit (git archive HEAD), not the working tree
    reports: Path = field(init=False)

    def __post_init__(self) -> None:
        names = ["labkit", "graders", "pyproject.toml", "reference"]
        if self.committed:
            archive = subprocess.run(["git", "archive", "HEAD", *names], cwd=REPO, check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(self.root)], input=archive, check=True)
        else:
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
            for name in names:
                if (REPO / name).is_dir():
                    shutil.copytree(REPO / name, self.root / name, ignore=ignore)
                else:
                    shutil.copy2(REPO / name, self.root / name)
        (self.root / "reference").rename(self.root / "impl")
        self.reports = self.root / "score"

    def command(self, per_test: float) -> list[str]:
        return [sys.executable, "-m", "pytest", f"graders/{self.lab.package}",
                "--impl", str(self.root / "impl"), "--report-dir", str(self.reports),
                "-x", "-m", "not live", "-q", "--no-header", "--tb=no", "-rN",
                "-o", f"timeout={per_test:g}", "--require-full-score"]

    def grade(self, limit: float) -> tuple[str, str, str]:
        """``(status, first failing test, note)`` for the code now in the copy."""
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
               "LABKIT_NO_RECHECK": "1"}
        proc = subprocess.Popen(self.command(limit), cwd=self.root, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=limit + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return "timed out", "", f"no result after {limit + 30:g} s"
        if proc.returncode == 0:
            return "survived", "", ""
        try:
            report = json.loads((self.reports / "score.json").read_text())
        except (OSError, ValueError):
            return "error", "", f"exit {proc.returncode}, no score report:\n{output[-3000:]}"
        failed = [t for t in report.get("tests", []) if t.get("status") == "failed"]
        if not failed:
            return "error", "", f"exit {proc.returncode} with no failed test:\n{output[-3000:]}"
        first = failed[0]
        text = first.get("output", "")
        if "the time limit of" in text:
            return "timed out", first.get("name", ""), text[:300]
        return "killed", first.get("name", ""), text.split("\n", 1)[0][:300]

    def apply(self, mutant: Mutant | None, original: dict[str, str]) -> None:
        """Put ``mutant`` (None: no mutant) into the copy, every other file as it was."""
        for rel, code in original.items():
            target = self.root / "impl" / rel
            text = code if mutant is None or mutant.file != rel else _mutated(code, mutant)
            if target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")


def _mutated(code: str, mutant: Mutant) -> str:
    plugins, _, _, mutate_code = _cosmic_ray()
    return mutate_code(code, plugins.get_operator(mutant.operator)(), mutant.occurrence)


# ----- the run and its report -------------------------------------------------------------------

def run(lab: Lab, *, sample_size: int | None, max_minutes: float | None, timeout: float | None,
        survivors_only: bool, run_equivalent: bool, out: Path, keep: bool,
        only: str | None = None, committed: bool = False) -> dict:
    started = time.time()
    root = Path(tempfile.mkdtemp(prefix=f"labkit-mutants-{lab.short}-"))
    try:
        ws = Workspace(root, lab, committed)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    mutants = everything = lab_mutants(lab, root / "impl")
    total = len(mutants)
    if sample_size is not None:
        mutants = sample(mutants, sample_size)
    if only:
        mutants = [m for m in mutants if only in m.key]
    previous = out / f"{lab.short}.json"
    carried: list[Mutant] = []   # --survivors: the last report's other verdicts, kept
    earlier_minutes = 0.0
    if survivors_only:
        if not previous.exists():
            shutil.rmtree(root, ignore_errors=True)
            raise SystemExit(f"--survivors: no earlier report {previous}")
        last = json.loads(previous.read_text())
        again = {m["key"] for m in last["mutants"]
                 if m["status"] in ("survived", "timed out", "error")}
        current = {m.key for m in mutants}
        carried = [Mutant(**m) for m in last["mutants"]
                   if m["key"] not in again and m["key"] in current]
        mutants = [m for m in mutants if m.key in again]
        sample_size, earlier_minutes = last.get("sample"), last.get("minutes", 0.0)
    listed = {e.key: e for e in equivalents(lab)}
    unknown = sorted(set(listed) - {m.key for m in everything})
    print(f"mutants: {lab.short}: {total} mutants of reference/{lab.package}"
          f" ({len(mutants)} to grade), scratch copy {root}", flush=True)
    try:
        original = {p.relative_to(root / "impl").as_posix(): p.read_text(encoding="utf-8")
                    for p in sorted((root / "impl" / lab.package).rglob("*.py"))}
        t0 = time.time()
        status, test, note = ws.grade(timeout or 900)
        baseline = time.time() - t0
        if status != "survived":
            raise SystemExit(f"mutants: the graders do not pass on the unmutated reference "
                             f"({status} {test}): {note}\nFix that first; nothing was graded.")
        limit = timeout or max(60.0, 3 * baseline + 30)
        print(f"mutants: the unmutated reference passes in {baseline:.1f} s; "
              f"time limit per mutant {limit:.0f} s", flush=True)
        deadline = started + max_minutes * 60 if max_minutes else None
        # Graded in the sample's (hash) order, so a run cut short by --max-minutes is still an
        # unbiased sample of the lab; the report lists them in file order.
        for i, m in enumerate(sorted(mutants, key=_rank), 1):
            if m.key in listed and not run_equivalent:
                m.status, m.note = "equivalent", listed[m.key].reason
                continue
            if deadline and time.time() > deadline:
                m.note = f"--max-minutes {max_minutes:g} reached"
                continue
            t = time.time()
            ws.apply(m, original)
            m.status, m.test, m.note = ws.grade(limit)
            m.seconds = round(time.time() - t, 2)
            if m.key in listed:
                m.note = (f"listed as equivalent ({listed[m.key].reason}) but {m.status}"
                          + (f" by {m.test}" if m.test else ""))
            print(f"  [{i}/{len(mutants)}] {m.status:9} {m.seconds:6.1f}s  {m.key}"
                  + (f"  <- {m.test}" if m.test else ""), flush=True)
        ws.apply(None, original)
    finally:
        if keep:
            print(f"mutants: scratch copy kept at {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    order = {m.key: i for i, m in enumerate(everything)}
    mutants = sorted(carried + mutants, key=lambda m: order[m.key])
    result = _summary(lab, mutants, total, started, baseline, limit, sample_size, max_minutes,
                      survivors_only, unknown, earlier_minutes)
    _write(result, out)
    return result


def _summary(lab, mutants, total, started, baseline, limit, sample_size, max_minutes,
             survivors_only, unknown, earlier_minutes=0.0) -> dict:
    counts = {s: sum(m.status == s for m in mutants) for s in STATUSES}
    graded = len(mutants) - counts["not run"] - counts["equivalent"]
    from importlib.metadata import version
    return {
        "lab": lab.short, "package": lab.package,
        "tool": f"{TOOL} {version('cosmic-ray')}", "operators": OPERATORS,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "minutes": round((time.time() - started) / 60 + earlier_minutes, 1),
        "baseline_seconds": round(baseline, 1), "limit_seconds": round(limit),
        "sample": sample_size, "max_minutes": max_minutes, "survivors_only": survivors_only,
        "mutants_total": total, "selected": len(mutants), "counts": counts,
        "kill_rate": round(counts["killed"] / graded, 4) if graded else None,
        "stale_equivalents": unknown,
        "mutants": [asdict(m) for m in mutants],
    }


def _write(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lab = result["lab"]
    (out / f"{lab}.json").write_text(json.dumps(result, indent=1) + "\n")
    c = result["counts"]
    rate = "n/a" if result["kill_rate"] is None else f"{100 * result['kill_rate']:.1f}%"
    lines = [f"# Mutation testing: {lab} ({result['package']})", "",
             f"{result['tool']}, {len(result['operators'])} operators; started "
             f"{result['started']}, {result['minutes']} min; the unmutated reference passes "
             f"in {result['baseline_seconds']} s; time limit {result['limit_seconds']} s per "
             f"mutant." + (f" Sample of {result['sample']}." if result["sample"] else "")
             + (" The survivors of the last run graded again, the other verdicts (and "
                "minutes) carried over from it." if result["survivors_only"] else ""), "",
             "| mutants | selected | killed | survived | timed out | equivalent | error | "
             "not run | kill rate (non-equivalent graded) |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| {result['mutants_total']} | {result['selected']} | {c['killed']} | "
             f"{c['survived']} | {c['timed out']} | {c['equivalent']} | {c['error']} | "
             f"{c['not run']} | {rate} |", ""]
    if result["stale_equivalents"]:
        lines += ["## Listed equivalents the reference no longer produces", ""]
        lines += [f"- `{k}`" for k in result["stale_equivalents"]] + [""]
    for status in ("survived", "timed out", "error"):
        chosen = [m for m in result["mutants"] if m["status"] == status]
        if chosen:
            lines += [f"## {status.capitalize()} ({len(chosen)})", ""]
            for m in chosen:
                lines += [f"### `{m['key']}`", ""] + ([m["note"], ""] if m["note"] else [])
                lines += ["```diff", m["diff"], "```", ""]
    eq = [m for m in result["mutants"] if m["status"] == "equivalent"]
    if eq:
        lines += [f"## Equivalent ({len(eq)})", ""]
        lines += [f"- `{m['key']}`: {m['note']}" for m in eq] + [""]
    killers: dict[str, int] = {}
    for m in result["mutants"]:
        if m["status"] == "killed":
            killers[m["test"]] = killers.get(m["test"], 0) + 1
    if killers:
        lines += ["## Killed, by the first grader test that failed", "",
                  "| test | mutants |", "|---|---|"]
        lines += [f"| {t} | {n} |" for t, n in sorted(killers.items(), key=lambda x: -x[1])]
    (out / f"{lab}.md").write_text("\n".join(lines) + "\n")
    print(f"mutants: {lab}: killed {c['killed']}, survived {c['survived']}, timed out "
          f"{c['timed out']}, equivalent {c['equivalent']}, error {c['error']}, not run "
          f"{c['not run']}; kill rate {rate}; {result['minutes']} min -> "
          f"{out / (lab + '.md')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.mutants",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("lab", help="lab0 ... lab4")
    parser.add_argument("--sample", type=int, metavar="N", help="grade a deterministic sample")
    parser.add_argument("--max-minutes", type=float, metavar="M",
                        help="start no mutant after M minutes (the rest: not run)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="seconds per mutant (default: 3 x the unmutated run + 30, >= 60)")
    parser.add_argument("--survivors", action="store_true",
                        help="grade again only the survivors, time-outs and errors of the last "
                             "report; keep its other verdicts")
    parser.add_argument("--only", metavar="TEXT", help="grade only mutants whose key contains it")
    parser.add_argument("--run-equivalent", action="store_true",
                        help="grade the listed equivalent mutants too")
    parser.add_argument("--list", action="store_true", help="list the mutants; grade nothing")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "mutants")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    parser.add_argument("--committed", action="store_true",
                        help="grade the last commit's reference with its graders, not the "
                             "working tree (others' unfinished edits stay out)")
    args = parser.parse_args(argv)
    try:
        lab = find_lab(args.lab)
    except ValueError as exc:
        parser.error(str(exc))
    if args.list:
        mutants = lab_mutants(lab)
        chosen = sample(mutants, args.sample) if args.sample is not None else mutants
        for m in chosen:
            print(f"{m.file}:{m.line}: {m.key}")
        print(f"{len(chosen)} of {len(mutants)} mutants")
        return 0
    result = run(lab, sample_size=args.sample, max_minutes=args.max_minutes,
                 timeout=args.timeout, survivors_only=args.survivors,
                 run_equivalent=args.run_equivalent, out=args.out, keep=args.keep,
                 only=args.only, committed=args.committed)
    return 1 if result["counts"]["error"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
