"""labkit.search under --sandbox (labkit.sandbox.search): the node objects live in the child,
the search, the fingerprint's hash and every invariant run in the grader, and the search visits
the same states in the same order as in-process: same verdict, same state count, same
shortest path, the same sequence of fingerprints (every transition, deduplicated or not), the
same rebuilt trace. Toy nodes exercise what the copy must get right (fields that are not plain
data, a field that reaches the runtime, storage over a crash and a restart, a handler that
raises); the Lab 2 searches run on the reference, the starter and the variants made for them.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

from labkit.search import Space, StatePredicate, bfs, search
from labkit.search.report import counterexample

pytestmark = pytest.mark.slow  # subprocesses: see the tiers in tests/conftest.py

REPO = Path(__file__).resolve().parents[1]

TOY = '''
from labkit import Node


class Asker(Node):
    """n1 asks every peer once and counts the acks it gets (the bug: duplicates count too)."""

    def on_start(self):
        self.acks = 0
        self.heard = set()
        if self.id == "n1":
            for p in self.peers:
                self.send(p, {"type": "ask"})

    def on_message(self, src, msg):
        if msg["type"] == "ask":
            self.send(src, {"type": "ack"})
        else:
            self.acks += 1
            self.heard.add(src)

    def count(self):
        return self.acks


class Tangled(Node):
    """Fields that are not plain data: a lambda, a bound method in a dict, a reference to the
    runtime's method and bound methods of the node (copied by deepcopy, the runtime mapped to
    the copy's); storage over crashes and restarts."""

    def on_start(self):
        self.boots = self.storage.get("boots", 0) + 1
        self.storage.put("boots", self.boots)
        self.double = lambda x: 2 * x
        self.table = {"ping": self.on_ping}
        self.out = self._rt.send
        self.seen = []
        self.step = self.step_one
        if self.id == "n1":
            self.set_timer("tick", 0.1)

    def on_timer(self, name, data):
        for p in self.peers:
            self.send(p, {"type": "ping", "n": self.double(len(self.seen))})

    def on_message(self, src, msg):
        self.table[msg["type"]](src, msg)

    def on_ping(self, src, msg):
        self.seen.append(msg["n"])
        self.step()
        if len(self.seen) > 1:
            raise ValueError("a second ping")

    def step_one(self):
        self.step = self.step_two

    def step_two(self):
        self.out("n1", "n2", {"type": "ping", "n": -1}) if self.id == "n3" else None
        self.storage.put("twice", True)
'''


def toy_acks(view):
    node = view.node("n1")
    if node is not None and node.count() > len(node.peers):
        return f"n1 counted {node.count()} acks from {len(node.peers)} peers"
    return None


def toy_boots(view):
    for n, obj in view.nodes():
        if obj.boots > 2:
            return f"{n} booted {obj.boots} times"
    return None


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from labkit.sandbox import load_remote

    root = tmp_path_factory.mktemp("toy")
    (root / "toy_pkg").mkdir()
    (root / "toy_pkg" / "__init__.py").write_text(textwrap.dedent(TOY))
    spec = importlib.util.spec_from_file_location("toy_pkg_inproc", root / "toy_pkg" / "__init__.py")
    inproc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inproc)
    remote = load_remote(root, "toy_pkg")
    yield inproc, remote
    remote._lk_sandbox.stop()


def both(labs, make, monkeypatch, **bounds):
    """The search of ``make(lab)`` in-process and sandboxed: ``[(outcome, fingerprints)]``."""
    out = []
    for lab in labs:
        keys: list[bytes] = []
        real = bfs.fingerprint

        def recording(world, keys=keys, real=real):
            key = real(world)
            keys.append(key)
            return key

        monkeypatch.setattr(bfs, "fingerprint", recording)
        try:
            space = make(lab)
            r = search(space, **bounds)
            outcome = (r.verdict, r.states, r.depth, r.stopped_by, r.path, r.predicate,
                       r.evidence, r.final, str(r.error).splitlines()[:1] if r.error else None)
            if r.verdict in ("violated", "error"):
                monkeypatch.setattr(bfs, "fingerprint", real)
                run, steps = counterexample(space, r) if r.verdict == "violated" else \
                    (None, None)
                outcome += (run.trace.digest() if run else None, steps)
        except Exception as exc:  # noqa: BLE001 - compared below
            outcome = ("raised", type(exc).__name__, str(exc).splitlines()[:1])
        finally:
            monkeypatch.setattr(bfs, "fingerprint", real)
        out.append((outcome, keys))
    return out


def test_toy_searches_visit_the_same_states_sandboxed(toy, monkeypatch):
    def acks(lab):
        return Space(lab.Asker, 3, faults={"duplicate": 1},
                     invariants=[StatePredicate("acks once", toy_acks)])

    (a, ka), (b, kb) = both(toy, acks, monkeypatch, depth=10)
    assert a[0] == "violated" and a == b and ka == kb, (a, b)

    def tangled(lab):
        return Space(lab.Tangled, 3, faults={"crash": 1, "drop": 1},
                     invariants=[StatePredicate("boots", toy_boots)])

    (a, ka), (b, kb) = both(toy, tangled, monkeypatch, depth=7)
    assert a[0] == "error" and "a second ping" in a[8][0], a
    assert a == b and ka == kb and len(ka) > 50, (a, b, len(ka), len(kb))


def test_copies_are_freed_in_the_child(tmp_path):
    from labkit.sandbox import load_remote
    from labkit.sandbox import search as sandboxed
    from labkit.sandbox.search import SearchNode

    (tmp_path / "toy_pkg").mkdir()
    (tmp_path / "toy_pkg" / "__init__.py").write_text(textwrap.dedent(TOY))
    remote = load_remote(tmp_path, "toy_pkg")   # its own child: no earlier test's objects
    sb = remote._lk_sandbox
    space = Space(remote.Asker, 3, faults={"duplicate": 1})
    first = next(sandboxed._handles) - 1     # the handle of the search's first copy
    result = search(space, depth=6)
    assert result.verdict == "ok" and result.states > 40
    held = [p for p in sb.codec.proxies.values() if isinstance(p, SearchNode)]
    del held
    gc.collect()
    assert not [p for p in sb.codec.proxies.values() if isinstance(p, SearchNode)]
    sb.call({"op": "ping"})               # carries the releases to the child
    with pytest.raises(Exception):
        sb.call({"op": "fields", "n": first})   # gone in the child too
    sb.stop()


# ----- Lab 2 -------------------------------------------------------------------------------------

def lab2(impl: str, tmp_path: Path):
    from labkit.grading import loader
    from labkit.sandbox import load_remote

    path = loader.resolve_impl(impl) if "/" not in impl else REPO / impl
    if "buggy" in impl:
        from instructor.sample_class import vendored_variant

        path = vendored_variant(path, tmp_path / "submission")
    sys.path.insert(0, str(path))
    try:
        spec = importlib.util.spec_from_file_location(
            f"lab2_inproc_{abs(hash(str(path)))}", Path(path) / "lab2_raft" / "__init__.py",
            submodule_search_locations=[str(Path(path) / "lab2_raft")])
        inproc = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = inproc
        spec.loader.exec_module(inproc)
    finally:
        sys.path.remove(str(path))
    return inproc, load_remote(Path(path), "lab2_raft")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("impl,caught", [
    ("reference", {}),
    ("starter", {}),
    ("tests/buggy/lab2_raft/grants_before_term_update", {"election_safety": 6}),
    ("tests/buggy/lab2_raft/appends_after_commit_index", {"log_matching": 6}),
    ("tests/buggy/lab2_raft/candidate_takes_commands", {"log_matching": 4}),
])
def test_lab2_searches_give_the_same_verdicts_sandboxed(impl, caught, tmp_path, monkeypatch):
    from graders.lab2_raft.test_search import SEARCHES

    labs = lab2(impl, tmp_path)
    try:
        for name, spec in SEARCHES.items():
            (a, ka), (b, kb) = both(labs, spec.build, monkeypatch, depth=spec.depth,
                                    max_states=spec.max_states, max_seconds=600)
            assert a == b and ka == kb, (name, a[:4], b[:4])
            if impl == "starter":
                assert a[0] == "raised" and "not implemented" in a[2][0], a
            elif name in caught:
                assert a[0] == "violated" and len(a[4]) == caught[name], a[:5]
            else:
                assert a[:2] == ("ok", a[1]) and a[3] == "depth", a[:4]
                if impl == "reference":
                    assert a[1] == spec.reference_states
    finally:
        labs[1]._lk_sandbox.stop()


def test_the_graded_search_tests_pass_on_the_reference_sandboxed(tmp_path):
    import subprocess

    out = tmp_path / "reports"
    subprocess.run([sys.executable, "-m", "pytest", "graders/lab2_raft", "-k", "search",
                    "--impl", "reference", "--sandbox", "--report-dir", str(out), "-q",
                    "-p", "no:cacheprovider", "-o", "timeout=900"],
                   cwd=REPO, capture_output=True, text=True, timeout=900)
    report = json.loads((out / "score.json").read_text())
    assert [t["status"] for t in report["tests"]] == ["passed", "passed"], report["tests"]
    assert report["score"] == 10
