"""Part B, what each node keeps: a capacity with least-recently-used eviction, time-to-live in
virtual time, and the stats request. Handout: section 5."""

from __future__ import annotations

import pytest

from labkit import PropertyViolation
from labkit.grading.scenario import scenario

from .harness import (CACHE_NODES, check_reply_shape, cluster, expect_ok, expect_value, finish,
                      get, homes, peek, put, show, stats)

TRIO = ("c1", "c2", "c3")      # three nodes, N=3: every node is a home of every key
CAPACITY = 1000                # entries per node (the contract's default)
EVICTION = "a full node evicts its least recently used entry"
EXPIRY = "a value expires ttl seconds after its put"
STATS = "stats count keys, hits, misses, evictions and hints"


@pytest.mark.points(8)
def test_lru_eviction(lab):
    """A full node evicts the least recently used entry, and only that one

    Three nodes (so every node holds every key) with the default capacity of 1000 entries. Key
    "first" is put, then "second", then 998 more keys fill every node; "first" is read (a use).
    One more put must make every node evict "second" (the least recently used), keep "first"
    and the newcomer, and count 1 eviction and 1000 keys. Handout: 5.1."""
    for seed in range(2):
        sim = cluster(lab, seed, nodes=TRIO)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            for key, node in (("first", "c1"), ("second", "c2")):
                w = put(sim, node, key, f"v-{key}", "eventual")
                finish(sim, w)
                expect_ok(w, EVICTION, f"{node} is running")
                sim.run_for(0.05)
            fill = [put(sim, "c3", f"fill-{i:03d}", i, "eventual") for i in range(CAPACITY - 2)]
            finish(sim, *fill)
            for w in fill:
                expect_ok(w, EVICTION, "c3 is running")
            sim.run_for(0.2)
            history = (f"'first', 'second' and {CAPACITY - 2} more keys were put (capacity "
                       f"{CAPACITY})")
            for node in TRIO:
                s = stats(sim, node)
                if s["keys"] != CAPACITY or s["evictions"] != 0:
                    raise PropertyViolation(EVICTION, f"{history}: {node} must hold {CAPACITY} "
                                                      f"keys and have evicted none; its stats "
                                                      f"say {s}", time=sim.now)
            r = get(sim, "c2", "first", "strong")
            finish(sim, r)
            expect_value(r, "v-first", EVICTION, "'first' was put 0.3 s ago and nothing was "
                                                 "evicted yet")
            sim.run_for(0.05)
            w = put(sim, "c1", "newcomer", "v-new", "eventual")
            finish(sim, w)
            expect_ok(w, EVICTION, "c1 is running")
            sim.run_for(0.1)
            history += ", 'first' was read, then 'newcomer' was put"
            for node in TRIO:
                if peek(sim, node, "second") is not None:
                    raise PropertyViolation(EVICTION, f"{history}: {node} must have evicted "
                                                      f"'second', but holds "
                                                      f"{show(peek(sim, node, 'second'))}",
                                            time=sim.now)
                missing = [k for k in ("first", "newcomer") if peek(sim, node, k) is None]
                if missing:
                    raise PropertyViolation(EVICTION, f"{history}: {node} must evict only "
                                                      f"'second', but {', '.join(missing)} "
                                                      f"is gone too", time=sim.now)
                s = stats(sim, node)
                if s["evictions"] != 1 or s["keys"] != CAPACITY:
                    raise PropertyViolation(EVICTION, f"{history}: {node}'s stats must count "
                                                      f"1 eviction and {CAPACITY} keys; got {s}",
                                            time=sim.now)
            r = get(sim, "c3", "second", "strong")
            finish(sim, r)
            expect_value(r, None, EVICTION, "'second' was evicted from every node")


@pytest.mark.points(6)
def test_ttl_expiry(lab):
    """A value put with a ttl reads as absent from ttl seconds after the put

    A strong put with ttl=1.0 and an eventual put with ttl=0.5 are read back before they
    expire, on several nodes; 0.05 s after their expiry every read returns None and the home
    replicas no longer count them in stats["keys"]. A later put without ttl lives on.
    Handout: 5.2."""
    for seed in range(2):
        sim = cluster(lab, seed)
        with scenario(sim, seed=seed):
            sim.run_until(0.1)
            puts = [put(sim, "c1", "session", "s1", "strong", ttl=1.0),
                    put(sim, "c4", "token", "t1", "eventual", ttl=0.5)]
            finish(sim, *puts)
            for w in puts:
                expect_ok(w, EXPIRY, "every node is up and connected")
            sim.run_until(0.3)
            for w in puts:
                key, level = w.input["key"], w.input["consistency"]
                for node in homes(lab, key) + ["c2"]:
                    r = get(sim, node, key, level)
                    finish(sim, r)
                    expect_value(r, w.input["value"], EXPIRY,
                                 f"{key} was put at t={w.call:.3f}s with ttl={w.input['ttl']:g}s")
            sim.run_until(max(w.call + w.input["ttl"] for w in puts) + 0.05)
            for w in puts:
                key, level = w.input["key"], w.input["consistency"]
                why = (f"{key} was put at t={w.call:.3f}s with ttl={w.input['ttl']:g}s, so it "
                       f"expired at t={w.call + w.input['ttl']:.3f}s")
                for node in CACHE_NODES:
                    r = get(sim, node, key, level)
                    finish(sim, r)
                    expect_value(r, None, EXPIRY, why)
            for node in CACHE_NODES:
                counted = stats(sim, node)["keys"]
                if counted != 0:
                    raise PropertyViolation(EXPIRY, f"every key written so far has expired, so "
                                                    f"stats['keys'] must be 0 on every node; "
                                                    f"{node} counts {counted}", time=sim.now)
            w = put(sim, "c2", "session", "s2", "strong")
            finish(sim, w)
            expect_ok(w, EXPIRY, "every node is up and connected")
            sim.run_for(2.0)
            r = get(sim, "c5", "session", "strong")
            finish(sim, r)
            expect_value(r, "s2", EXPIRY, f"session='s2' was put at t={w.call:.3f}s without a ttl")


@pytest.mark.points(4)
def test_stats(lab):
    """Stats count keys, hits and misses where the reads were coordinated

    No faults. A strong put of one key, then on c1 a strong read and an eventual read of it
    (two hits) and a read of a key never written (a miss): c1 reports hits 2, misses 1, the
    others none; the key's three homes report keys 1, the other nodes 0; nobody holds hints.
    Handout: 5.3."""
    sim = cluster(lab, 0)
    with scenario(sim, seed=0):
        sim.run_until(0.1)
        w = put(sim, "c3", "counted", "yes", "strong")
        finish(sim, w)
        expect_ok(w, STATS, "every node is up and connected")
        sim.run_for(0.1)
        reads = [get(sim, "c1", "counted", "strong"), get(sim, "c1", "counted", "eventual"),
                 get(sim, "c1", "nobody", "strong")]
        for r in reads:
            finish(sim, r)
            check_reply_shape(r)
        sim.run_for(0.6)
        home = homes(lab, "counted")
        for node in CACHE_NODES:
            s = stats(sim, node)
            want = {"keys": 1 if node in home else 0, "hits": 2 if node == "c1" else 0,
                    "misses": 1 if node == "c1" else 0, "evictions": 0, "hints": 0}
            got = {k: s[k] for k in want}
            if got != want:
                raise PropertyViolation(STATS, f"c3 put 'counted' (homes {', '.join(home)}); c1 "
                                               f"then read it twice and read a missing key; "
                                               f"{node} must report {want}, got {got}",
                                        time=sim.now)
