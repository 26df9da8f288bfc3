"""Lab 2's own checks (tests/test_labs.py grades the reference, the starter and the buggy
variants of every lab): the reference's fault-schedule count, unit tests of the Raft
invariants on scripted nodes, determinism of the runs.

The live tests in graders/lab2_raft/test_live.py are exercised by tests/test_live.py."""

from __future__ import annotations

import re

import pytest

from graderun import REPO, reference_run
from labkit import Node, PropertyViolation, Simulation
from labkit.faults import CrashAfter
from graders.lab2_raft.invariants import (ACCESSOR, COMMIT_NEEDS_MAJORITY, ELECTION_SAFETY,
                                          IN_ORDER_APPLY, LEADER_COMPLETENESS, LOG_MATCHING,
                                          ONE_VOTE_PER_TERM, STATE_MACHINE_SAFETY,
                                          TERMS_NEVER_DECREASE, INVARIANTS,
                                          MAJORITY_OF_VOTES, ACKNOWLEDGED_STATE,
                                          COMMITTED_ENTRIES_STAY, STANDING, STALE_ANSWERED,
                                          RaftChecker)
from instructor.testing import reference_lab

PACKAGE = "lab2_raft"
MIN_SCHEDULES = 500


# ----- the reference run (tests/test_labs.py checks its marks) -------------------------------------


@pytest.mark.slow
@pytest.mark.xdist_group(f"reference-{PACKAGE}")
def test_reference_runs_enough_fault_schedules(tmp_path_factory):
    run = reference_run(PACKAGE, str(tmp_path_factory.getbasetemp()))
    written = sum(len(re.findall(r"^def test_", path.read_text(), re.MULTILINE))
                  for path in (REPO / "graders" / PACKAGE).glob("test_*.py")
                  if path.name != "test_live.py")
    assert len(run.report["tests"]) == written, (len(run.report["tests"]), written)
    found = re.search(r"lab2_raft: (\d+) generated fault schedules run", run.stdout)
    assert found and int(found.group(1)) >= MIN_SCHEDULES, run.stdout[-2000:]


# ----- the Raft invariants on scripted nodes -----------------------------------------------------


class Scripted(Node):
    """A node whose Raft state is whatever the test sends it: a request ``{"state": {...}}``
    replaces fields of its state, ``{"apply": [index, command]}`` applies."""

    def on_start(self) -> None:
        self.state = {"role": "follower", "term": self.storage.get("term", 0), "voted_for": None,
                      "commit_index": 0, "log": []}

    def raft_state(self) -> dict:
        return self.state

    def on_message(self, src: str, msg: dict) -> None:
        pass

    def on_request(self, request) -> None:
        body = request.body
        if "state" in body:
            self.state = {**self.state, **body["state"]}
            self.storage.put("term", self.state["term"])
        if "apply" in body:
            self.apply(*body["apply"])
        if "send" in body:
            self.send(*body["send"])
        self.reply(request, {})


def scripted(n: int = 5, *, votes: bool = False,
             standing: bool = False) -> tuple[Simulation, RaftChecker]:
    """Scripted leaders come from nowhere: unless ``votes``, "leader has a majority of votes"
    is left out; scripted candidates jump to any term: "standing for election" is left out
    unless ``standing``."""
    sim = Simulation(Scripted, n, seed=0)
    checker = RaftChecker(sim, invariants=tuple(
        i for i in INVARIANTS if (votes or i != MAJORITY_OF_VOTES)
        and (standing or i != STANDING)))
    sim.run_until(0.0)
    return sim, checker


def say(sim: Simulation, node: str, **state) -> None:
    sim.call(node, {"state": state})


def log(*pairs) -> list[dict]:
    return [{"term": t, "command": c} for t, c in pairs]


def violation(prop: str):
    return pytest.raises(PropertyViolation, match=re.escape(prop))


def test_checker_election_safety():
    sim, _ = scripted()
    say(sim, "n1", role="leader", term=1)
    say(sim, "n2", term=1)
    with violation(ELECTION_SAFETY) as info:
        say(sim, "n3", role="leader", term=1)
    assert "term 1 has two leaders: n1" in str(info.value) and "n3" in str(info.value)


def test_checker_one_vote_per_term_across_restarts():
    sim, _ = scripted()
    say(sim, "n1", term=2, voted_for="n2")
    say(sim, "n1", term=2, voted_for="n2")        # the same vote again is fine
    sim.restart("n1")
    say(sim, "n1", term=2, voted_for=None)        # forgetting is not yet a second vote...
    with violation(ONE_VOTE_PER_TERM) as info:
        say(sim, "n1", term=2, voted_for="n3")    # ...voting again is
    assert "n1 voted for n2 in term 2" in str(info.value)


def test_checker_terms_never_decrease():
    sim, checker = scripted()
    say(sim, "n1", term=3)
    sim.storage["n1"].put("term", 0)              # a node that lost its term
    with violation(TERMS_NEVER_DECREASE) as info:
        sim.restart("n1")                         # observers run right after the restart
    assert "from 3" in str(info.value) and "to 0" in str(info.value)


def test_checker_log_matching():
    sim, _ = scripted()
    say(sim, "n1", term=1, log=log((1, "a"), (1, "b")))
    say(sim, "n2", term=1, log=log((1, "a")))
    with violation(LOG_MATCHING) as info:
        say(sim, "n3", term=1, log=log((1, "x"), (1, "b")))
    assert "index 1 with term 1" in str(info.value) and "differ at index 1" in str(info.value)


def test_checker_log_matching_catches_a_kept_stale_suffix():
    sim, _ = scripted()
    say(sim, "n1", term=1, log=log((1, "a"), (1, "b"), (1, "c")))
    with violation(LOG_MATCHING):
        say(sim, "n1", term=2, log=log((1, "a"), (2, "x"), (1, "c")))


def test_checker_commit_needs_a_majority():
    sim, _ = scripted()
    for node in ("n1", "n2"):
        say(sim, node, term=1, log=log((1, "a")))
    with violation(COMMIT_NEEDS_MAJORITY) as info:
        say(sim, "n1", role="leader", term=1, commit_index=1)
    assert "only 2 of 5 nodes (n1, n2)" in str(info.value)


def test_checker_commit_with_a_majority_and_leader_completeness():
    sim, checker = scripted()
    for node in ("n1", "n2", "n3"):
        say(sim, node, term=1, log=log((1, "a")))
    say(sim, "n1", role="leader", term=1, commit_index=1)
    assert checker.commit_index() == 1 and checker.committed_command(1) == "a"
    with violation(LEADER_COMPLETENESS) as info:
        say(sim, "n4", role="leader", term=2)
    assert "n4 is leader of term 2 but lacks the entry committed at index 1" in str(info.value)


def test_checker_leader_of_the_commit_term_may_lack_it():
    """An entry committed in term 3 need not be in the log of a (stale) leader of term 2."""
    sim, _ = scripted()
    for node in ("n1", "n2", "n3"):
        say(sim, node, term=3, log=log((3, "a")))
    say(sim, "n1", role="leader", term=3, commit_index=1)
    say(sim, "n5", role="leader", term=2)


def test_checker_state_machine_safety_on_commit():
    sim, _ = scripted()
    for node in ("n1", "n2", "n3"):
        say(sim, node, term=1, log=log((1, "a")))
    say(sim, "n1", term=1, commit_index=1)
    say(sim, "n4", term=2, log=log((2, "b")))
    say(sim, "n5", term=2, log=log((2, "b")))
    say(sim, "n2", term=2, log=log((2, "b")))
    with violation(STATE_MACHINE_SAFETY) as info:
        say(sim, "n4", term=2, commit_index=1)
    assert "'b' (term 2) at index 1" in str(info.value) and "'a' (term 1)" in str(info.value)


def test_checker_in_order_apply_per_run():
    sim, checker = scripted()
    for node in ("n1", "n2", "n3"):
        say(sim, node, term=1, log=log((1, "a"), (1, "b")), commit_index=0)
    say(sim, "n1", commit_index=2)
    sim.call("n1", {"apply": [1, "a"]})
    sim.call("n1", {"apply": [2, "b"]})
    assert checker.applied_by("n1") == ["a", "b"]
    sim.restart("n1")                              # a new run applies from index 1 again
    say(sim, "n1", term=1, log=log((1, "a"), (1, "b")), commit_index=1)
    sim.call("n1", {"apply": [1, "a"]})
    with violation(IN_ORDER_APPLY) as info:
        sim.call("n1", {"apply": [2, "b"]})        # commit index is 1
    assert "while its commit index was 1" in str(info.value)
    with violation(IN_ORDER_APPLY):
        sim.call("n2", {"apply": [2, "b"]})        # skips index 1


def test_checker_applied_command_must_be_the_logged_one():
    sim, _ = scripted()
    for node in ("n1", "n2", "n3"):
        say(sim, node, term=1, log=log((1, "a")))
    say(sim, "n2", commit_index=1)
    with violation(IN_ORDER_APPLY) as info:
        sim.call("n2", {"apply": [1, "z"]})
    assert "its log holds 'a' there" in str(info.value)


def test_checker_state_machine_safety_on_apply():
    """Two nodes applying different commands at one index is a state-machine safety
    violation, caught when the second one applies."""
    sim, _ = scripted()
    for node in ("n1", "n3", "n4"):
        say(sim, node, term=1, log=log((1, "a")))
    say(sim, "n1", commit_index=1)
    sim.call("n1", {"apply": [1, "a"]})
    say(sim, "n2", term=2, log=log((2, "b")))
    sim.node("n2").state["commit_index"] = 1      # not seen by the checker before the apply
    with violation(STATE_MACHINE_SAFETY) as info:
        sim.call("n2", {"apply": [1, "b"]})
    assert "n1 applied 'a' at index 1" in str(info.value)


def test_checker_accessor_contract():
    sim, _ = scripted()
    with violation(ACCESSOR):
        say(sim, "n1", role="boss")
    sim, _ = scripted()
    with violation(ACCESSOR):
        say(sim, "n1", log=[["not", "a", "dict"]])


def test_checker_ignores_nodes_that_did_nothing():
    """Only nodes that handled an event are read: a crashed node's last state stays."""
    sim, checker = scripted()
    say(sim, "n1", role="leader", term=4)
    assert checker.leader() == ("n1", 4)
    sim.crash("n1")
    assert checker.leader() is None
    assert checker.views["n1"].term == 4


# ----- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_trace():
    from graders.lab2_raft.harness import Cluster  # noqa: PLC0415  (a grader helper)
    from labkit.faults import Crash, Partition, RecoverAll  # noqa: PLC0415

    lab = reference_lab(PACKAGE)
    digests = []
    for _ in range(2):
        c = Cluster(lab, seed=11)
        c.sim.apply_schedule([Partition(0.5, (("n1", "n2"), ("n3", "n4", "n5"))),
                              Crash(0.9, "n3"), RecoverAll(1.5)])
        c.workload(0.3, 1.5)
        c.sim.run_until(1.5)
        c.await_recovery()
        digests.append(c.sim.trace.digest())
    assert digests[0] == digests[1]
    other = Cluster(lab, seed=12)
    other.sim.run_until(1.0)
    assert other.sim.trace.digest() != digests[0]


def test_bench_reports_its_figures():
    from graders.lab2_raft.bench import bench  # noqa: PLC0415

    figures = bench(schedules=5)
    assert figures["lab2_schedules_per_second"] > 0
    assert figures["lab2_sim_seconds_per_wall_second"] > 1


def test_invariants_are_named_objects_with_statements():
    names = [inv.name for inv in INVARIANTS]
    assert len(set(names)) == len(names) == 13
    assert all(inv.statement and inv == inv.name for inv in INVARIANTS)


def test_checker_verdicts_name_the_broken_invariant_with_its_evidence():
    sim, checker = scripted()
    assert all(held for _, held, _ in checker.verdicts())
    say(sim, "n1", role="leader", term=1)
    with violation(ELECTION_SAFETY):
        say(sim, "n2", role="leader", term=1)
    broken = [(inv, evidence) for inv, held, evidence in checker.verdicts() if not held]
    assert [inv for inv, _ in broken] == [ELECTION_SAFETY]
    assert "term 1 has two leaders" in broken[0][1]


def test_checker_leader_needs_a_majority_of_distinct_votes():
    sim, _ = scripted(votes=True)
    say(sim, "n1", role="candidate", term=2, voted_for="n1")
    for voter in ("n2", "n2"):          # one voter's reply, twice
        sim.call(voter, {"state": {"term": 2},
                         "send": ["n1", {"type": "request_vote_reply", "term": 2,
                                         "granted": True}]})
    with violation(MAJORITY_OF_VOTES) as info:
        say(sim, "n1", role="leader")
    assert "from only n1, n2 (2 of 5 nodes; a majority is 3)" in str(info.value)


def test_checker_a_candidate_moves_to_the_next_term_and_votes_for_itself():
    sim, _ = scripted(standing=True)
    say(sim, "n1", role="candidate", term=1, voted_for="n1")      # 0 -> 1: fine
    say(sim, "n1", role="candidate", term=2, voted_for="n1")      # stands again: fine
    with violation(STANDING) as info:
        say(sim, "n1", role="candidate", term=4, voted_for="n1")  # 2 -> 4: a term skipped
    assert "n1 became a candidate for term 4" in str(info.value)
    assert "the next term, 3" in str(info.value)
    sim, _ = scripted(standing=True)
    with violation(STANDING) as info:
        say(sim, "n2", role="candidate", term=1)                   # no vote for itself
    assert "a candidate votes for itself" in str(info.value)


def test_checker_a_stale_append_entries_is_answered():
    sim, _ = scripted()
    say(sim, "n1", term=3)
    stale = {"type": "append_entries", "term": 1, "leader": "n2", "prev_index": 0,
             "prev_term": 0, "entries": [], "commit": 0}
    sim.call("n2", {"state": {"term": 1}, "send": ["n1", stale]})
    with violation(STALE_ANSWERED) as info:
        sim.run_for(0.1)                     # Scripted answers nothing
    assert "n1, in term 3, got append_entries of the older term 1 from n2" in str(info.value)


def test_checker_leader_with_a_majority_of_votes():
    sim, checker = scripted(votes=True)
    say(sim, "n1", role="candidate", term=2, voted_for="n1")
    say(sim, "n2", term=2, voted_for="n1")                       # seen in its state
    sim.call("n3", {"state": {"term": 2},                         # seen in its reply only
                    "send": ["n1", {"type": "request_vote_reply", "term": 2, "granted": True}]})
    say(sim, "n1", role="leader")
    assert checker.leader() == ("n1", 2)


def test_checker_acknowledged_vote_and_entries_survive_a_restart():
    sim, _ = scripted()
    sim.call("n2", {"state": {"term": 3, "voted_for": "n1"},
                    "send": ["n1", {"type": "request_vote_reply", "term": 3, "granted": True}]})
    with violation(ACKNOWLEDGED_STATE) as info:
        sim.restart("n2")                              # Scripted keeps the term, not the vote
    assert "n2 granted its vote in term 3 to n1" in str(info.value)
    assert "restarted as run 2" in str(info.value)

    sim, _ = scripted()
    sim.call("n2", {"state": {"term": 1, "log": log((1, "a"), (1, "b"))},
                    "send": ["n1", {"type": "append_entries_reply", "term": 1, "success": True,
                                    "match_index": 2}]})
    with violation(ACKNOWLEDGED_STATE) as info:
        say(sim, "n2", log=log((1, "a")))             # same term, an acknowledged entry gone
    assert "n2 acknowledged entries 1..2 to n1 (leader of term 1)" in str(info.value)
    assert "its log has only 1 entries" in str(info.value)


def test_checker_a_term_sent_is_a_term_kept():
    sim, _ = scripted()
    say(sim, "n2", term=4)
    CrashAfter(sim.now, "n2", "send").apply(sim)      # n2 crashes right after it sends
    op = sim.request("n2", {"state": {"term": 5}, "send": [
        "n1", {"type": "append_entries_reply", "term": 5, "success": False}]})
    sim.run_for(0.1)
    assert op.output is None and not sim.is_up("n2")  # term 5 was never seen in its state
    sim.storage["n2"].put("term", 4)                  # as if it had not saved term 5
    with violation(ACKNOWLEDGED_STATE) as info:
        sim.restart("n2")
    assert "n2 sent a message of term 5" in str(info.value) and "now it is in term 4" in \
        str(info.value)


def test_checker_log_never_shrinks_below_the_commit_index():
    sim, _ = scripted()
    for node in ("n1", "n2", "n3"):
        say(sim, node, term=1, log=log((1, "a"), (1, "b")))
    say(sim, "n2", commit_index=2)
    with violation(COMMITTED_ENTRIES_STAY) as info:
        say(sim, "n2", log=log((1, "a")))             # the commit index did not move
    assert "n2's log shrank to 1 entries, below its commit index 2" in str(info.value)


def test_aimed_runs_replay_byte_for_byte():
    """Targets and triggers resolve the same way on every run of a seed."""
    from graders.lab2_raft.harness import run_schedule  # noqa: PLC0415  (a grader helper)
    from labkit.faults import CrashAfter, CrashAtWrite, Cut, Isolate, Partition, format_schedule

    lab = reference_lab(PACKAGE)
    schedule = (Cut(0.4, "@leader", "@follower", both_ways=True), Isolate(0.8, "@leader"),
                CrashAfter(1.0, "@follower", "send:append_entries_reply"),
                Partition(1.3, (("@leader", "@lagging"),)), CrashAtWrite(1.6, "@leader"))
    runs = [run_schedule(lab, schedule, 7, fault_end=2.0) for _ in range(2)]
    assert runs[0].sim.trace.digest() == runs[1].sim.trace.digest()
    text = format_schedule(schedule, runs[0].sim)
    assert "cut @leader<->@follower  (@leader=n" in text and "@follower=n" in text, text
    states = [ev.detail for ev in runs[0].sim.trace.records if ev.kind == "state"]
    assert any(s.startswith("leader ") for s in states), states[:5]
