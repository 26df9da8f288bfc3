"""labkit.network: the link state (partition, isolate, cut, connect, heal) and each message's
fate under a NetworkConfig, shared by the simulator and the live router."""

from __future__ import annotations

import random

import pytest

from labkit import NetworkConfig, Node, Simulation
from labkit.live.router import Router
from labkit.network import Links

NODES = ("n1", "n2", "n3", "n4")


def cut_pairs(links):
    return sorted(links.cut)


def test_partition_cuts_between_groups_and_makes_a_group_of_the_rest():
    links = Links(NODES)
    groups = links.partition([["n1", "n2"], ["n3"]])
    assert groups == [("n1", "n2"), ("n3",), ("n4",)]
    assert links.passes("n1", "n2") and links.passes("n2", "n1")
    assert not links.passes("n1", "n3") and not links.passes("n4", "n3")
    assert links.groups() == [["n1", "n2"], ["n3"], ["n4"]]
    links.partition([["n1", "n3"]])
    assert links.passes("n1", "n3") and not links.passes("n1", "n2"), "replaces the old one"
    assert links.groups() == [["n1", "n3"], ["n2", "n4"]]


def test_isolate_cut_connect_heal():
    links = Links(NODES)
    links.isolate("n2")
    assert all(not links.passes(a, b) for a, b in (("n2", "n1"), ("n1", "n2"), ("n4", "n2")))
    assert links.passes("n1", "n3") and links.groups() == [["n1", "n3", "n4"], ["n2"]]
    links.connect("n2", "n1")                       # a bridge: no longer a partition
    assert links.passes("n1", "n2") and links.passes("n2", "n1") and links.groups() is None
    links.heal()
    assert links.cut == set() and links.groups() == [list(NODES)]
    links.cut_link("n1", "n2")
    assert cut_pairs(links) == [("n1", "n2")] and links.groups() is None, "one way only"
    links.cut_link("n3", "n4", both_ways=True)
    assert cut_pairs(links) == [("n1", "n2"), ("n3", "n4"), ("n4", "n3")]


def test_the_cut_set_is_changed_in_place():
    links = Links(NODES)
    held = links.cut
    links.partition([["n1"]])
    links.heal()
    links.isolate("n1")
    assert held is links.cut and ("n1", "n2") in held


def test_delays_fate_of_one_message():
    rng = random.Random(1)
    assert all(len(NetworkConfig().delays(rng)) == 1 for _ in range(100))
    assert NetworkConfig(loss=1.0).delays(rng) == ()
    assert len(NetworkConfig(duplicate=1.0).delays(rng)) == 2
    d = NetworkConfig(min_latency=0.002, max_latency=0.004)
    assert all(0.002 <= x <= 0.004 for _ in range(200) for x in d.delays(rng))
    slow = NetworkConfig(long_delay=1.0, long_delay_max=0.5)
    delays = [x for _ in range(200) for x in slow.delays(rng)]
    assert max(delays) > 0.1 and all(x <= 0.51 for x in delays)


def test_delays_replay_with_the_same_seed():
    net = NetworkConfig(loss=0.2, duplicate=0.3, long_delay=0.2)
    a, b = random.Random("s"), random.Random("s")
    assert [net.delays(a) for _ in range(300)] == [net.delays(b) for _ in range(300)]


def test_config_validation():
    with pytest.raises(ValueError, match="loss must be in"):
        NetworkConfig(loss=1.5)
    with pytest.raises(ValueError, match="min_latency <= max_latency"):
        NetworkConfig(min_latency=0.5, max_latency=0.1)
    assert "long_delay" in NetworkConfig.settings() and "min_latency" in NetworkConfig.settings()


def test_simulator_and_router_agree_on_links():
    sim = Simulation(Node, NODES)
    router = Router(NODES)
    for apply in (lambda x: x.partition(["n1", "n2"], ["n3"]) if x is sim
                  else x.partition([["n1", "n2"], ["n3"]]),
                  lambda x: x.isolate("n4"),
                  lambda x: x.connect("n4", "n1"),
                  lambda x: x.cut("n2", "n1"),
                  lambda x: x.heal()):
        apply(sim)
        apply(router)
        assert sim.links.cut == router.blocked
        assert all(sim.can_reach(a, b) == ((a, b) not in router.blocked)
                   for a in NODES for b in NODES)


def test_router_speaks_the_simulators_names():
    router = Router(NODES)
    assert set(router.network) == set(NetworkConfig.settings())
    router.set_network(long_delay=0.5, long_delay_max=0.2, loss=0.1)
    assert router.config == NetworkConfig(min_latency=0.0, max_latency=0.0, loss=0.1,
                                          long_delay=0.5, long_delay_max=0.2)
    with pytest.raises(ValueError, match="unknown network settings"):
        router.set_network(min_delay=0.1)
