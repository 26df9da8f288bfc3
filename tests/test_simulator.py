"""The simulator's contract: determinism, every fault's observable effect, crash semantics,
budgets, and how student mistakes are contained and reported."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import (BudgetExceeded, NetworkConfig, Node, PropertyViolation, Simulation,
                    StudentCodeError)
from labkit.faults import Crash, Pause, Restart, Resume, format_schedule
from labkit.strategies import fault_schedules, seeds


class Gossip(Node):
    """Every 10 ms, tell every peer a counter; count what arrives; remember it durably."""

    def on_start(self):
        self.counter = 0
        self.received = []
        self.boots = self.storage.get("boots", 0) + 1
        self.storage.put("boots", self.boots)
        self.set_timer("tick", 0.01)

    def timer_tick(self):
        self.counter += 1
        self.broadcast({"type": "count", "n": self.counter, "jitter": self.rng.random()})
        self.set_timer("tick", 0.01)

    def handle_count(self, src, msg):
        self.received.append((src, msg["n"]))

    def on_request(self, request):
        if request.body.get("op") == "fail":
            self.reply(request, {"error": "nope"})
        elif request.body.get("op") == "ignore":
            pass
        else:
            self.reply(request, {"counter": self.counter, "boots": self.boots})


def arrivals(sim, dst, src):
    return [n for s, n in sim.node(dst).received if s == src]


# ----- determinism -----------------------------------------------------------------------------

def run_digest(seed, network=None):
    sim = Simulation(Gossip, 3, seed=seed, network=network)
    sim.apply_schedule((Crash(0.3, "n2"), Restart(0.6, "n2"), Pause(0.7, "n3"), Resume(0.9, "n3")))
    sim.run_until(1.0)
    return sim.trace.digest()


def test_same_seed_same_digest():
    net = NetworkConfig(loss=0.1, duplicate=0.1, long_delay=0.1)
    assert run_digest(42, net) == run_digest(42, net)


def test_different_seeds_different_digests():
    digests = {run_digest(seed) for seed in range(5)}
    assert len(digests) == 5


def test_node_rng_differs_per_node_and_incarnation():
    sim = Simulation(Gossip, 2, seed=1)
    sim.run_until(0.0)
    first = sim.node("n1").rng.random(), sim.node("n2").rng.random()
    sim.restart("n1")
    again = sim.node("n1").rng.random()
    assert first[0] != first[1] and again != first[0]


# ----- the network -----------------------------------------------------------------------------

def test_latency_is_within_bounds():
    sim = Simulation(Gossip, 2, seed=3, network=NetworkConfig(min_latency=0.002, max_latency=0.004))
    sim.run_until(0.5)
    sends = {r[5]: r[0] for r in sim.trace.records if r[1] == "send"}
    delays = [r[0] - sends[r[5]] for r in sim.trace.records if r[1] == "deliver"]
    assert delays and all(0.002 <= d <= 0.004 + 1e-12 for d in delays)


def test_loss_drops_messages():
    sim = Simulation(Gossip, 2, seed=3, network=NetworkConfig(loss=0.3))
    sim.run_until(2.0)
    assert 0.2 * sim.sent < sim.dropped < 0.4 * sim.sent


def test_duplication_delivers_copies():
    sim = Simulation(Gossip, 2, seed=3, network=NetworkConfig(duplicate=0.5))
    sim.run_until(2.0)
    got = arrivals(sim, "n2", "n1")
    assert sim.duplicated > 0 and len(got) > len(set(got))


def test_long_delays_reorder():
    sim = Simulation(Gossip, 2, seed=3, network=NetworkConfig(long_delay=0.2))
    sim.run_until(2.0)
    got = arrivals(sim, "n2", "n1")
    assert got != sorted(got)


def test_partition_separates_groups_and_heal_restores():
    sim = Simulation(Gossip, 3, seed=0)
    sim.run_until(0.1)
    sim.partition(["n1", "n2"], ["n3"])
    before = len(arrivals(sim, "n3", "n1")), len(arrivals(sim, "n2", "n1"))
    sim.run_until(0.5)
    assert len(arrivals(sim, "n3", "n1")) <= before[0] + 1   # at most one in flight
    assert len(arrivals(sim, "n2", "n1")) > before[1] + 30
    sim.heal()
    sim.run_until(0.6)
    assert len(arrivals(sim, "n3", "n1")) > before[0] + 5


def test_one_way_cut():
    sim = Simulation(Gossip, 2, seed=0)
    sim.cut("n1", "n2")
    sim.run_until(0.5)
    assert arrivals(sim, "n2", "n1") == [] and len(arrivals(sim, "n1", "n2")) > 40


def test_isolate_cuts_every_link_of_one_node():
    sim = Simulation(Gossip, 3, seed=0)
    sim.isolate("n3")
    sim.run_until(0.5)
    assert arrivals(sim, "n3", "n1") == arrivals(sim, "n1", "n3") == []
    assert len(arrivals(sim, "n1", "n2")) > 40


def test_connect_makes_a_bridge():
    sim = Simulation(Gossip, 3, seed=0)
    sim.partition(["n1"], ["n2"], ["n3"])
    sim.connect("n1", "n2")
    sim.run_until(0.5)
    assert len(arrivals(sim, "n1", "n2")) > 40 and arrivals(sim, "n3", "n2") == []


def test_messages_are_copied_through_json():
    class Sender(Node):
        def on_start(self):
            self.got = None
            if self.id == "n1":
                payload = {"type": "data", "items": (1, 2)}
                self.send("n2", payload)
                payload["items"] = "mutated after send"

        def handle_data(self, src, msg):
            self.got = msg

    sim = Simulation(Sender, 2)
    sim.run_until(1.0)
    assert sim.node("n2").got == {"type": "data", "items": [1, 2]}


# ----- nodes: crash, restart, pause --------------------------------------------------------------

def test_crash_loses_volatile_state_and_keeps_storage():
    sim = Simulation(Gossip, 2, seed=0)
    sim.run_until(0.5)
    assert sim.node("n1").counter > 10
    sim.crash("n1")
    assert sim.node("n1") is None
    sim.run_until(1.0)
    assert arrivals(sim, "n2", "n1")[-1] < 60     # nothing sent while down
    sim.restart("n1")
    sim.run_until(1.0)
    node = sim.node("n1")
    assert node.counter == 0 and node.received == [] and node.boots == 2


def test_crash_cancels_timers_and_drops_messages_in_flight():
    sim = Simulation(Gossip, 2, seed=0)
    sim.run_until(0.105)
    sim.crash("n2")
    sim.run_until(0.3)
    kinds = [r[1] for r in sim.trace.records if r[2] == "n2" and r[0] > 0.105]
    assert "timer" not in kinds and "drop" in kinds and "deliver" not in kinds


def test_pause_holds_messages_and_timers_until_resume():
    sim = Simulation(Gossip, 2, seed=0)
    sim.run_until(0.1)
    sim.pause("n2")
    counter = sim.node("n2").counter
    got = len(arrivals(sim, "n2", "n1"))
    sim.run_until(0.5)
    assert sim.node("n2").counter == counter and len(arrivals(sim, "n2", "n1")) == got
    sim.resume("n2")
    sim.run_until(0.5)
    assert len(arrivals(sim, "n2", "n1")) >= got + 35     # delivered at resume, in order
    assert sim.node("n2").counter == counter + 1          # the held timer fires once


def test_a_pause_holds_live_timers_only_and_never_a_client_timeout():
    class Rearm(Node):
        def on_start(self):
            self.fired = []
            self.set_timer("a", 0.05)
            self.set_timer("b", 0.02)

        def timer_b(self):
            self.set_timer("a", 0.1)        # the first "a" (due at 0.05) is now stale

        def timer_a(self):
            self.fired.append(self.now())

        def on_request(self, request):
            pass                            # never answers: the client times out

    sim = Simulation(Rearm, 1, seed=0)
    sim.run_until(0.03)
    sim.pause("n1")
    op = sim.request("n1", {"op": "x"}, timeout=0.1)
    sim.run_until(0.5)
    assert op.status == "unknown" and op.ret is None, "the client gave up during the pause"
    sim.resume("n1")
    resumed = [ev for ev in sim.trace.records if ev.kind == "resume"]
    assert resumed[0].detail == "2 held events", "the live timer and the request, not the stale one"
    sim.run_until(0.6)
    assert sim.node("n1").fired == [pytest.approx(0.5)]


def test_blame_helpers_are_still_importable_from_the_simulator():
    from labkit import blame, simulator  # noqa: PLC0415
    for name in ("is_student_file", "display_path", "describe_event", "student_error"):
        assert getattr(simulator, name) is getattr(blame, name)


# ----- clients and the history ---------------------------------------------------------------------

def test_request_outcomes_ok_fail_unknown():
    sim = Simulation(Gossip, 2, seed=0)
    ok = sim.call("n1", {"op": "read"})
    fail = sim.call("n1", {"op": "fail"})
    lost = sim.call("n1", {"op": "ignore"}, timeout=0.2)
    sim.crash("n2")
    down = sim.call("n2", {"op": "read"}, timeout=0.2)
    assert [op.status for op in (ok, fail, lost, down)] == ["ok", "fail", "unknown", "unknown"]
    assert fail.error == "nope" and lost.ret is None and ok.ret == ok.call
    assert [op.id for op in sim.history] == [1, 2, 3, 4]


def test_request_to_paused_node_is_answered_after_resume():
    sim = Simulation(Gossip, 1, seed=0)
    sim.pause("n1")
    op = sim.request("n1", {"op": "read"}, timeout=5)
    sim.run_until(1.0)
    assert not op.done
    sim.resume("n1")
    sim.run_until_done(op)
    assert op.ok and op.ret == pytest.approx(1.0)


# ----- observers and budgets ---------------------------------------------------------------------

def test_observers_run_after_every_event():
    sim = Simulation(Gossip, 2, seed=0)
    calls = []
    sim.observe(lambda s: calls.append(s.events))
    sim.run_until(0.2)
    assert calls == list(range(1, sim.events + 1))


def test_check_always_stops_the_run_with_evidence():
    sim = Simulation(Gossip, 2, seed=0)
    sim.check_always("counter stays below 5",
                     lambda s: next((f"{n} reached {o.counter}" for n, o in s.live_nodes()
                                     if o.counter >= 5), None))
    with pytest.raises(PropertyViolation, match=r"counter stays below 5 violated at t=0\.050s: n1 reached 5"):
        sim.run_until(1.0)


def test_event_budget_trips_on_a_storm():
    class Storm(Node):
        def on_start(self):
            self.send(self.peers[0], {"type": "ping"})

        def handle_ping(self, src, msg):
            self.send(src, {"type": "ping"})
            self.send(src, {"type": "ping"})

    sim = Simulation(Storm, 2, max_events=10_000)
    with pytest.raises(BudgetExceeded, match="message storm or a livelock.*ping"):
        sim.run_until(10.0)


def test_time_budget_trips():
    sim = Simulation(Gossip, 1, max_time=2.0)
    with pytest.raises(BudgetExceeded, match="budget of 2.0 virtual seconds"):
        sim.run_until(5.0)


# ----- student mistakes are contained and located -------------------------------------------------

def test_handler_exception_names_file_line_node_and_event():
    class Buggy(Node):
        def on_start(self):
            self.send(self.peers[0], {"type": "hello"}) if self.id == "n1" else None

        def handle_hello(self, src, msg):
            return msg["missing"]  # the bug

    sim = Simulation(Buggy, 2)
    with pytest.raises(StudentCodeError) as info:
        sim.run_until(1.0)
    err = info.value
    assert err.node == "n2" and "KeyError" in str(err) and "from n1" in str(err)
    assert err.where.endswith(f"test_simulator.py:{Buggy.handle_hello.__code__.co_firstlineno + 1}")


def test_not_json_payload_names_the_field():
    class Bad(Node):
        def on_start(self):
            self.send(self.peers[0], {"type": "x", "data": {"when": object()}})

    with pytest.raises(StudentCodeError, match=r"not JSON \(field \['data'\]\['when'\]"):
        Simulation(Bad, 2).run_until(0.1)


def test_replying_twice_is_a_contract_error():
    class Twice(Node):
        def on_request(self, request):
            self.reply(request, {"a": 1})
            self.reply(request, {"a": 2})

    sim = Simulation(Twice, 1)
    with pytest.raises(StudentCodeError, match="replied twice"):
        sim.call("n1", {"op": "x"})


def test_unknown_message_type_lists_known_handlers():
    class Partial(Node):
        def on_start(self):
            self.send(self.peers[0], {"type": "vote"})

        def handle_append(self, src, msg):
            pass

    with pytest.raises(StudentCodeError, match="no handle_vote method; it handles: append"):
        Simulation(Partial, 2).run_until(0.1)


def test_not_implemented_is_recognised():
    class Starter(Node):
        def on_start(self):
            raise NotImplementedError("Starter.on_start: set up your state")

    with pytest.raises(StudentCodeError) as info:
        Simulation(Starter, 1).run_until(0.1)
    assert info.value.not_implemented and str(info.value).startswith("not implemented yet")


# ----- generated schedules ------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(schedule=fault_schedules(("n1", "n2", "n3"), end=1.0, max_down=1), seed=seeds())
def test_any_generated_schedule_runs_and_replays(schedule, seed):
    digests = set()
    for _ in range(2):
        sim = Simulation(Gossip, 3, seed=seed)
        sim.apply_schedule(schedule)
        sim.run_until(1.5)
        digests.add(sim.trace.digest())
    assert len(digests) == 1, format_schedule(schedule)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(schedule=fault_schedules(("n1", "n2", "n3"), max_down=1, kinds=("crash", "pause",
                                                                       "restart", "resume")))
def test_max_down_bounds_simultaneous_failures(schedule):
    sim = Simulation(Gossip, 3)
    worst = []
    sim.observe(lambda s: worst.append(sum(not s.is_up(n) or s.is_paused(n) for n in s.node_ids)))
    sim.apply_schedule(schedule)
    sim.run_until(5.0)
    assert max(worst, default=0) <= 1


@given(st.data())
@settings(max_examples=20, deadline=None, derandomize=True, database=None)
def test_schedules_are_sorted_and_printable(data):
    schedule = data.draw(fault_schedules(("a", "b"), end=2.0))
    assert list(schedule) == sorted(schedule, key=lambda a: a.at)
    assert format_schedule(schedule)


def test_observers_also_run_after_faults_applied_directly():
    sim = Simulation(Gossip, 2, seed=0)
    seen = []
    sim.observe(lambda s: seen.append(tuple(s.is_up(n) for n in s.node_ids)))
    sim.crash("n1")
    sim.restart("n1")
    sim.pause("n2")
    sim.resume("n2")
    assert seen == [(False, True), (True, True), (True, True), (True, True)]
    sim.apply_schedule([Crash(0.1, "n2")])
    sim.run_until(0.1)
    assert seen[-1] == (True, False)
