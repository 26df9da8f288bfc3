"""Live: the same RaftNode as three real processes on localhost (labkit.live): real election
timers, SIGKILL of the leader, a minority cut off through the router. Roles and terms are read
from each process's ``raft_state()`` and checked while the test polls; what each process
applied is checked for state-machine safety. The time limits are real seconds and generous.
Select these tests with ``-m live``. Handout: assignments/live.md."""

from __future__ import annotations

import time

import pytest

from labkit import PropertyViolation
from labkit.grading import require
from labkit.live.grading import LIVE_TEST_TIMEOUT, live_cluster_fixture, live_scenario
from labkit.node import SNAPSHOT_KEY

from .snapshots import is_restore

pytestmark = [pytest.mark.live, pytest.mark.timeout(LIVE_TEST_TIMEOUT)]

cluster = live_cluster_fixture("lab2_raft")
SNAPSHOT_EVERY = 5
snapshot_cluster = live_cluster_fixture("lab2_raft", name="snapshot_cluster",
                                        snapshot_every=SNAPSHOT_EVERY)

NODES = ("n1", "n2", "n3")
ELECT_WITHIN = 20.0       # real seconds (the simulation's deadline is 1 s)
APPLY_WITHIN = 20.0
RESUBMIT_AFTER = 3.0      # a command not applied by then is submitted again (leader change)
LIVENESS = "live: progress (a leader, and commands applied)"
ELECTION_SAFETY = "live: election safety (at most one leader per term)"
SM_SAFETY = "live: state-machine safety (no two nodes apply different commands at one index)"
SNAPSHOTS = "live: snapshots (every node compacts its log; a restarted node starts from its snapshot)"
MINORITY = "live: no commit without a majority"


class Observer:
    """Polls the cluster; checks election safety on every sample and state-machine safety on
    every read of the applied commands."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.leaders: dict[int, str] = {}   # term -> the leader seen in it

    def views(self) -> dict[str, dict]:
        views = {}
        for node, st in self.cluster.statuses().items():
            view = st.get("view") or {}
            if st.get("state") == "up":
                views[node] = view
            if view.get("role") == "leader" and isinstance(view.get("term"), int):
                seen = self.leaders.setdefault(view["term"], node)
                if seen != node:
                    raise PropertyViolation(ELECTION_SAFETY, f"{seen} and {node} were both "
                                                             f"leader in term {view['term']}")
        return views

    def describe(self) -> str:
        return "; ".join(f"{n}: {v.get('role')} term {v.get('term')}, log {v.get('log')}, "
                         f"commit {v.get('commit_index')}" for n, v in self.views().items())

    def leader(self, among=NODES) -> tuple[str, int] | None:
        """The leader of ``among`` if exactly one up node of it leads in the highest term there."""
        views = {n: v for n, v in self.views().items() if n in among}
        top = max((v.get("term", 0) for v in views.values()), default=0)
        leaders = [n for n, v in views.items()
                   if v.get("role") == "leader" and v.get("term") == top]
        return (leaders[0], top) if len(leaders) == 1 else None

    def wait_leader(self, among=NODES, above: int = -1) -> tuple[str, int]:
        return self.cluster.wait_until(
            lambda: (lambda found: found if found and found[1] > above else None)(
                self.leader(among)),
            timeout=ELECT_WITHIN, what=f"a leader among {', '.join(among)}"
                                       + (f" in a term above {above}" if above >= 0 else ""),
            evidence=self.describe)

    def applied(self, nodes=NODES) -> dict[str, list]:
        """What each node's current process applied, checked: indexes 1, 2, 3... and no two
        nodes with different commands at one index."""
        out = {n: self.cluster.applied(n) for n in nodes}
        at: dict[int, tuple[str, object]] = {}
        machines: dict[str, list] = {}
        for node, entries in out.items():
            machine = machines[node] = []   # the state machine: commands 1..len(machine)
            for index, command in entries:
                if is_restore(command):     # a snapshot handed back: entries 1..index at once
                    data = command[SNAPSHOT_KEY]
                    restored = data.get("applied") if isinstance(data, dict) else None
                    if not isinstance(restored, list) or len(restored) != index:
                        raise PropertyViolation(SM_SAFETY, f"{node} handed its state machine "
                                                           f"a snapshot at index {index} that "
                                                           f"is not the one it was given there")
                    if index < len(machine):
                        raise PropertyViolation(SM_SAFETY, f"{node} restored a snapshot at "
                                                           f"index {index} after applying "
                                                           f"{len(machine)} entries: it rolled "
                                                           f"its state machine back")
                    pairs = list(enumerate(restored, start=1))
                    machine[:] = []
                else:
                    if index != len(machine) + 1:
                        raise PropertyViolation(SM_SAFETY, f"{node} applied index {index} after "
                                                           f"index {len(machine)}; each run of a "
                                                           f"node applies the next index, in "
                                                           f"order")
                    pairs = [(index, command)]
                for i, c in pairs:
                    machine.append(c)
                    first = at.setdefault(i, (node, c))
                    if first[1] != c:
                        raise PropertyViolation(SM_SAFETY, f"at index {i} {first[0]} applied "
                                                           f"{first[1]!r} but {node} applied "
                                                           f"{c!r}")
        return machines

    def commit(self, command: str, among=NODES) -> None:
        """Submit ``command`` to the leader of ``among`` until a majority applied it (again
        after a leader change: an entry a deposed leader never replicated is lost)."""
        majority = len(NODES) // 2 + 1

        def done() -> bool:
            return sum(command in cmds for cmds in self.applied(among).values()) >= majority

        deadline = time.monotonic() + APPLY_WITHIN
        while not done():
            leader, _ = self.wait_leader(among)
            reply = self.cluster.get(leader, f"/submit/{command}")
            if reply.ok and not isinstance(reply.body.get("index"), int):
                raise AssertionError(f"{reply}: a leader replies at once with "
                                     f"{{'index': <int>, 'term': <int>}}")
            try:
                self.cluster.wait_until(done, timeout=RESUBMIT_AFTER, what="")
            except AssertionError:
                if time.monotonic() > deadline:
                    raise PropertyViolation(LIVENESS, f"{command!r} was not applied by a "
                                                      f"majority within {APPLY_WITHIN:g} s; "
                                                      f"nodes: {self.describe()}") from None

    def wait_applied(self, commands: list[str], nodes=NODES) -> None:
        self.cluster.wait_until(
            lambda: all(all(c in cmds for c in commands)
                        for cmds in self.applied(nodes).values()),
            timeout=APPLY_WITHIN, what=f"{', '.join(nodes)} all applying {commands}",
            evidence=lambda: str(self.applied(nodes)))


@pytest.mark.points(2)
def test_live_leader_and_log(cluster):
    """Live: a leader is elected and every node applies the same commands in order

    Three RaftNode processes elect one leader within 20 s; five commands submitted to it are
    applied by every node in the same order within 20 s. Election safety and state-machine
    safety are checked on every poll. Handout: assignments/live.md."""
    with live_scenario(cluster):
        watch = Observer(cluster)
        watch.wait_leader()
        commands = [f"c{i}" for i in range(1, 6)]
        for command in commands:
            watch.commit(command)
        watch.wait_applied(commands)


@pytest.mark.points(2)
def test_live_leader_killed(cluster):
    """Live: after SIGKILL of the leader a new one takes over and nothing committed is lost

    Three commands are applied everywhere; the leader's process is killed. The other two
    elect a leader of a higher term, apply three more commands, and the old leader, restarted
    over its storage file, applies all six in the same order. Handout: assignments/live.md."""
    with live_scenario(cluster):
        watch = Observer(cluster)
        old, term = watch.wait_leader()
        before = ["a1", "a2", "a3"]
        for command in before:
            watch.commit(command)
        watch.wait_applied(before)
        cluster.kill(old)
        rest = tuple(n for n in NODES if n != old)
        watch.wait_leader(rest, above=term)
        after = ["b1", "b2", "b3"]
        for command in after:
            watch.commit(command, rest)
        cluster.restart(old)
        watch.wait_applied(before + after)


@pytest.mark.points(1)
def test_live_minority_leader_commits_nothing(cluster):
    """Live: a leader cut off in a minority commits nothing; the majority moves on

    The router isolates the leader. A command it accepts there is never applied by anyone,
    while the other two elect a new leader and apply a command; after the heal every node
    applies the majority's command and still never the lost one. Handout:
    assignments/live.md."""
    with live_scenario(cluster):
        watch = Observer(cluster)
        watch.commit("x0")
        watch.wait_applied(["x0"])
        lonely, term = watch.wait_leader()
        cluster.isolate(lonely)
        cluster.get(lonely, "/submit/lost")        # accepted or refused; never committed
        rest = tuple(n for n in NODES if n != lonely)
        watch.wait_leader(rest, above=term)
        watch.commit("maj", rest)
        cluster.heal()
        watch.wait_applied(["x0", "maj"])
        where = [n for n, cmds in watch.applied().items() if "lost" in cmds]
        if where:
            raise PropertyViolation(MINORITY, f"'lost' was submitted to {lonely} while it was "
                                              f"cut off from the majority, yet "
                                              f"{', '.join(where)} applied it")


@pytest.mark.points(1)
def test_live_snapshots(lab, snapshot_cluster):
    """Live: nodes compact their logs, and a node killed and restarted starts from its snapshot

    Part 7 as real processes: each node's state machine asks for a snapshot after every 5th
    index. Twelve commands are applied everywhere; every node reports a snapshot index of at
    least 10 in raft_state(). A follower is killed, five more commands commit; the follower,
    restarted over its storage file while cut off from the others, hands its stored snapshot
    back first; after the heal it applies the rest, in order and matching the others.
    Handout: assignments/live.md."""
    if not callable(getattr(require(lab, "RaftNode"), "snapshot", None)):
        raise NotImplementedError(
            "RaftNode.snapshot(index, data) is missing: Part 7 (snapshots) is not done")
    cluster = snapshot_cluster
    with live_scenario(cluster):
        watch = Observer(cluster)
        first = [f"s{i}" for i in range(1, 13)]
        for command in first:
            watch.commit(command)
        watch.wait_applied(first)
        cluster.wait_until(
            lambda: all((v.get("snapshot_index") or 0) >= 10 for v in watch.views().values()),
            timeout=APPLY_WITHIN, what="every node reporting snapshot_index >= 10 in raft_state()",
            evidence=lambda: "; ".join(f"{n}: snapshot_index {v.get('snapshot_index')}, log "
                                       f"{v.get('log')}" for n, v in watch.views().items()))
        leader, _ = watch.wait_leader()
        follower = next(n for n in NODES if n != leader)
        cluster.kill(follower)
        rest = tuple(n for n in NODES if n != follower)
        more = [f"t{i}" for i in range(1, 6)]
        for command in more:
            watch.commit(command, rest)
        cluster.isolate(follower)      # so only its own storage file can give it the snapshot
        cluster.restart(follower)

        def restored() -> bool:
            entries = cluster.applied(follower)
            return bool(entries) and is_restore(entries[0][1]) and entries[0][0] >= 10

        try:
            cluster.wait_until(restored, timeout=APPLY_WITHIN, what="")
        except AssertionError:
            entries = cluster.applied(follower)
            raise PropertyViolation(SNAPSHOTS, f"{follower} was restarted, cut off from the "
                                               f"others, after it had taken a snapshot "
                                               f"at index 10 or later; within {APPLY_WITHIN:g} s "
                                               f"the first thing it handed its state machine was "
                                               f"{entries[0] if entries else 'nothing'}. A "
                                               f"restarted node calls restore_snapshot(index, "
                                               f"data) with its stored snapshot first, then "
                                               f"applies the entries after it") from None
        watch.applied()                # checked: the restore, then the next indices, in order
        cluster.heal()
        watch.wait_applied(first + more)
