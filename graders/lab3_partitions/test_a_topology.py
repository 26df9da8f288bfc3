"""Part A: the partition model. Hypothesis builds clusters of 1 to 7 nodes, applies random
sequences of splits, isolations, cuts, bridges and heals to the student's ``Topology``, and
compares its answers with the rules of handout section 3 (``LinkModel`` below). A failure shows
the calls that led to it; Hypothesis shrinks them to a short sequence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from labkit.grading import require
from labkit.strategies import grading_settings

from .harness import PHASES

# cut's both_ways: None means the call leaves it out (the default must be one way).
BOTH_WAYS = st.sampled_from((None, False, True))


class LinkModel:
    """The rules of handout section 3, as plainly as possible: the set of links that are down."""

    def __init__(self, nodes):
        self.nodes = tuple(nodes)
        self.down: set[tuple[str, str]] = set()

    def split(self, *groups):
        side = {n: i for i, g in enumerate(groups) for n in g}
        rest = len(groups)
        self.down = {(a, b) for a in self.nodes for b in self.nodes
                     if side.get(a, rest) != side.get(b, rest)}

    def isolate(self, node):
        self.down |= {(node, m) for m in self.nodes if m != node}
        self.down |= {(m, node) for m in self.nodes if m != node}

    def cut(self, src, dst, both_ways=False):
        self.down.add((src, dst))
        if both_ways:
            self.down.add((dst, src))

    def connect(self, a, b):
        self.down -= {(a, b), (b, a)}

    def heal(self):
        self.down = set()

    def link_up(self, src, dst):
        return (src, dst) not in self.down

    def can_communicate(self, a, b):
        return self.link_up(a, b) and self.link_up(b, a)

    def reachable(self, node):
        return frozenset(m for m in self.nodes if self.can_communicate(node, m))

    def has_majority(self, node):
        return 2 * len(self.reachable(node)) > len(self.nodes)


# ----- generated clusters and fault sequences ----------------------------------------------------

def cluster_nodes(min_size: int = 1) -> st.SearchStrategy[tuple[str, ...]]:
    return st.integers(min_size, 7).map(lambda n: tuple(f"n{i}" for i in range(1, n + 1)))


@st.composite
def groups_of(draw, nodes):
    """Groups for ``split``: each node on side 0..3; side 3 means "named in no group"."""
    sides = draw(st.lists(st.integers(0, 3), min_size=len(nodes), max_size=len(nodes)))
    groups = [tuple(n for n, s in zip(nodes, sides) if s == k) for k in range(3)]
    return tuple(g for g in groups if g)


@st.composite
def fault(draw, nodes):
    kinds = ["split", "isolate", "heal"] + (["cut", "connect"] if len(nodes) > 1 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "split":
        return ("split", draw(groups_of(nodes)))
    if kind == "isolate":
        return ("isolate", draw(st.sampled_from(nodes)))
    if kind == "heal":
        return ("heal",)
    a, b = draw(st.lists(st.sampled_from(nodes), min_size=2, max_size=2, unique=True))
    if kind == "cut":
        return ("cut", a, b, draw(BOTH_WAYS))
    return ("connect", a, b)


@st.composite
def scenarios(draw, min_size: int = 1):
    nodes = draw(cluster_nodes(min_size))
    return nodes, draw(st.lists(fault(nodes), max_size=8))


def call_text(action) -> str:
    kind = action[0]
    if kind == "split":
        return "split(" + ", ".join(repr(list(g)) for g in action[1]) + ")"
    if kind == "cut" and action[3] is None:
        return f"cut({action[1]!r}, {action[2]!r})"
    if kind == "cut":
        return f"cut({action[1]!r}, {action[2]!r}, both_ways={action[3]})"
    return f"{kind}(" + ", ".join(repr(a) for a in action[1:]) + ")"


def apply(target, action) -> None:
    kind = action[0]
    if kind == "split":
        target.split(*[list(g) for g in action[1]])
    elif kind == "cut" and action[3] is None:
        target.cut(action[1], action[2])       # the default: one way only
    elif kind == "cut":
        target.cut(action[1], action[2], both_ways=action[3])
    else:
        getattr(target, kind)(*action[1:])


def build(Topology, nodes, actions):
    """The student's topology and the model after the same calls, and the calls as text."""
    topo, model = Topology(list(nodes)), LinkModel(nodes)
    story = [f"t = Topology({list(nodes)!r})"]
    for action in actions:
        apply(topo, action)
        apply(model, action)
        story.append(f"t.{call_text(action)}")
    return topo, model, story


def fail(story, sentence: str):
    raise AssertionError(sentence + "\nCalls made:\n  " + "\n  ".join(story))


def compare_links(topo, model, story, pairs=None) -> None:
    """Every ``link_up`` and ``can_communicate`` answer matches the model."""
    nodes = model.nodes
    for a in nodes:
        for b in nodes:
            if pairs is not None and (a, b) not in pairs:
                continue
            want, got = model.link_up(a, b), topo.link_up(a, b)
            if got != want:
                fail(story, f"t.link_up({a!r}, {b!r}) returned {got!r}; expected {want!r} "
                            f"(handout 3.1)")
            want, got = model.can_communicate(a, b), topo.can_communicate(a, b)
            if got != want:
                why = ("both directions are up" if want else
                       f"the link {a} -> {b} is cut" if not model.link_up(a, b) else
                       f"the link {b} -> {a} is cut, and communicating needs both directions")
                fail(story, f"t.can_communicate({a!r}, {b!r}) returned {got!r}, but {why} "
                            f"(handout 3.1)")


def compare_reach(topo, model, story) -> None:
    for n in model.nodes:
        want, got = model.reachable(n), topo.reachable(n)
        if set(got) != set(want):
            fail(story, f"t.reachable({n!r}) returned {sorted(got)}; expected {sorted(want)}: "
                        f"{n} itself and the nodes it can communicate with directly (handout 3.1)")
        want_m, got_m = model.has_majority(n), topo.has_majority(n)
        if got_m != want_m:
            fail(story, f"t.has_majority({n!r}) returned {got_m!r}, but {n} reaches "
                        f"{len(want)} of {len(model.nodes)} nodes ({', '.join(sorted(want))}), "
                        f"so it should be {want_m!r} (handout 3.1)")


# ----- the graded tests --------------------------------------------------------------------------

@pytest.mark.points(4)
@grading_settings(max_examples=60, phases=PHASES)
@given(scenario=scenarios())
def test_heal_restores_every_link(lab, scenario):
    """Healing restores every link

    After any sequence of faults, heal() brings every link up: every pair communicates and every
    node reaches all nodes. Handout: section 3.1."""
    Topology = require(lab, "Topology")
    nodes, actions = scenario
    topo, model, story = build(Topology, nodes, [*actions, ("heal",)])
    compare_links(topo, model, story)
    compare_reach(topo, model, story)


@pytest.mark.points(4)
@grading_settings(max_examples=60, phases=PHASES)
@given(scenario=scenarios(min_size=2), data=st.data())
def test_cut_is_one_way_or_symmetric(lab, scenario, data):
    """A cut breaks exactly the links it names

    cut(a, b) (both_ways left out, or False) breaks a -> b only; cut(a, b, both_ways=True)
    breaks both directions, so neither node can communicate with the other; every other link
    stays as it was. Handout: 3.1."""
    Topology = require(lab, "Topology")
    nodes, actions = scenario
    a, b = data.draw(st.lists(st.sampled_from(nodes), min_size=2, max_size=2, unique=True),
                     label="a, b")
    both = data.draw(BOTH_WAYS, label="both_ways")
    topo, model, story = build(Topology, nodes, [*actions, ("cut", a, b, both)])
    compare_links(topo, model, story, pairs={(a, b), (b, a)})
    if topo.can_communicate(a, b) or topo.can_communicate(b, a):
        fail(story, f"after the cut, {a} and {b} must not be able to communicate either way")
    compare_links(topo, model, story)


@pytest.mark.points(5)
@grading_settings(max_examples=60, phases=PHASES)
@given(scenario=scenarios(), data=st.data())
def test_split_separates_groups(lab, scenario, data):
    """A split puts every pair of different groups apart

    split(*groups) replaces earlier faults: nodes in the same group (the unnamed nodes form one
    more group) communicate, nodes in different groups cannot, either way. Handout: 3.1."""
    Topology = require(lab, "Topology")
    nodes, actions = scenario
    groups = data.draw(groups_of(nodes), label="groups")
    topo, model, story = build(Topology, nodes, [*actions, ("split", groups)])
    side = {n: i for i, g in enumerate(groups) for n in g}
    for x in nodes:
        for y in nodes:
            apart = side.get(x, -1) != side.get(y, -1)
            answer = topo.can_communicate(x, y)
            if answer == apart:
                fail(story, f"after the split, {x} and {y} are in "
                            f"{'different groups' if apart else 'the same group'}, but "
                            f"t.can_communicate({x!r}, {y!r}) returned {answer!r} "
                            f"(expected {not apart!r})")
    compare_links(topo, model, story)


@pytest.mark.points(4)
@grading_settings(max_examples=60, phases=PHASES)
@given(scenario=scenarios())
def test_majority_uses_reachable_set(lab, scenario):
    """Majority is decided on the reachable set

    has_majority(n) is true when reachable(n), n and the nodes it communicates with directly,
    holds more than half of all nodes, whatever the cluster's size. Handout: 3.1."""
    Topology = require(lab, "Topology")
    fixed = [
        # A bridge that does not forward: n1 and n3 share the neighbour n2 but no link.
        (("n1", "n2", "n3", "n4", "n5"), [("split", (("n1", "n2"), ("n3", "n4", "n5"))),
                                          ("connect", "n2", "n3")]),
        # One-way cuts in both directions still leave n1 with n1, n4, n5: a majority of 5.
        (("n1", "n2", "n3", "n4", "n5"), [("cut", "n1", "n2", False), ("cut", "n3", "n1", False)]),
        # Three groups, none with a majority; two halves of four, neither with one.
        (("n1", "n2", "n3", "n4", "n5"), [("split", (("n1", "n2"), ("n3",), ("n4", "n5")))]),
        (("n1", "n2", "n3", "n4"), [("split", (("n1", "n2"), ("n3", "n4")))]),
        (("n1", "n2", "n3", "n4", "n5"), [("isolate", "n3")]),
    ]
    for nodes, actions in [*fixed, scenario]:
        topo, model, story = build(Topology, nodes, actions)
        compare_reach(topo, model, story)


@pytest.mark.points(6)
def test_topology_matches_model(lab):
    """Topology answers like the model after every step

    A Hypothesis state machine applies long random sequences of faults and, after each one,
    compares every answer (link_up, can_communicate, reachable, has_majority) with the rules of
    handout section 3.1."""
    Topology = require(lab, "Topology")

    class TopologyMachine(RuleBasedStateMachine):
        nodes = ("n1", "n2", "n3", "n4", "n5")

        def __init__(self):
            super().__init__()
            self.topo = Topology(list(self.nodes))
            self.model = LinkModel(self.nodes)
            self.story = [f"t = Topology({list(self.nodes)!r})"]

        def step(self, action):
            apply(self.topo, action)
            apply(self.model, action)
            self.story.append(f"t.{call_text(action)}")

        @rule(groups=groups_of(nodes))
        def split(self, groups):
            self.step(("split", groups))

        @rule(node=st.sampled_from(nodes))
        def isolate(self, node):
            self.step(("isolate", node))

        @rule(pair=st.lists(st.sampled_from(nodes), min_size=2, max_size=2, unique=True),
              both=BOTH_WAYS)
        def cut(self, pair, both):
            self.step(("cut", pair[0], pair[1], both))

        @rule(pair=st.lists(st.sampled_from(nodes), min_size=2, max_size=2, unique=True))
        def connect(self, pair):
            self.step(("connect", pair[0], pair[1]))

        @rule()
        def heal(self):
            self.step(("heal",))

        @invariant()
        def answers_match(self):
            compare_links(self.topo, self.model, self.story)
            compare_reach(self.topo, self.model, self.story)

    run_state_machine_as_test(TopologyMachine,
                              settings=grading_settings(max_examples=40, phases=PHASES,
                                                                stateful_step_count=25))


@pytest.mark.points(2)
def test_topology_rejects_bad_input(lab):
    """Topology refuses unknown nodes and impossible requests

    A node that is not in the cluster, a node named in two groups of one split, a cut from a
    node to itself and duplicate node names raise ValueError. Handout: 3.1."""
    Topology = require(lab, "Topology")
    topo = Topology(["n1", "n2", "n3"])
    calls = [
        ("t.split(['n1'], ['n1', 'n2'])", lambda: topo.split(["n1"], ["n1", "n2"])),
        ("t.split(['n1', 'n9'])", lambda: topo.split(["n1", "n9"])),
        ("t.isolate('n9')", lambda: topo.isolate("n9")),
        ("t.cut('n1', 'n9')", lambda: topo.cut("n1", "n9")),
        ("t.cut('n2', 'n2')", lambda: topo.cut("n2", "n2")),
        ("t.connect('n9', 'n1')", lambda: topo.connect("n9", "n1")),
        ("t.can_communicate('n1', 'n9')", lambda: topo.can_communicate("n1", "n9")),
        ("t.reachable('n9')", lambda: topo.reachable("n9")),
        ("t.has_majority('n9')", lambda: topo.has_majority("n9")),
        ("Topology(['n1', 'n1'])", lambda: Topology(["n1", "n1"])),
    ]
    for text, call in calls:
        try:
            call()
        except ValueError:
            continue
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - any other error is the wrong one
            raise AssertionError(f"{text} raised {type(exc).__name__}: {exc}; it must raise "
                                 f"ValueError (handout 3.1)") from None
        raise AssertionError(f"{text} returned normally; it must raise ValueError "
                             f"(handout 3.1)")
    fresh = Topology(["n1", "n2", "n3"])
    if not all(fresh.can_communicate(a, b) for a in fresh.nodes for b in fresh.nodes):
        raise AssertionError("a new Topology must start with every link up (handout 3.1)")
