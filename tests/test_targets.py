"""Targeted fault actions ("@leader", resolved when they fire) and trigger faults (CrashAfter,
CrashAtWrite) of labkit.faults, and the aimed schedules of labkit.strategies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from labkit import Node, Simulation
from labkit.faults import (Crash, CrashAfter, CrashAtWrite, Cut, Isolate, Partition, RecoverAll,
                           Restart, format_schedule)
from labkit.strategies import aimed_schedules


class Echo(Node):
    """A request ``{"steps": [...]}`` runs the steps in order: ``["send", dst]``,
    ``["put", key]``, ``["reply"]``, ``["apply", index]``. ``{"boom": True}`` stores at boot."""

    def on_start(self) -> None:
        self.done: list = []
        if self.storage.get("write_at_boot"):
            self.storage.put("booted", self.storage.get("booted", 0) + 1)

    def on_request(self, request) -> None:
        for step in request.body["steps"]:
            kind = step[0]
            if kind == "send":
                self.send(step[1], {"type": step[2] if len(step) > 2 else "ping"})
            elif kind == "put":
                self.storage.put(step[1], 1)
            elif kind == "reply":
                self.reply(request, {"ok": True})
            elif kind == "apply":
                self.apply(step[1], "x")
            elif kind == "swallow":
                try:
                    self.storage.put("swallowed", 1)
                except Exception:   # a student's catch-all must not keep the node alive
                    pass
            self.done.append(kind)

    def on_message(self, src: str, msg: dict) -> None:
        self.done.append(("got", src, msg["type"]))


def sim_with_target(who: str | None = "n2") -> Simulation:
    sim = Simulation(Echo, 3, seed=1)
    sim.add_target("leader", lambda s: who)
    sim.add_target("other", lambda s: "n3")
    return sim


def faults(sim: Simulation) -> list[str]:
    return [ev.detail for ev in sim.trace.records if ev.kind == "fault"]


def test_resolve_plain_target_unknown_and_nobody():
    sim = sim_with_target()
    assert sim.resolve("n1") == "n1"
    assert sim.resolve("@leader") == "n2"
    with pytest.raises(KeyError, match="no target '@boss'.*known: @leader, @other"):
        sim.resolve("@boss")
    with pytest.raises(KeyError):
        sim.resolve("n9")
    assert sim_with_target(None).resolve("@leader") is None


def test_targeted_crash_resolves_when_it_fires():
    calls = []
    sim = Simulation(Echo, 3, seed=1)
    sim.add_target("leader", lambda s: calls.append(s.now) or "n3")
    schedule = (Crash(0.5, "@leader"),)
    sim.apply_schedule(schedule)
    sim.run_until(1.0)
    assert calls == [0.5]
    assert not sim.is_up("n3") and sim.is_up("n1") and sim.is_up("n2")
    assert "crash @leader: @leader=n3" in faults(sim)
    assert format_schedule(schedule, sim) == "  t=0.500s crash @leader  (@leader=n3)"
    assert format_schedule(schedule) == "  t=0.500s crash @leader"


def test_target_that_is_nobody_does_nothing_and_says_so():
    sim = sim_with_target(None)
    schedule = (Crash(0.2, "@leader"), Isolate(0.3, "@leader"))
    sim.apply_schedule(schedule)
    sim.run_until(1.0)
    assert all(sim.is_up(n) for n in sim.node_ids)
    assert "crash @leader: @leader is nobody now, nothing done" in faults(sim)
    assert "(@leader=nobody: nothing done)" in format_schedule(schedule, sim)


def test_cut_one_link_of_the_target_and_same_node_twice():
    sim = sim_with_target("n2")
    sim.apply_schedule((Cut(0.1, "@leader", "@other", both_ways=True),
                        Cut(0.2, "@leader", "n2")))
    sim.run_until(0.5)
    assert not sim.can_reach("n2", "n3") and not sim.can_reach("n3", "n2")
    assert sim.can_reach("n1", "n2") and sim.can_reach("n2", "n1")
    assert "cut @leader->n2: @leader and n2 are both n2, nothing done" in faults(sim)


def test_partition_with_a_target_in_a_minority():
    sim = sim_with_target("n3")
    sim.apply_schedule((Partition(0.1, (("@leader",),)),))
    sim.run_until(0.5)
    assert not sim.can_reach("n3", "n1") and sim.can_reach("n1", "n2")


def run_steps(sim: Simulation, steps: list, at: float = 0.2):
    op = {}
    sim.at(at, lambda: op.setdefault("op", sim.request("n1", {"steps": steps})))
    sim.run_until(at + 0.5)
    return op["op"]


def test_crash_after_reply_stops_the_rest_of_the_handler():
    sim = sim_with_target("n1")
    sim.apply_schedule((CrashAfter(0.1, "@leader", "reply"),))
    op = run_steps(sim, [["send", "n2"], ["reply"], ["send", "n3"]])
    assert op.ok and op.output == {"ok": True}          # the client got its answer
    assert not sim.is_up("n1")
    assert sim.node("n2").done == [("got", "n1", "ping")]   # sent before the reply: sent
    assert sim.node("n3").done == []                         # after it: never sent
    assert any(f.startswith("trigger: n1 crashes right after replying") for f in faults(sim))


def test_crash_after_send_of_a_type_and_after_apply():
    sim = sim_with_target("n1")
    sim.apply_schedule((CrashAfter(0.1, "n1", "send:vote"),))
    run_steps(sim, [["send", "n2", "ping"], ["send", "n2", "vote"], ["send", "n3", "vote"]])
    assert not sim.is_up("n1")
    assert sim.node("n2").done == [("got", "n1", "ping"), ("got", "n1", "vote")]
    assert sim.node("n3").done == []
    assert "armed: crash n1 right after its next send:vote" in faults(sim)

    sim = sim_with_target("n1")
    applied = []
    sim.on_apply(lambda node, index, command: applied.append(index))
    sim.apply_schedule((CrashAfter(0.1, "n1", "apply"),))
    run_steps(sim, [["apply", 1], ["apply", 2]])
    assert applied == [1] and not sim.is_up("n1")


def test_crash_at_write_before_the_write_lands():
    sim = sim_with_target("n1")
    sim.apply_schedule((CrashAtWrite(0.1, "@leader"),))
    op = run_steps(sim, [["send", "n2"], ["put", "a"], ["reply"]])
    assert not sim.is_up("n1")
    assert "a" not in sim.storage["n1"]                     # the write never landed
    assert sim.node("n2").done == [("got", "n1", "ping")]   # the earlier send stays sent
    assert op.output is None                                # the reply never came
    assert "trigger: n1 crashes at its write of 'a', before it landed" in faults(sim)


def test_crash_after_write_lands():
    sim = sim_with_target("n1")
    sim.apply_schedule((CrashAfter(0.1, "n1", "write"),))
    run_steps(sim, [["put", "a"], ["put", "b"]])
    assert "a" in sim.storage["n1"] and "b" not in sim.storage["n1"]


def test_catch_all_in_student_code_does_not_swallow_the_crash():
    sim = sim_with_target("n1")
    sim.apply_schedule((CrashAtWrite(0.1, "n1"),))
    run_steps(sim, [["swallow"], ["send", "n2"]])
    assert not sim.is_up("n1") and sim.node("n2").done == []


def test_trigger_fires_in_on_start_after_a_restart():
    sim = sim_with_target("n1")
    sim.storage["n1"].put("write_at_boot", True)
    sim.apply_schedule((CrashAtWrite(0.1, "n1"), Restart(0.2, "n1"), Restart(0.3, "n1")))
    sim.run_until(0.25)
    assert not sim.is_up("n1") and "booted" not in sim.storage["n1"]
    sim.run_until(0.5)                                      # fired once: the next boot works
    assert sim.is_up("n1") and sim.storage["n1"].get("booted") == 1


def test_triggers_expire_and_recover_all_disarms_them():
    sim = sim_with_target("n1")
    sim.apply_schedule((CrashAfter(0.1, "n1", "reply", within=0.05),))
    run_steps(sim, [["reply"]])
    assert sim.is_up("n1")

    sim = sim_with_target("n1")
    sim.apply_schedule((CrashAtWrite(0.1, "n1"), RecoverAll(0.15)))
    run_steps(sim, [["put", "a"]])
    assert sim.is_up("n1") and "a" in sim.storage["n1"]
    assert "disarmed 1 trigger(s) that had not fired" in faults(sim)
    assert sim.storage["n1"].before_write is None


def test_trigger_waits_while_scenario_code_runs_outside_the_loop():
    sim = sim_with_target("n1")
    sim.apply_schedule((CrashAtWrite(0.1, "n1"),))
    sim.run_until(0.15)
    sim.storage["n1"].put("by-the-grader", 1)    # not the node's write: nothing fires
    assert sim.is_up("n1")


@settings(max_examples=25, derandomize=True, database=None, deadline=None)
@given(schedule=aimed_schedules(("n1", "n2", "n3"), ("leader", "other"), end=1.0))
def test_aimed_schedules_run_and_replay_byte_for_byte(schedule):
    digests = set()
    for _ in range(2):
        sim = sim_with_target("n2")
        sim.apply_schedule(schedule + (RecoverAll(1.2),))
        for k in range(4):
            sim.at(0.1 + 0.25 * k, lambda: sim.request("n1", {"steps": [["put", "k"],
                                                                       ["send", "n2"],
                                                                       ["reply"]]}))
        sim.run_until(1.5)
        digests.add(sim.trace.digest())
        assert format_schedule(schedule, sim)
    assert len(digests) == 1


def test_aimed_schedules_draw_targets_and_triggers():
    seen: set[str] = set()

    @settings(max_examples=200, derandomize=True, database=None, deadline=None)
    @given(schedule=aimed_schedules(("n1", "n2", "n3"), ("leader",), end=1.0))
    def collect(schedule):
        for a in schedule:
            text = str(a)
            seen.add(type(a).__name__ + ("@" if "@leader" in text else ""))

    collect()
    for kind in ("CrashAfter@", "CrashAtWrite@", "Cut@", "Partition@", "Crash@", "Network"):
        assert kind in seen, sorted(seen)


def test_finished_runs_with_triggers_are_not_kept_alive():
    import gc

    from labkit.faults import _TRIGGERS

    before = len(_TRIGGERS)
    for _ in range(5):
        sim = sim_with_target("n1")
        sim.apply_schedule((CrashAtWrite(0.1, "n1"),))
        sim.run_until(0.2)
    del sim
    gc.collect()
    assert len(_TRIGGERS) <= before
