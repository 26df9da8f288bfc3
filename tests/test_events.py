"""Events and Simulation.subscribe: every event once, in order, fields by name, after its step
and before the observers; faults applied directly by scenario code included."""

from __future__ import annotations

from labkit import Node, Simulation
from labkit.events import CRASH, DELIVER, FAULT, KINDS, RESTART, SEND, STATE, Event


class Echo(Node):
    def on_start(self):
        self.count = 0
        self.set_timer("tick", 0.01)

    def timer_tick(self):
        self.broadcast({"type": "hello", "n": self.count})
        self.set_timer("tick", 0.01)

    def handle_hello(self, src, msg):
        self.count += 1

    def on_request(self, request):
        self.reply(request, {"count": self.count})


def scripted(sim):
    sim.run_until(0.05)
    sim.partition(["n1"], ["n2", "n3"])      # network faults applied directly
    sim.crash("n3")                          # node faults applied directly
    sim.run_until(0.1)
    sim.heal()
    sim.restart("n3")
    sim.pause("n2")
    sim.run_until(0.15)
    sim.resume("n2")
    sim.call("n1", {"op": "get"})
    sim.at(0.3, lambda: sim.isolate("n1"))   # and faults scheduled in the run
    sim.run_until(0.4)


def test_subscribers_see_every_event_once_in_order():
    sim = Simulation(Echo, 3, seed=4)
    seen: list[Event] = []
    sim.subscribe(lambda s, ev: seen.append(ev))
    booted = len(sim.trace.records)
    scripted(sim)
    assert seen == sim.trace.records[booted:], "each event once, in trace order"
    assert all(isinstance(ev, Event) and ev.kind in KINDS for ev in seen)
    faults = [ev.detail for ev in seen if ev.kind == FAULT]
    assert faults == ["partition n1 | n2,n3", "heal", "isolate n1"]
    assert [ev.node for ev in seen if ev.kind in (CRASH, RESTART)] == ["n3", "n3"]
    sends = {ev.ref: ev for ev in seen if ev.kind == SEND}
    for ev in seen:
        if ev.kind == DELIVER:
            assert sends[ev.ref].node == ev.peer and sends[ev.ref].peer == ev.node


def test_directly_applied_faults_are_handed_over_at_once():
    sim = Simulation(Echo, 3, seed=4)
    seen: list[str] = []
    sim.subscribe(lambda s, ev: seen.append(ev.kind))
    sim.run_until(0.05)
    sim.partition(["n1"])
    assert seen[-1] == FAULT
    sim.crash("n2")
    assert seen[-1] == CRASH


def test_subscribers_run_after_the_step_before_the_observers():
    sim = Simulation(Echo, 2, seed=1)
    order: list[str] = []

    def sub(s, ev):
        if ev.kind == DELIVER:
            assert s.node(ev.node).count >= 1, "the handler already ran"
            order.append("event")

    sim.subscribe(sub)
    sim.observe(lambda s: order.append("observer"))
    sim.run_until(0.03)
    first = order.index("event")
    assert order[first + 1] == "observer"


def test_a_late_subscriber_gets_nothing_from_before():
    sim = Simulation(Echo, 3, seed=2)
    early: list[Event] = []
    sim.subscribe(lambda s, ev: early.append(ev))
    sim.run_until(0.05)
    late: list[Event] = []

    def subscribe_mid_step():
        sim.isolate("n2")                    # emitted in this step, before the subscription
        sim.subscribe(lambda s, ev: late.append(ev))
    sim.at(0.06, subscribe_mid_step)
    sim.run_until(0.1)
    assert late and all(ev.time >= 0.06 for ev in late)
    assert not any(ev.kind == FAULT for ev in late), "the isolate came before it"
    assert early[-len(late):] == late, "then the same events as everyone"


def test_subscribing_changes_no_digest():
    plain = Simulation(Echo, 3, seed=9)
    scripted(plain)
    watched = Simulation(Echo, 3, seed=9)
    watched.subscribe(lambda s, ev: None)
    scripted(watched)
    assert plain.trace.digest() == watched.trace.digest()


def test_track_state_records_changes_only():
    sim = Simulation(Echo, 2, seed=3)
    sim.track_state(lambda node: "busy" if node.count >= 3 else "idle")
    sim.run_until(0.1)
    sim.crash("n2")
    sim.restart("n2")
    sim.run_until(0.2)
    states = [(ev.node, ev.detail) for ev in sim.trace.records if ev.kind == STATE]
    for node in ("n1", "n2"):
        mine = [d for n, d in states if n == node]
        assert mine[:2] == ["idle", "busy"], mine
    n2 = [d for n, d in states if n == "n2"]
    assert n2 == ["idle", "busy", "idle", "busy"], "a restarted node's state is recorded again"
    n1 = [d for n, d in states if n == "n1"]
    assert n1 == ["idle", "busy"], "no repeats while nothing changes"
