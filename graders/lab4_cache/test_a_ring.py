"""Part A: the consistent-hash ring. Preference lists, stability across processes, balance, and
how many keys move when a node joins or leaves. Handout: section 3."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from labkit import PropertyViolation
from labkit.grading import loader, require
from labkit.grading.labs import REPO
from labkit.strategies import grading_settings

from .harness import PHASES, sandboxed

BALANCE_KEYS = 100_000
SANDBOX_BALANCE_KEYS = 10_000   # under --sandbox every lookup is a call to another process
BALANCE_NODES = 10
BALANCE_VNODES = 100
MAX_LOAD_RATIO = 1.40        # fullest node / mean, with 10 nodes of 100 virtual nodes
MOVE_KEYS = 10_000
SANDBOX_MOVE_KEYS = 2_000
MOVE_BAND = (0.5, 1.5)       # a join moves between 0.5/(n+1) and 1.5/(n+1) of the keys
NAME_SETS = (
    tuple(f"c{i}" for i in range(1, 11)),
    tuple(f"node-{i}" for i in range(10)),
    tuple(f"10.0.0.{i}:7000" for i in range(1, 11)),
)

DISTINCT = "a preference list names distinct nodes"
STABLE = "every process places keys the same way"
BALANCED = "virtual nodes spread keys evenly"
JOIN = "a join moves keys only to the new node"
LEAVE = "a leave moves only the leaver's keys"


def ring_class(lab):
    return require(lab, "HashRing")


def keys(count: int, prefix: str = "key") -> list[str]:
    return [f"{prefix}:{i}" for i in range(count)]


node_names = st.sampled_from([f"c{i}" for i in range(1, 13)] + ["lb-1", "db", "10.0.0.7:80"])


@pytest.mark.points(6)
@grading_settings(max_examples=60, phases=PHASES)
@given(nodes=st.lists(node_names, min_size=1, max_size=9, unique=True),
       vnodes=st.integers(1, 40), n=st.integers(0, 6),
       sample=st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=20),
       leaver=st.integers(0, 8))
@example(nodes=["c1", "c2", "c3"], vnodes=8, n=3, sample=["x"], leaver=0)
@example(nodes=["c1", "c2", "c3"], vnodes=8, n=0, sample=["x"], leaver=0)
def test_preference_lists_distinct(lab, nodes, vnodes, n, sample, leaver):
    """Preference lists name N distinct nodes, starting with the owner

    For generated rings (1 to 9 nodes, 1 to 40 virtual nodes each), keys and n from 0 to 6,
    before and after a node leaves: preference_list(key, n) has min(n, nodes) entries (none
    for n = 0), all on the ring, none repeated, the first being node_for(key).
    Handout: section 3.2."""
    ring = ring_class(lab)(nodes, vnodes=vnodes)
    check_lists(ring, nodes, n, sample)
    if len(nodes) > 1:
        gone = nodes[leaver % len(nodes)]
        ring.remove_node(gone)
        check_lists(ring, [x for x in nodes if x != gone], n, sample,
                    f" after remove_node({gone!r})")


def check_lists(ring, nodes, n, sample, when: str = "") -> None:
    for key in sample:
        pl = list(ring.preference_list(key, n))
        where = (f"ring of {sorted(nodes)} with {ring_vnodes(ring)} virtual nodes each{when}: "
                 f"preference_list({key!r}, {n}) = {pl}")
        if len(pl) != min(n, len(nodes)):
            raise PropertyViolation(DISTINCT, f"{where}; it must hold min(n, nodes) = "
                                              f"{min(n, len(nodes))} nodes")
        repeated = sorted({x for x in pl if pl.count(x) > 1})
        if repeated:
            raise PropertyViolation(DISTINCT, f"{where}; {', '.join(map(repr, repeated))} "
                                              f"appears twice (skip virtual nodes of a node "
                                              f"already in the list)")
        strangers = [x for x in pl if x not in nodes]
        if strangers:
            raise PropertyViolation(DISTINCT, f"{where}; {strangers} are not on the ring")
        owner = ring.node_for(key)
        if pl and pl[0] != owner:
            raise PropertyViolation(DISTINCT, f"{where}; it must start with node_for(key) = "
                                              f"{owner!r}")


def ring_vnodes(ring) -> str:
    return str(getattr(ring, "vnodes", "?"))


PROBE = r"""
import json, sys
sys.path[:0] = [{impl!r}, {repo!r}]
from lab4_cache import HashRing
ring = HashRing({nodes!r}, vnodes=64)
print(json.dumps([ring.preference_list(k, 3) for k in {keys!r}]))
"""
OTHER_HASH_SEED = "4242"


def placements_elsewhere(lab, nodes: list[str], sample: list[str]) -> list[list[str]]:
    """The preference lists of ``sample`` computed by the submission in a fresh process started
    with PYTHONHASHSEED=4242: a sandboxed child under --sandbox, a plain subprocess otherwise."""
    if sandboxed(lab):
        from labkit.sandbox import Sandbox

        saved = os.environ.get("PYTHONHASHSEED")
        os.environ["PYTHONHASHSEED"] = OTHER_HASH_SEED      # the child inherits this one
        try:
            other = Sandbox(loader.impl_dir(), "lab4_cache")
            module = other.module()
        finally:
            if saved is None:
                del os.environ["PYTHONHASHSEED"]
            else:
                os.environ["PYTHONHASHSEED"] = saved
        try:
            ring = module.HashRing(nodes, vnodes=64)
            return [list(ring.preference_list(k, 3)) for k in sample]
        finally:
            other.stop()
    code = PROBE.format(impl=str(loader.impl_dir()), repo=str(REPO), nodes=nodes, keys=sample)
    env = {**os.environ, "PYTHONHASHSEED": OTHER_HASH_SEED}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=str(REPO), timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"the HashRing could not be built in a fresh process "
                             f"(PYTHONHASHSEED={OTHER_HASH_SEED}):\n{proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.points(6)
def test_stable_across_processes(lab):
    """Key placement is the same in every process (no Python hash)

    Builds the same ring (c1..c6, 64 virtual nodes) here and in a fresh Python process started
    with a different PYTHONHASHSEED, and compares the preference lists of 300 keys. Python's
    hash() of a string changes from process to process; a stable hash (hashlib) does not.
    Handout: section 3.1."""
    nodes = [f"c{i}" for i in range(1, 7)]
    sample = keys(300, "user")
    ring = ring_class(lab)(nodes, vnodes=64)
    here = [list(ring.preference_list(k, 3)) for k in sample]
    there = placements_elsewhere(lab, nodes, sample)
    diffs = [(k, a, b) for k, a, b in zip(sample, here, there) if a != b]
    if diffs:
        k, a, b = diffs[0]
        raise PropertyViolation(STABLE, f"{len(diffs)} of {len(sample)} keys are placed "
                                        f"differently in a process started with "
                                        f"PYTHONHASHSEED={OTHER_HASH_SEED}, e.g. {k!r}: {a} "
                                        f"here, {b} there. Hash with hashlib (md5, sha1), never "
                                        f"with hash()")


@pytest.mark.points(6)
def test_balance(lab):
    """With 100 virtual nodes each, no node holds more than 1.4 times its share

    Three rings of 10 nodes (names c1..c10, node-0..node-9, 10.0.0.1:7000..10.0.0.10:7000),
    100 virtual nodes each; 100,000 keys (10,000 under --sandbox): the fullest node may hold at
    most 1.4 times the mean. Handout: section 3.3."""
    Ring = ring_class(lab)
    sample = keys(SANDBOX_BALANCE_KEYS if sandboxed(lab) else BALANCE_KEYS)
    for names in NAME_SETS:
        ring = Ring(list(names), vnodes=BALANCE_VNODES)
        counts = {name: 0 for name in names}
        for key in sample:
            owner = ring.node_for(key)
            counts[owner] = counts.get(owner, 0) + 1
        mean = len(sample) / BALANCE_NODES
        fullest = max(counts, key=lambda name: (counts[name], name))
        if counts[fullest] > MAX_LOAD_RATIO * mean:
            spread = ", ".join(f"{n}: {counts[n]}" for n in names)
            raise PropertyViolation(BALANCED, f"with nodes {names[0]}..{names[-1]} and "
                                              f"{BALANCE_VNODES} virtual nodes each, "
                                              f"{fullest} owns {counts[fullest]} of "
                                              f"{len(sample)} keys, {counts[fullest] / mean:.2f} "
                                              f"times the mean (at most {MAX_LOAD_RATIO}). "
                                              f"Keys per node: {spread}")


def owner_and_list(ring, key: str) -> tuple[str, list[str]]:
    """The key's owner and its preference list (N=3); the owner is the list's first node (the
    distinct-lists test checks that it equals node_for)."""
    pl = list(ring.preference_list(key, 3))
    return pl[0], pl


@pytest.mark.points(6)
def test_join_moves_only_to_new_node(lab):
    """A joining node takes keys only for itself, about 1/(n+1) of them

    Rings of 10 nodes with 100 virtual nodes each; an 11th node joins. Every one of 10,000 keys
    (2,000 under --sandbox) that changes owner must now belong to the new node, between 0.5/11
    and 1.5/11 of the keys must move, and each preference list (N=3) may only change by letting
    the new node in. Handout: section 3.4."""
    Ring = ring_class(lab)
    sample = keys(SANDBOX_MOVE_KEYS if sandboxed(lab) else MOVE_KEYS, "item")
    for names in NAME_SETS[:2]:
        ring = Ring(list(names), vnodes=BALANCE_VNODES)
        before = {k: owner_and_list(ring, k) for k in sample}
        newcomer = "joiner"
        ring.add_node(newcomer)
        moved = 0
        for k in sample:
            owner, pl = owner_and_list(ring, k)
            old_owner, old_pl = before[k]
            if owner != old_owner:
                moved += 1
                if owner != newcomer:
                    raise PropertyViolation(JOIN, f"after {newcomer!r} joined the ring "
                                                  f"{names[0]}..{names[-1]}, key {k!r} moved "
                                                  f"from {old_owner} to {owner}, not to "
                                                  f"{newcomer!r}")
            strangers = [x for x in pl if x not in old_pl and x != newcomer]
            if strangers:
                raise PropertyViolation(JOIN, f"after {newcomer!r} joined, the preference list "
                                              f"of {k!r} went from {old_pl} to {pl}: only the "
                                              f"new node may enter it")
        low, high = (b / (len(names) + 1) for b in MOVE_BAND)
        share = moved / len(sample)
        if not low <= share <= high:
            raise PropertyViolation(JOIN, f"after {newcomer!r} joined {len(names)} nodes, "
                                          f"{moved} of {len(sample)} keys ({share:.1%}) moved; "
                                          f"expected between {low:.1%} and {high:.1%} "
                                          f"(about 1/{len(names) + 1})")


@pytest.mark.points(6)
def test_leave_moves_only_leavers_keys(lab):
    """A leaving node's keys move; nobody else's do

    Rings of 10 nodes with 100 virtual nodes each; one node leaves. Every one of 10,000 keys
    (2,000 under --sandbox) that changes owner must have belonged to the leaver, every key of
    the leaver must move, and each preference list (N=3) may only change by losing the leaver.
    Handout: section 3.4."""
    Ring = ring_class(lab)
    sample = keys(SANDBOX_MOVE_KEYS if sandboxed(lab) else MOVE_KEYS, "item")
    for names in NAME_SETS[:2]:
        ring = Ring(list(names), vnodes=BALANCE_VNODES)
        before = {k: owner_and_list(ring, k) for k in sample}
        leaver = names[3]
        ring.remove_node(leaver)
        for k in sample:
            owner, pl = owner_and_list(ring, k)
            old_owner, old_pl = before[k]
            if owner != old_owner and old_owner != leaver:
                raise PropertyViolation(LEAVE, f"after {leaver!r} left the ring "
                                               f"{names[0]}..{names[-1]}, key {k!r} moved from "
                                               f"{old_owner} to {owner}, though {old_owner} is "
                                               f"still on the ring")
            if owner == leaver:
                raise PropertyViolation(LEAVE, f"{leaver!r} left the ring but still owns {k!r}")
            kept = [x for x in old_pl if x != leaver]
            if pl[:len(kept)] != kept:
                raise PropertyViolation(LEAVE, f"after {leaver!r} left, the preference list of "
                                               f"{k!r} went from {old_pl} to {pl}: the other "
                                               f"nodes must keep their places")
