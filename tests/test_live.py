"""Live mode (labkit.live): file storage, the router's fault rules, the route tables, real
clusters of a tiny node (every fault, every way a node can fail, cleanup), the demo's control
API and status page, and the live graders against reference/ and starter/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from labkit.errors import SubmissionError
from labkit.live.cluster import Cluster, LiveError, NodeError, port_is_free
from labkit.live.labs import BadRequest, live_lab
from labkit.live.storage import FileStorage
from graderun import REPO, grade

pytestmark = pytest.mark.slow  # subprocesses: see the tiers in tests/conftest.py

TOY = "labkit.live.toy:TOY"
aiohttp = pytest.importorskip("aiohttp", reason="the live runtime needs aiohttp")


def tagged_processes(tag: str) -> list[str]:
    """Command lines of running processes started with ``--tag <tag>``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if tag.encode() in argv:
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


def wait_gone(tag: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def new_tag() -> str:
    return f"labkit-live-test-{uuid.uuid4().hex[:10]}"


# ----- storage, routes, router rules (no processes) ----------------------------------------------

def test_file_storage_survives_a_new_object(tmp_path):
    path = tmp_path / "n1.json"
    s = FileStorage("n1", path)
    s.put("term", 3)
    s["log"] = [{"term": 1, "command": "x"}]
    assert not path.exists(), "nothing is written before sync()"
    assert s.sync() and not s.sync(), "sync writes once per batch of changes"
    again = FileStorage("n1", path)
    assert again.snapshot() == {"term": 3, "log": [{"term": 1, "command": "x"}]}
    again.delete("term")
    again.sync()
    assert FileStorage("n1", path).snapshot() == {"log": [{"term": 1, "command": "x"}]}
    assert json.loads(path.read_text())["node"] == "n1"
    assert not path.with_name("n1.json.tmp").exists()


def test_file_storage_reports_a_corrupt_file(tmp_path):
    path = tmp_path / "n1.json"
    path.write_text("{not json")
    with pytest.raises(RuntimeError, match="unreadable.*Delete it"):
        FileStorage("n1", path)


def test_lab_routes_build_the_contract_bodies():
    lab1 = {r.path: r for r in live_lab("lab1_cap").routes}
    assert lab1["/set/{key}/{value}"].build({"key": "k", "value": "v"},
                                            {"consistency": "strong"}) == {
        "op": "set", "key": "k", "value": "v", "consistency": "strong"}
    assert lab1["/get/{key}"].build({"key": "k"}, {})["consistency"] == "eventual"
    with pytest.raises(BadRequest, match="consistency='STRONG' is not one of"):
        lab1["/set/{key}/{value}"].build({"key": "k", "value": "v"}, {"consistency": "STRONG"})
    lab2 = {r.path: r for r in live_lab("lab2_raft").routes}
    assert lab2["/submit/{command}"].build({"command": "x=1"}, {}) == {"op": "submit",
                                                                       "command": "x=1"}


def test_router_partition_rules():
    from labkit.live.router import Router
    r = Router(("n1", "n2", "n3"))
    r.partition([["n1"]])
    assert r.groups() == [["n1"], ["n2", "n3"]]
    assert ("n1", "n2") in r.blocked and ("n2", "n3") not in r.blocked
    r.heal()
    r.cut("n1", "n2")
    assert r.blocked == {("n1", "n2")} and r.groups() is None, "a one-way cut is no partition"
    r.isolate("n3")
    r.connect("n3", "n1")
    assert ("n3", "n1") not in r.blocked and ("n3", "n2") in r.blocked
    with pytest.raises(ValueError, match="no node 'n9'"):
        r.partition([["n9"]])
    with pytest.raises(ValueError, match="in two groups"):
        r.partition([["n1"], ["n1", "n2"]])
    with pytest.raises(ValueError, match="loss must be in"):
        r.set_network(loss=2)
    with pytest.raises(ValueError, match="unknown network settings"):
        r.set_network(jitter=1)
    r.set_network(max_latency=0.05)
    assert r.network["max_latency"] == 0.05
    r.set_network(min_latency=0.2)   # the ceiling follows a raised floor
    assert (r.network["min_latency"], r.network["max_latency"]) == (0.2, 0.2)
    with pytest.raises(ValueError, match="min_latency <= max_latency"):
        r.set_network(max_latency=0.1)


# ----- a real cluster of the tiny node -----------------------------------------------------------

@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    tag = new_tag()
    with Cluster(TOY, data_dir=tmp_path_factory.mktemp("toy"), tag=tag) as cluster:
        yield cluster
    assert wait_gone(tag) == [], "closing the cluster leaves no process"


@pytest.fixture
def healthy(toy):
    """The shared toy cluster, healed and with every node up again after the test."""
    yield toy
    for node in toy.node_ids:
        if toy.state[node] == "paused":
            toy.resume(node)
        elif toy.state[node] != "up":
            toy.restart(node)
    toy.heal()
    toy.set_network(loss=0, duplicate=0, min_latency=0, max_latency=0)


@pytest.mark.timeout(120)
def test_messages_flow_through_the_router_and_faults_cut_them(healthy):
    c = healthy
    assert c.get("n1", "/ping/n2").body == {"node": "n1", "pong": "n2"}
    assert c.get("n1", "/ping/n1").ok, "a node may send to itself, as in the simulator"
    c.isolate("n2")
    lost = c.get("n1", "/ping/n2")
    assert lost.status == 504 and lost.error == "timeout", lost
    assert c.router_state()["counts"]["dropped: link cut"] >= 1
    c.heal()
    assert c.get("n1", "/ping/n2").ok
    c.cut("n2", "n1")                      # one way: the ping arrives, the pong does not
    assert c.get("n1", "/ping/n2").status == 504
    assert c.get("n2", "/ping/n3").ok
    c.partition(["n1", "n3"], ["n2"])
    assert c.router_state()["groups"] == [["n1", "n3"], ["n2"]]
    assert c.get("n1", "/ping/n3").ok and c.get("n3", "/ping/n2").status == 504


@pytest.mark.timeout(120)
def test_network_loss_and_delay(healthy):
    c = healthy
    c.set_network(min_latency=0.3, max_latency=0.3)
    start = time.monotonic()
    assert c.get("n1", "/ping/n3").ok
    assert time.monotonic() - start >= 0.6, "ping and pong are each held 0.3 s"
    c.set_network(min_latency=0, max_latency=0, loss=1.0)
    assert c.get("n1", "/ping/n3").status == 504
    assert c.router_state()["counts"]["dropped: lost"] >= 1


@pytest.mark.timeout(120)
def test_kill_restart_keeps_storage_and_pause_freezes(healthy):
    c = healthy
    before = c.get("n3", "/count").body
    c.get("n3", "/incr")
    c.kill("n3")
    assert c.status("n3")["state"] == "down"
    with pytest.raises(LiveError, match="cannot connect"):
        c.get("n3", "/count")
    assert c.get("n1", "/ping/n3").status == 504, "a down node gets nothing"
    c.restart("n3")
    after = c.get("n3", "/count").body
    assert after["count"] == before["count"] + 1, "the counter survived SIGKILL"
    assert after["boots"] == before["boots"] + 1 and c.incarnation["n3"] >= 2
    c.pause("n2")
    assert c.statuses()["n2"]["state"] == "paused"
    with pytest.raises(LiveError, match="no answer within"):
        c.get("n2", "/count", timeout=1.0)
    c.resume("n2")
    assert c.get("n1", "/ping/n2").ok


@pytest.mark.timeout(120)
def test_handler_errors_reach_the_client_and_the_status(healthy):
    c = healthy
    with pytest.raises(NodeError) as info:
        c.get("n1", "/todo")
    assert isinstance(info.value.cause, NotImplementedError)
    assert str(info.value.cause) == "Pinger.todo: nothing here yet"
    with pytest.raises(NodeError, match="ZeroDivisionError: division by zero"):
        c.get("n2", "/boom")
    with pytest.raises(NodeError, match="not implemented yet: Pinger.todo.*called on n1"):
        c.check_errors()
    assert c.status("n1")["error_count"] == 1
    silent = c.get("n1", "/silent")
    assert silent.status == 504 and "may or may not" in silent.body["detail"]
    missing = c.get("n1", "/nope")
    assert missing.status == 404 and "/ping/{peer}" in missing.body["routes"]
    c.restart("n1")
    c.restart("n2")                       # new processes: no errors any more
    c.check_errors()


@pytest.mark.timeout(120)
def test_status_and_applied(healthy):
    c = healthy
    c.restart("n1")
    c.get("n1", "/apply/1/x")
    c.get("n1", "/apply/2/y")
    assert c.applied("n1") == [[1, "x"], [2, "y"]]
    st = c.status("n1")
    assert st["view"] == {"role": "pinger", "term": st["view"]["term"]}
    assert st["storage_keys"] == ["boots", "count"] or st["storage_keys"] == ["boots"]
    snap = c.snapshot()
    assert [n["node"] for n in snap["nodes"]] == ["n1", "n2", "n3"]
    assert snap["router"]["nodes"] == {"n1": True, "n2": True, "n3": True}


# ----- starting and stopping ---------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_a_taken_port_is_a_clear_error(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(LiveError, match=f"port {port} is already in use.*--port-base"):
            Cluster(TOY, nodes=1, port_base=port, data_dir=tmp_path).start()


@pytest.mark.timeout(120)
def test_a_missing_class_is_a_submission_error(tmp_path):
    (tmp_path / "lab1_cap").mkdir()
    (tmp_path / "lab1_cap" / "__init__.py").write_text("")
    tag = new_tag()
    with pytest.raises(SubmissionError, match="cannot load the node class.*KVNode"):
        Cluster("lab1_cap", tmp_path, data_dir=tmp_path / "live", tag=tag).start()
    assert wait_gone(tag) == []


@pytest.mark.timeout(120)
def test_a_killed_manager_takes_its_processes_along(tmp_path):
    """SIGKILL of the process that started the cluster ends every node, paused ones too."""
    tag = new_tag()
    script = (f"import sys, time\nsys.path.insert(0, {str(REPO)!r})\n"
              f"from labkit.live.cluster import Cluster\n"
              f"c = Cluster({TOY!r}, data_dir={str(tmp_path)!r}, tag={tag!r}).start()\n"
              f"c.pause('n2')\nprint('ready', flush=True)\ntime.sleep(120)\n")
    manager = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert manager.stdout.readline().strip() == "ready"
        assert len(tagged_processes(tag)) == 4
    finally:
        manager.kill()
        manager.wait()
    assert wait_gone(tag) == [], "orphaned live processes"


# ----- the demo: control API, acceptance scenario, status page, Ctrl-C ---------------------------

def free_port_block(count: int, start: int = 17001) -> int:
    """A base port with ``base - 1 .. base + count - 1`` free right now (may be taken a moment later:
    the demo fixture retries with the next block when it is)."""
    for base in range(start, 30000, 10):
        if all(port_is_free(p) for p in range(base - 1, base + count)):
            return base
    raise RuntimeError("no free ports")


def http(url: str, method: str = "GET", timeout: float = 10) -> tuple[int, dict]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not (REPO / "reference" / "lab1_cap" / "__init__.py").exists():
        pytest.skip("reference/lab1_cap is not there yet")
    # Another process (a parallel test worker, an ephemeral port of the OS) can take a port
    # between our check and the demo's bind: then start again on the next block, a few times.
    start = 17001 + 500 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or 0)
    for attempt in range(5):
        base = free_port_block(3, start)
        tag = new_tag()
        out = tmp_path_factory.mktemp("demo") / "demo.out"
        log = open(out, "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "labkit.live", "lab1", "--impl", "reference", "--port-base",
             str(base), "--data-dir", str(out.parent / "data")],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONHASHSEED": "0", "LABKIT_LIVE_TAG": tag})
        log.close()
        deadline = time.monotonic() + 90
        while "Ctrl-C stops everything" not in out.read_text() and proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"the demo did not start in 90 s:\n{out.read_text()}")
            time.sleep(0.1)
        if proc.poll() is None:
            break
        if "already in use" not in out.read_text() or attempt == 4:
            pytest.fail(f"the demo exited with {proc.returncode}:\n{out.read_text()}")
        start = base + 10
    try:
        yield {"base": base, "control": base - 1, "proc": proc, "tag": tag, "out": out}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(120)
def test_demo_acceptance_scenario(demo):
    """The issue's acceptance: strong write and read, isolate n3, refusal vs eventual, heal."""
    n1, n2, n3 = (f"http://localhost:{demo['base'] + i}" for i in range(3))
    ctl = f"http://localhost:{demo['control']}/api"
    assert f"{n1}/" in demo["out"].read_text(), "the banner prints the node URLs"
    assert http(f"{n1}/set/k/v?consistency=strong")[1]["ok"] is True
    assert http(f"{n2}/get/k")[1]["value"] == "v"
    assert http(f"{ctl}/isolate/n3", "POST") == (200, {"ok": True, "did": "isolate n3"})
    status, body = http(f"{n3}/set/k/w?consistency=strong")
    assert (status, body["error"]) == (503, "insufficient_replicas")
    assert http(f"{n3}/set/e/x")[1]["ok"] is True
    assert http(f"{ctl}/heal", "POST")[0] == 200
    deadline = time.monotonic() + 20
    while http(f"{n1}/get/e")[1]["value"] != "x" or http(f"{n3}/get/k")[1]["value"] != "v":
        assert time.monotonic() < deadline, "n3 did not converge after the heal"
        time.sleep(0.1)
    assert http(f"{ctl}/partition?groups=n1,n2|n3", "POST")[0] == 200
    assert http(f"{ctl}/status")[1]["router"]["groups"] == [["n1", "n2"], ["n3"]]
    assert http(f"{ctl}/kill/n9", "POST")[0] == 400
    assert http(f"{ctl}/heal", "POST")[0] == 200


@pytest.mark.timeout(120)
def test_demo_status_page_renders_in_chromium(demo):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)")
    url = f"http://localhost:{demo['control']}/"
    http(f"{url}api/kill/n2", "POST")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--hide-scrollbars", "--window-size=1280,820", "--virtual-time-budget=4000"]
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=90).stdout
    assert "lab1_cap" in dom and "localhost:" in dom, dom[-2000:]
    assert dom.count('class="pill up"') == 2 and dom.count('class="pill down"') == 1, dom[-2000:]
    shot = REPO / "reports" / "live-status.png"
    shot.parent.mkdir(exist_ok=True)
    subprocess.run([browser, *flags, f"--screenshot={shot}", url], capture_output=True,
                   timeout=90)
    assert shot.exists() and shot.stat().st_size > 10_000
    http(f"{url}api/restart/n2", "POST")


@pytest.mark.timeout(120)
def test_demo_ctrl_c_stops_everything(demo):
    proc = demo["proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert "every process of the cluster is gone" in demo["out"].read_text()
    assert wait_gone(demo["tag"]) == []


def test_demo_refuses_a_taken_port(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "labkit.live", "lab1", "--impl",
                               "reference", "--port-base", str(port + 1),
                               "--data-dir", str(tmp_path)],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"port {port}" in proc.stderr, proc.stderr
    assert "--control-port" in proc.stderr


# ----- the live graders --------------------------------------------------------------------------

LIVE_LABS = [p for p in ("lab1_cap", "lab2_raft")
             if (REPO / "graders" / p / "test_live.py").exists()
             and (REPO / "reference" / p / "__init__.py").exists()]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("package", LIVE_LABS)
def test_live_graders(package, tmp_path, monkeypatch):
    """Reference: every live test passes; starter: every one fails "not implemented yet";
    afterwards no process of either run is left."""
    tag = new_tag()
    monkeypatch.setenv("LABKIT_LIVE_TAG", tag)
    ref = grade(package, "reference", tmp_path / "ref", "-m", "live", "-p", "no:warnings")
    live = [t for t in ref.report["tests"] if t["name"].startswith("Live:")]
    written = (REPO / "graders" / package / "test_live.py").read_text().count("\ndef test_live_")
    assert len(live) == written >= 3, [t["name"] for t in ref.report["tests"]]
    assert all(t["status"] == "passed" for t in live), ref.stdout[-4000:]
    if (REPO / "starter" / package / "__init__.py").exists():
        start = grade(package, "starter", tmp_path / "starter", "-m", "live", "-p", "no:warnings")
        for t in start.report["tests"]:
            if t["name"].startswith("Live:"):
                assert t["status"] == "failed" and t["score"] == 0, t
                assert t["output"].startswith("not implemented yet"), t["output"]
                assert "Traceback" not in t["output"], t["output"]
    assert wait_gone(tag) == [], "live graders left processes behind"


@pytest.mark.timeout(300)
def test_live_grader_catches_a_replica_without_storage(tmp_path):
    """A lab1 variant that keeps its replica only in memory passes the simulated crash-free
    tests but fails the live SIGKILL test, with the property and the cluster's state."""
    variant = REPO / "tests" / "buggy" / "lab1_cap" / "memory_only"
    if "lab1_cap" not in LIVE_LABS or not variant.is_dir():
        pytest.skip("lab1_cap's memory_only variant is not there")
    run = grade("lab1_cap", variant, tmp_path, "-k", "test_live_killed_replica_keeps_data",
                "-p", "no:warnings")
    result = run.test("test_live_killed_replica_keeps_data")
    assert result["status"] == "failed", result
    assert "restarts with its data" in result["output"] and "n2: up, boot 2" in result["output"]
    assert "node logs and storage files:" in result["output"]
