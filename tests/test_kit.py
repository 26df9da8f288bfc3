"""labkit.grading.kit, the grader kit every lab's harness uses: closed-loop clients, operation
descriptions, the linearizability property, the shrink budget, the fault-free first run."""

from __future__ import annotations

import pytest

from labkit import Node, PropertyViolation, Simulation, StudentCodeError
from labkit.grading.kit import (ShrinkBudget, closed_loop, describe_op, require_linearizable,
                                run_without_faults_first)
from labkit.linearizability import OK, Op, check, register_model


class Echo(Node):
    def on_request(self, request) -> None:
        self.set_timer(f"r{request.id}", 0.01, id=request.id)
        self.pending = getattr(self, "pending", {})
        self.pending[request.id] = request

    def on_timer(self, name: str, data: dict) -> None:
        self.reply(self.pending.pop(data["id"]), {"ok": True})


class Silent(Node):
    def on_request(self, request) -> None:
        pass


def test_closed_loop_clients_wait_for_their_previous_operation():
    sim = Simulation(Echo, 1, seed=0)
    sent = []

    def request(client):
        sent.append((client, round(sim.now, 6)))
        return sim.request("n1", {"op": "x"}, client=client)

    closed_loop(sim, [("a", 0.0), ("b", 0.005)], request, until=0.1, pause=0.02)
    sim.run_until(1.0)
    a = [t for c, t in sent if c == "a"]
    assert a[:3] == [0.0, 0.03, 0.06] and all(t < 0.1 for _, t in sent)
    assert all(op.done for op in sim.history) and len(sim.history) == len(sent)


def test_closed_loop_retries_when_nobody_can_be_asked():
    sim = Simulation(Echo, 1, seed=0)
    calls = []

    def request(client):
        calls.append(round(sim.now, 6))
        return None if len(calls) < 3 else sim.request("n1", {"op": "x"}, client=client)

    closed_loop(sim, [("a", 0.0)], request, until=0.05, retry=0.01)
    sim.run_until(1.0)
    assert calls[:4] == [0.0, 0.01, 0.02, 0.03]


def test_describe_op_says_what_became_of_the_operation():
    sim = Simulation({"n1": Echo, "n2": Silent}, ("n1", "n2"), seed=0, client_timeout=0.5)
    answered = sim.request("n1", {"op": "x"})
    silent = sim.request("n2", {"op": "x"})
    assert describe_op(silent, "a read", pending="waits") == \
        "op#2 (a read on n2, called at t=0.000s) waits"
    sim.run_until(1.0)
    assert describe_op(answered, "a write") == \
        "op#1 (a write on n1, called at t=0.000s) replied {'ok': True} after 0.010 s"
    assert describe_op(silent, "a read").endswith("got no reply within the client's 0.5 s")


def test_require_linearizable_passes_ok_and_names_the_property_otherwise():
    sim = Simulation(Echo, 1, seed=0)
    good = [Op("c1", {"op": "write", "value": 1}, {}, 0.0, 1.0, OK),
            Op("c2", {"op": "read"}, {"value": 1}, 2.0, 3.0, OK)]
    require_linearizable(sim, check(register_model, good), prop="reads are linearizable")
    bad = good[:1] + [Op("c2", {"op": "read"}, {"value": 2}, 2.0, 3.0, OK)]
    with pytest.raises(PropertyViolation, match="reads are linearizable violated") as info:
        require_linearizable(sim, check(register_model, bad), prop="reads are linearizable",
                             note="\n(a note)", at_blocked_return=True)
    assert info.value.evidence.endswith("(a note)") and info.value.time == 3.0


def test_shrink_budget_runs_known_failures_and_a_bounded_number_of_others():
    budget = ShrinkBudget(runs=2)
    assert not budget.skip("a")            # nothing failed yet: everything runs
    budget.failed("a")
    assert [budget.skip(k) for k in ("b", "c", "d", "a")] == [False, False, True, False]


def test_run_without_faults_first_lets_only_unfinished_code_through_when_asked():
    def unfinished():
        raise StudentCodeError("not yet", node="n1", cause=NotImplementedError("on_request"))

    def broken():
        raise KeyError("x")

    with pytest.raises(StudentCodeError):
        run_without_faults_first(unfinished, only_unfinished=True)
    run_without_faults_first(broken, only_unfinished=True)     # left to the generated test
    with pytest.raises(KeyError):
        run_without_faults_first(broken)
