"""labkit.search: breadth-first search over every interleaving (issue 17).

Toy nodes with known shortest counterexamples check the search itself (shortest path, fault
budgets, deduplication, bounds that never pass silently, determinism, the rebuilt trace); the
Lab 2 searches are checked on the reference and on the two variants made for them (their
grading is in tests/test_labs.py, like every variant's), and one failure record is replayed.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

from graderun import BUGGY, REPO, grade
from instructor.testing import reference_lab
from labkit import Node
from labkit.search import Space, StatePredicate, fingerprint, rebuild, search
from labkit.search.report import expect_no_violation
from labkit.search.world import SearchRuntime, clone


class Asker(Node):
    """n1 asks every peer once and counts the acks it gets (the bug: duplicates count too)."""

    def on_start(self) -> None:
        self.acks = 0
        self.heard: set[str] = set()
        if self.id == "n1":
            for p in self.peers:
                self.send(p, {"type": "ask"})

    def handle_ask(self, src: str, msg: dict) -> None:
        self.send(src, {"type": "ack"})

    def handle_ack(self, src: str, msg: dict) -> None:
        self.acks += 1
        self.heard.add(src)


def too_many_acks(view) -> str | None:
    node = view.node("n1")
    if node is not None and node.acks > len(node.peers):
        return f"n1 counted {node.acks} acks from {len(node.peers)} peers"
    return None


ACKS = StatePredicate("acks counted once", too_many_acks)


def asker_space(nodes: int = 2, **faults: int) -> Space:
    return Space(Asker, nodes, faults=faults, invariants=[ACKS])


def test_without_faults_the_whole_space_is_explored_and_safe():
    result = search(asker_space(3), depth=20)
    assert result.verdict == "ok" and result.stopped_by == "exhausted", result.summary()
    assert result.summary().startswith("no violation within depth")


def test_a_duplicate_budget_finds_the_shortest_counterexample():
    result = search(asker_space(2, duplicate=1), depth=10)
    assert result.verdict == "violated", result.summary()
    # deliver the ask, duplicate the ack, deliver both copies: 4 steps (duplicating the ask
    # first takes 5)
    assert [s[0] for s in result.path] == ["deliver", "duplicate", "deliver", "deliver"]
    assert "acks counted once violated after 4 steps" in result.summary()


def test_a_drop_budget_does_not_break_it_and_a_crash_does():
    assert search(asker_space(2, drop=1), depth=12).verdict == "ok"
    # n1 crashes with n2's ack in flight and, restarted, asks again: two acks reach the new
    # incarnation (restarting over storage is free, the crash is the budget's)
    result = search(asker_space(2, crash=1), depth=12)
    assert result.verdict == "violated"
    assert [s[0] for s in result.path] == ["deliver", "crash", "restart", "deliver", "deliver",
                                           "deliver"], result.path


def test_the_search_is_deterministic_byte_for_byte():
    one = search(asker_space(3, duplicate=1, drop=1), depth=10)
    two = search(asker_space(3, duplicate=1, drop=1), depth=10)
    assert one.path == two.path and one.states == two.states
    _, a = rebuild(asker_space(3, duplicate=1, drop=1), one.path)
    _, b = rebuild(asker_space(3, duplicate=1, drop=1), two.path)
    assert a == b and a


def test_the_rebuilt_path_ends_in_the_state_the_search_found():
    space = asker_space(2, duplicate=1)
    result = search(space, depth=10)
    world, records = rebuild(space, result.path)
    assert fingerprint(world) == result.final
    kinds = [r.kind for r in records]
    assert kinds.count("deliver") == 3 and "fault" in kinds   # the duplicate is shown
    sends = {r.ref for r in records if r.kind == "send"}
    assert {r.ref for r in records if r.kind == "deliver"} <= sends   # arrows link up


def test_fingerprints_ignore_time_random_state_and_set_order():
    space = asker_space(2)
    rt = SearchRuntime(space.node_ids)
    world = space.start(rt)
    other = clone(world, rt)
    world.nodes["n1"].heard = {"n2", "n3", "n9"}
    other.nodes["n1"].heard = set()
    for name in ("n9", "n3", "n2"):
        other.nodes["n1"].heard.add(name)
    other.depth += 7
    other.nodes["n1"].rng.random()
    assert fingerprint(world) == fingerprint(other)
    other.nodes["n1"].acks = 1
    other.parts.clear()     # the per-node texts are cached: a step invalidates its node's
    assert fingerprint(world) != fingerprint(other)


def test_copy_on_write_shares_only_the_nodes_a_step_does_not_touch():
    space = asker_space(3)
    rt = SearchRuntime(space.node_ids)
    world = space.start(rt)
    step = ("deliver", "n2", "n1", '{"type":"ask"}')
    nxt = clone(world, rt, "n2")
    before = fingerprint(world)
    from labkit.search.world import apply_step
    apply_step(rt, nxt, Asker, step)
    assert nxt.nodes["n1"] is world.nodes["n1"] and nxt.nodes["n2"] is not world.nodes["n2"]
    assert fingerprint(world) == before != fingerprint(nxt)
    assert len(world.net) == 2 and len(nxt.net) == 2   # one delivered, one ack sent


def test_a_clone_is_independent_of_its_original():
    space = asker_space(2)
    rt = SearchRuntime(space.node_ids)
    world = space.start(rt)
    copy = clone(world, rt)
    copy.nodes["n1"].heard.add("n2")
    copy.storage["n1"].put("k", 1)
    copy.net.pop()
    assert world.nodes["n1"].heard == set() and "k" not in world.storage["n1"]
    assert len(world.net) == 1 and copy.nodes["n1"].storage is copy.storage["n1"]


@pytest.mark.parametrize("bound,words", [({"max_states": 5}, "the state bound (5 states)"),
                                         ({"max_seconds": 0.0}, "the wall-time bound (0 s)")])
def test_a_bound_other_than_depth_never_passes_silently(bound, words):
    space = asker_space(3, duplicate=1, drop=1)
    result = search(space, depth=30, **bound)
    assert result.verdict == "ok" and not result.complete
    assert words in result.summary() and "no violation within depth" in result.summary()
    kwargs = {"max_states": 10**6, "max_seconds": 60.0, **bound}
    with pytest.raises(AssertionError, match="did not finish, so it proves nothing"):
        expect_no_violation(space, depth=30, **kwargs)


def test_prune_stops_below_a_state_and_goal_ends_the_search():
    got_ack = StatePredicate("n1 got an ack", lambda v: "yes" if v.node("n1").acks else None)
    pruned = Space(Asker, 2, faults={"duplicate": 1}, invariants=[ACKS], prune=[got_ack])
    assert search(pruned, depth=10).verdict == "ok"     # the second ack is never delivered
    goal = Space(Asker, 2, goals=[got_ack])
    result = search(goal, depth=10)
    assert result.verdict == "goal" and len(result.path) == 2


class Grudge(Node):
    """Raises when the ack of n3 arrives before n2's (an exact order)."""

    def on_start(self) -> None:
        self.heard = []
        self.handle = None
        if self.id == "n1":
            self.handle = lambda: None     # not plain data: copied by copy.deepcopy
            for p in self.peers:
                self.send(p, {"type": "ask"})

    def handle_ask(self, src: str, msg: dict) -> None:
        self.send(src, {"type": "ack"})

    def handle_ack(self, src: str, msg: dict) -> None:
        self.heard.append(src)
        if self.heard == ["n3"]:
            raise KeyError("n2 first")


def test_a_handler_that_raises_is_a_failure_with_its_shortest_path():
    from labkit.grading.scenario import ScenarioFailure

    space = Space(Grudge, 3)
    result = search(space, depth=10)
    assert result.verdict == "error" and len(result.path) == 2, result.summary()
    assert result.path[-1][:3] == ("deliver", "n1", "n3")
    with pytest.raises(ScenarioFailure) as caught:
        expect_no_violation(space, depth=10, max_states=1000, max_seconds=60)
    assert "a node raised at step 2" in str(caught.value) and "n2 first" in str(caught.value)
    kinds = [r.kind for r in caught.value.capture.sim.trace.records]
    assert kinds[-1] == "error"


def test_quiet_timers_never_fire():
    class Ticker(Node):
        def on_start(self) -> None:
            self.ticks = 0
            self.set_timer("tick", 1.0)
            self.set_timer("quiet", 1.0)

        def timer_tick(self) -> None:
            self.ticks += 1
            if self.ticks < 3:
                self.set_timer("tick", 1.0)

        def timer_quiet(self) -> None:
            raise AssertionError("a quiet timer fired")

    result = search(Space(Ticker, 1, quiet_timers=("quiet",)), depth=10)
    assert result.verdict == "ok" and result.stopped_by == "exhausted" and result.states == 4


class Replier(Node):
    """Answers every client operation at once and tells its first peer about it."""

    def on_start(self) -> None:
        self.done = 0

    def on_request(self, request) -> None:
        self.done += 1
        self.reply(request, {"by": self.id})
        self.send(self.peers[0], {"type": "told"})

    def handle_told(self, src: str, msg: dict) -> None:
        pass


def answered_first(op: int):
    def test(view) -> str | None:
        ops = [a[0] for a in view.answers]
        return f"op#{op} was answered first" if ops and ops[0] == op else None
    return StatePredicate(f"op#{op} answered first", test)


def test_a_client_issues_its_operations_one_at_a_time():
    ops = [{"op": "a"}, {"op": "b"}]
    apart = search(Space(Replier, 2, requests=ops, goals=[answered_first(2)]), depth=6)
    assert apart.verdict == "goal" and len(apart.path) == 1      # two clients: either first
    one = Space(Replier, 2, clients=[ops], goals=[answered_first(2)])
    result = search(one, depth=6)
    assert result.verdict == "ok" and result.stopped_by == "exhausted", result.summary()
    assert "2 client operations from 1 client (one at a time each)" in one.describe_bounds()
    with pytest.raises(ValueError, match="either requests or clients"):
        Space(Replier, 2, requests=ops, clients=[ops])


def test_a_pinned_operation_goes_to_its_node_only():
    def elsewhere(view) -> str | None:
        return next((f"answered by {n}" for _, n, _ in view.answers if n != "n2"), None)

    wrong = StatePredicate("answered elsewhere", elsewhere)
    assert search(Space(Replier, 3, requests=[{}], invariants=[wrong]), depth=4).verdict \
        == "violated"
    result = search(Space(Replier, 3, requests=[{}], at={1: "n2"}, invariants=[wrong]), depth=4)
    assert result.verdict == "ok" and result.stopped_by == "exhausted"
    assert result.states == 3     # start, n2 answers, its peer hears of it
    with pytest.raises(ValueError, match="at pins unknown operations or nodes"):
        Space(Replier, 3, requests=[{}], at={1: "n7"})


def test_new_answers_are_those_of_the_last_step_only():
    fresh = StatePredicate("fresh", lambda v: "fresh" if v.new_answers else None)
    stale = StatePredicate("stale", lambda v: "stale" if v.answers and not v.new_answers else None)
    got = search(Space(Replier, 2, requests=[{}], at={1: "n1"}, goals=[fresh]), depth=4)
    assert got.verdict == "goal" and len(got.path) == 1
    got = search(Space(Replier, 2, requests=[{}], at={1: "n1"}, goals=[stale]), depth=4)
    assert got.verdict == "goal" and [s[0] for s in got.path] == ["request", "deliver"]


def test_quiet_timers_may_name_a_prefix():
    from labkit.search.world import is_quiet

    quiet = frozenset(("op:*", "anti_entropy"))
    assert is_quiet("op:1.2", quiet) and is_quiet("anti_entropy", quiet)
    assert not is_quiet("election", quiet) and not is_quiet("anti", quiet)
    assert is_quiet("anything", frozenset(("*",)))


# ----- Lab 2: the graded searches on the reference and the variants made for them ------------

@pytest.fixture(scope="module")
def lab2():
    sys.path.insert(0, str(REPO))
    from graders.lab2_raft import test_search as searches
    return searches


def variant(name: str, package: str = "lab2_raft"):
    module = f"_variant_{package}_{name}"
    import importlib.util

    path = BUGGY / package / name / package / "__init__.py"
    spec = importlib.util.spec_from_file_location(module, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("package", ["lab2_raft", "lab3_partitions"])
def test_graded_searches_pass_on_the_reference(package):
    """Every graded search explores its whole bounded space on the reference, about as many
    states as its spec says (what the failure text and the handout quote)."""
    sys.path.insert(0, str(REPO))
    searches = importlib.import_module(f"graders.{package}.test_search")
    ref = reference_lab(package)
    for spec in searches.SEARCHES.values():
        result = search(spec.build(ref), depth=spec.depth, max_states=spec.max_states)
        assert result.verdict == "ok" and result.stopped_by == "depth", result.summary()
        assert spec.reference_states / 2 <= result.states <= spec.reference_states * 2


@pytest.mark.parametrize("name,test,steps", [("grants_before_term_update", "election_safety", 6),
                                             ("appends_after_commit_index", "log_matching", 6),
                                             ("candidate_takes_commands", "log_matching", 4)])
def test_lab2_variants_have_a_shortest_counterexample(lab2, name, test, steps):
    spec = lab2.SEARCHES[test]
    result = search(spec.build(variant(name)), depth=spec.depth)
    assert result.verdict == "violated" and len(result.path) == steps, result.summary()
    assert result.predicate == spec.invariants[0].name


def graded_search_failure_replays(tmp_path, package: str, variant: str, test: str,
                                  says: str) -> tuple[str, dict, str]:
    """Grade ``variant`` on the graded search ``test``: it fails saying ``says``, with a
    failure record and its viewer page, and ``labkit.replay`` runs the same path again byte
    for byte. Returns the test's output, the record and the replay's output."""
    run = grade(package, BUGGY / package / variant, tmp_path, "-k", test)
    out = run.test(test)["output"]
    assert says in out and "failure id:" in out, out
    assert "not deterministic" not in out
    fid = out.split("failure id: ")[1].split()[0]
    record = json.loads((tmp_path / "reports" / "failures" / f"{fid}.json").read_text())
    assert record["details"]["search"]["steps"] and record["trace"]
    assert (tmp_path / "reports" / "failures" / f"{fid}.html").exists()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, "-m", "labkit.replay", fid, "--report-dir",
                           str(tmp_path / "reports")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "same run, byte for byte" in proc.stdout
    return out, record, proc.stdout


def search_command(tmp_path, *args: str, code: int) -> str:
    """``python -m labkit.search ARGS`` exits with ``code``; its output. A violation (exit 1)
    leaves a viewer page for its failure id."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, "-m", "labkit.search", *args, "--report-dir",
                           str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == code, proc.stdout + proc.stderr
    if code == 1:
        fid = proc.stdout.split("failure id: ")[1].split()[0]
        assert (tmp_path / "failures" / f"{fid}.html").exists()
    return proc.stdout


@pytest.mark.slow
def test_a_search_failure_is_recorded_and_replays_byte_for_byte(tmp_path):
    _, _, replayed = graded_search_failure_replays(
        tmp_path, "lab2_raft", "grants_before_term_update", "test_search_election_safety",
        "election safety violated after 6 steps")
    assert "election safety violated" in replayed


def test_the_search_command_reports_verdicts_and_states_per_second(tmp_path):
    out = search_command(tmp_path, "lab2", "--impl", "reference", "--test", "election_safety",
                         "--depth", "4", code=0)
    assert "no violation within depth 4 (173 states); stopped by the depth bound (4)" in out
    assert "states per second" in out
    out = search_command(tmp_path, "lab2", "--impl",
                         str(BUGGY / "lab2_raft" / "candidate_takes_commands"), code=1)
    assert "log matching violated after 4 steps" in out


# ----- Lab 3: the graded searches on the reference and the variants made for them ------------

@pytest.fixture(scope="module")
def lab3():
    sys.path.insert(0, str(REPO))
    from graders.lab3_partitions import test_search as searches
    return searches


@pytest.mark.parametrize("name,test,steps,prop", [
    ("write_back_skips_own_replica", "read_during_write", 8, "READ_MAJORITY"),
    ("write_ignores_own_replica", "write_after_write", 10, "ACK_MAJORITY")])
def test_lab3_variants_have_a_shortest_counterexample(lab3, name, test, steps, prop):
    """Each variant made for a search breaks its invariant in exactly that many steps, and the
    other search does not see it (the bugs need their own interleaving)."""
    from graders.lab3_partitions import invariants

    code = variant(name, "lab3_partitions")
    for other, spec in lab3.SEARCHES.items():
        result = search(spec.build(code), depth=spec.depth, max_states=spec.max_states)
        if other != test:
            assert result.verdict == "ok", result.summary()
            continue
        assert result.verdict == "violated" and len(result.path) == steps, result.summary()
        assert result.predicate == getattr(invariants, prop)
        assert "(a majority of 3 is 2)" in result.evidence


@pytest.mark.slow
def test_a_lab3_search_failure_is_recorded_and_replays_byte_for_byte(tmp_path):
    out, record, _ = graded_search_failure_replays(
        tmp_path, "lab3_partitions", "write_back_skips_own_replica",
        "test_search_read_during_write", "in storage violated after 8 steps")
    assert "nox -s search -- lab3 --test read_during_write --depth 8" in out
    assert len(record["details"]["search"]["steps"]) == 8


def test_the_search_command_runs_the_lab3_searches(tmp_path):
    out = search_command(tmp_path, "lab3", "--impl", "reference", "--test", "write_after_write",
                         "--depth", "6", code=0)
    assert "lab3 write_after_write: depth 6, 3 nodes, 2 client operations" in out
    assert "stopped by the depth bound (6)" in out and "states per second" in out
    out = search_command(tmp_path, "lab3", "--impl",
                         str(BUGGY / "lab3_partitions" / "write_ignores_own_replica"),
                         "--test", "write_after_write", code=1)
    assert "in storage violated after 10 steps" in out
