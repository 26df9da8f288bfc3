"""Part C: the load balancer ``lb`` in front of c1..c6: round-robin over healthy nodes, a circuit
breaker per node (Lab 0), retries with backoff as timers. Handout: section 6."""

from __future__ import annotations

import json
import random

import pytest

from labkit import GraderBug, PropertyViolation
from labkit.events import SEND
from labkit.grading.scenario import scenario

from .harness import CACHE_NODES, LB, SLACK, cluster, describe, expect_ok, finish, get, put

LB_TIMEOUT = 4.0            # clients of the balancer give up after this long
DETECTION = 0.5             # no new request goes to a crashed node this long after the crash
RECOVERY = 1.5              # a restarted node gets requests again within this long
NO_NODE_DEADLINE = 0.5      # with every breaker open, a request is refused within this long

SPREADS = "the balancer spreads requests over the cache nodes"
SPREADS_LIVE = "with one node down, the balancer spreads requests over the other five"
MIN_SHARE_LIVE = 5          # of the ~75 requests while a node is down, each live node gets this
ROUTES_AROUND = "the balancer stops sending to a crashed node within 0.5 s"
COMES_BACK = "a restarted node gets requests again within 1.5 s"
RETRIES = "a read that hits a crashed node is retried on another"
NOT_RESENT = "a strong write that reached a crashed node is not sent again"
GIVES_UP = "the balancer tries a request at most MAX_ATTEMPTS = 3 times, then answers an error"
MAX_ATTEMPTS = 3
NO_NODE = "with no node available the balancer refuses within 0.5 s"
SERVES_AGAIN = "once the nodes are back, the balancer serves again"


def forwards(sim, since: float = 0.0) -> list[tuple[float, str, dict]]:
    """(time, cache node, request body) of every forward the balancer sent since ``since``."""
    found = []
    for ev in sim.trace.records:   # a report of the whole run so far, by named fields
        if ev.kind == SEND and ev.node == LB and ev.time >= since and '"forward"' in ev.detail:
            msg = json.loads(ev.detail)
            if msg.get("type") == "forward":
                found.append((ev.time, ev.peer, msg.get("body") or {}))
    return found


class Load:
    """One request to the balancer every ``every`` seconds: eventual puts and gets of 8 keys."""

    def __init__(self, sim, seed: int, start: float, until: float, every: float = 0.02):
        self.sim, self.until, self.every = sim, until, every
        self.rng = random.Random(f"{seed}/load")
        self.count = 0
        sim.at(start, self.issue)

    def issue(self) -> None:
        if self.sim.now >= self.until:
            return
        self.count += 1
        key = f"k{self.rng.randrange(8)}"
        if self.rng.random() < 0.5:
            put(self.sim, LB, key, f"v{self.count}", "eventual", timeout=LB_TIMEOUT)
        else:
            get(self.sim, LB, key, "eventual", timeout=LB_TIMEOUT)
        self.sim.after(self.every, self.issue)


@pytest.mark.points(6)
def test_spreads_load(lab):
    """The balancer spreads requests over all six cache nodes

    No faults. 60 eventual puts and gets sent to lb, 20 ms apart: each must succeed, and every
    cache node must have been sent at least 5 of them. Handout: 6.1."""
    for seed in range(2):
        sim = cluster(lab, seed, balancer=True)
        with scenario(sim, seed=seed):
            Load(sim, seed, start=0.3, until=0.3 + 60 * 0.02 - 0.001)
            sim.run_until(0.3 + 60 * 0.02 + 0.5)
            for op in sim.history:
                expect_ok(op, SPREADS, "every node is up and connected")
            counts = {n: 0 for n in CACHE_NODES}
            for _, node, _ in forwards(sim):
                counts[node] = counts.get(node, 0) + 1
            short = [n for n in CACHE_NODES if counts[n] < 5]
            if short:
                raise PropertyViolation(SPREADS, f"{len(sim.history)} requests went through lb "
                                                 f"with every node healthy; each node must get "
                                                 f"at least 5, but the forwards were {counts}",
                                        time=sim.now)


@pytest.mark.points(10)
def test_routes_around_crash(lab):
    """A crashed node stops getting requests within 0.5 s, and gets them back after restarting

    A request every 20 ms goes to lb. A cache node crashes at t=1 s: from 0.5 s after the crash
    lb must send it nothing but pings, every request sent to lb from then on must succeed, and
    each of the five other nodes must get at least 5 of them (round-robin over the closed
    breakers). The node restarts at t=3 s: within 1.5 s lb must send it requests again.
    Handout: 6.2."""
    for seed in range(3):
        rng = random.Random(seed)
        victim = rng.choice(CACHE_NODES)
        crash_at, restart_at = 1.0, 3.0
        sim = cluster(lab, seed, balancer=True)
        sim.at(crash_at, lambda v=victim: sim.crash(v))
        sim.at(restart_at, lambda v=victim: sim.restart(v))
        with scenario(sim, seed=seed):
            Load(sim, seed, start=0.3, until=restart_at + RECOVERY + 0.5)
            sim.run_until(restart_at + RECOVERY + 0.5)
            sim.run_until(sim.now + LB_TIMEOUT)
            late = [(t, body) for t, node, body in forwards(sim, crash_at + DETECTION)
                    if node == victim and t < restart_at]
            if late:
                t, body = late[0]
                raise PropertyViolation(ROUTES_AROUND, f"{victim} crashed at t={crash_at:g}s, "
                                                       f"yet lb forwarded {body} to it at "
                                                       f"t={t:.3f}s ({len(late)} forwards after "
                                                       f"t={crash_at + DETECTION:g}s)",
                                        time=t)
            for op in sim.history:
                if crash_at + DETECTION <= op.call <= restart_at:
                    expect_ok(op, ROUTES_AROUND, f"{victim} crashed at t={crash_at:g}s and lb "
                                                 f"stopped sending to it by "
                                                 f"t={crash_at + DETECTION:g}s; five nodes are "
                                                 f"up")
            counts = {n: 0 for n in CACHE_NODES if n != victim}
            for t, node, _ in forwards(sim, crash_at + DETECTION):
                if t < restart_at and node in counts:
                    counts[node] += 1
            starved = [n for n, k in counts.items() if k < MIN_SHARE_LIVE]
            if starved:
                listing = ", ".join(f"{n}: {k}" for n, k in counts.items())
                raise PropertyViolation(SPREADS_LIVE, f"{victim} is down from t={crash_at:g}s "
                                                      f"to t={restart_at:g}s; from "
                                                      f"t={crash_at + DETECTION:g}s lb forwarded "
                                                      f"{sum(counts.values())} requests, but "
                                                      f"{', '.join(starved)} got fewer than "
                                                      f"{MIN_SHARE_LIVE} ({listing}): round-robin "
                                                      f"goes on with the node after the one it "
                                                      f"picked, skipping open breakers",
                                        time=restart_at)
            back = [t for t, node, _ in forwards(sim, restart_at) if node == victim]
            if not back or back[0] > restart_at + RECOVERY + SLACK:
                first = f"the first at t={back[0]:.3f}s" if back else "none at all"
                raise PropertyViolation(COMES_BACK, f"{victim} restarted at t={restart_at:g}s, "
                                                    f"so lb must forward requests to it again by "
                                                    f"t={restart_at + RECOVERY:g}s; {first}",
                                        time=sim.now)


@pytest.mark.points(6)
def test_retries_reads(lab):
    """A request that hits a crashed node is retried elsewhere, unless it is a strong write

    A cache node crashes without warning; right away 12 eventual gets and puts go to lb (some
    reach the dead node before its breaker opens): each must still succeed, on another node,
    within 4 s. A strong put that reached the dead node must not be sent again (it may have
    taken effect): lb answers it with an error. Last, every node lb forwards one eventual get
    to crashes as the forward leaves (and restarts 0.05 s later): lb must forward it at most
    MAX_ATTEMPTS = 3 times and then answer an error. Handout: 6.3."""
    for seed in range(3):
        rng = random.Random(seed)
        victim = rng.choice(CACHE_NODES)
        sim = cluster(lab, seed, balancer=True)
        with scenario(sim, seed=seed):
            sim.run_until(0.5)
            sim.crash(victim)
            ops = []
            for i in range(12):
                if i % 2:
                    ops.append(get(sim, LB, f"r{i}", "eventual", timeout=LB_TIMEOUT))
                else:
                    ops.append(put(sim, LB, f"r{i}", f"v{i}", "eventual", timeout=LB_TIMEOUT))
                sim.run_for(0.005)
            strong = [put(sim, LB, f"s{i}", f"strong-{i}", "strong", timeout=LB_TIMEOUT)
                      for i in range(6)]
            finish(sim, *ops, *strong)
            why = (f"{victim} crashed at t=0.500s; the other five nodes are up, so a request "
                   f"that found {victim} dead is tried again on one of them")
            for op in ops:
                expect_ok(op, RETRIES, why)
            sent = forwards(sim)
            hit = [op for op in strong if any(node == victim and body.get("value") ==
                                              op.input["value"] for _, node, body in sent)]
            if not hit:
                raise GraderBug(f"grader bug: none of the strong puts reached {victim}")
            for op in hit:
                copies = [(round(t, 3), node) for t, node, body in sent
                          if body.get("value") == op.input["value"]]
                if len(copies) != 1 or op.ok:
                    raise PropertyViolation(NOT_RESENT, f"the strong put {op.input['value']!r} "
                                                     f"was forwarded to {victim}, which had "
                                                     f"crashed: it may or may not have taken "
                                                     f"effect, so lb must not send it again "
                                                     f"and must answer an error; it was "
                                                     f"forwarded {copies} and "
                                                     f"{describe(op)}", time=sim.now)
            give_up(sim, seed)


def give_up(sim, seed: int) -> None:
    """Every node lb forwards one eventual get to crashes as the forward leaves lb (it restarts
    0.05 s later): lb must stop after MAX_ATTEMPTS forwards and answer an error."""
    sim.restart(next(n for n in CACHE_NODES if not sim.is_up(n)))
    sim.run_for(1.5)                              # every breaker closed again
    key = f"doomed-{seed}"
    marker = json.dumps(key)
    doomed: list[tuple[float, str]] = []
    waiting: list[str] = []

    def listen(sim, ev) -> None:
        if ev.kind == SEND and ev.node == LB and marker in ev.detail and '"forward"' in ev.detail:
            waiting.append(ev.peer)

    def strike(sim) -> None:
        while waiting:
            node = waiting.pop(0)
            doomed.append((sim.now, node))
            if sim.is_up(node):
                sim.crash(node)
                sim.after(0.05, lambda node=node: sim.restart(node))

    sim.subscribe(listen)
    sim.observe(strike)
    op = get(sim, LB, key, "eventual", timeout=LB_TIMEOUT)
    finish(sim, op)
    tries = ", ".join(f"{node} at t={t:.3f}s" for t, node in doomed) or "none"
    why = (f"every node lb forwarded the eventual get of {key!r} to crashed as the forward left "
           f"lb (and restarted 0.05 s later); the forwards: {tries}")
    if len(doomed) > MAX_ATTEMPTS:
        raise PropertyViolation(GIVES_UP, f"{why}: {len(doomed)} forwards, but lb may try a "
                                          f"request at most {MAX_ATTEMPTS} times (an attempt "
                                          f"is a forward or a round that found no node); "
                                          f"{describe(op)}", time=doomed[MAX_ATTEMPTS][0])
    if op.status != "fail":
        raise PropertyViolation(GIVES_UP, f"{why}: no forward was answered, so after "
                                          f"{MAX_ATTEMPTS} attempts lb must answer an error "
                                          f"(unavailable); {describe(op)}", time=op.ret or sim.now)


@pytest.mark.points(6)
def test_no_node_available(lab):
    """With every cache node down, lb refuses quickly; when they return, it serves again

    All six cache nodes crash at t=0.5 s. From t=1.5 s (every breaker open), a request to lb
    must be answered with an error within 0.5 s. The nodes restart at t=2.5 s: a request sent
    at t=4 s must succeed. Handout: 6.3."""
    for seed in range(2):
        sim = cluster(lab, seed, balancer=True)
        with scenario(sim, seed=seed):
            sim.run_until(0.5)
            for node in CACHE_NODES:
                sim.crash(node)
            sim.run_until(1.5)
            refused = [get(sim, LB, "k", "eventual", timeout=LB_TIMEOUT),
                       put(sim, LB, "k", "v", "strong", timeout=LB_TIMEOUT)]
            finish(sim, *refused)
            for op in refused:
                if op.status != "fail" or op.latency > NO_NODE_DEADLINE + SLACK:
                    raise PropertyViolation(NO_NODE, f"every cache node has been down since "
                                                     f"t=0.500s; lb must answer an error within "
                                                     f"{NO_NODE_DEADLINE:g} s, but "
                                                     f"{describe(op)}", time=op.ret or op.call)
            sim.run_until(2.5)
            for node in CACHE_NODES:
                sim.restart(node)
            sim.run_until(4.0)
            op = put(sim, LB, "k", "v", "eventual", timeout=LB_TIMEOUT)
            finish(sim, op)
            expect_ok(op, SERVES_AGAIN, "every cache node restarted at t=2.500s")
