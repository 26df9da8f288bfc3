"""Tamper-proof grading (labkit.sandbox): student code in a confined child, the simulator, the
checkers and the report in the grader.

Three layers: the proxies on their own (values, callbacks, exceptions with the student's file
and line, node actions giving the same trace as in-process, crashes and limits); the plugin's
``--sandbox`` on a fake lab (same report as in-process; a crash is never a pass); the real labs
(reference and starter score the same sandboxed as in-process) and the hostile submissions of
tests/hostile (each scores exactly what the untouched starter earns: 0)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path

import pytest

from labkit import Simulation, StudentCodeError
from labkit.faults import Crash, Restart
from labkit.grading.labs import LABS
from labkit.sandbox import Sandbox, Settings, load_remote, process, shutdown_all
from labkit.sandbox.remote import SandboxCrash, StaleObject

pytestmark = pytest.mark.slow  # subprocesses: see the tiers in tests/conftest.py

REPO = Path(__file__).resolve().parents[1]
HOSTILE = REPO / "tests" / "hostile"

STUDENT = '''
import os
import sys
import time

from labkit import Node


class Refused(Exception):
    def __init__(self, retry_at):
        super().__init__(f"refused until {retry_at}")
        self.retry_at = retry_at


class Box:
    """A plain object with state, callbacks and special methods."""

    def __init__(self, clock=None):
        self.clock = clock
        self.items = {}

    def put(self, key, value):
        self.items[key] = value
        return len(self.items)

    def now(self):
        return self.clock()

    def __len__(self):
        return len(self.items)

    def __contains__(self, key):
        return key in self.items

    def refuse(self):
        raise Refused(12.5)

    def boom(self):
        return {}["missing"]


def echo(value):
    return value


def kinds(value):
    return [type(v).__name__ for v in value]


def call_with_retry(fn, retry_on, attempts):
    for attempt in range(attempts):
        try:
            return fn()
        except retry_on:
            if attempt == attempts - 1:
                raise


def use_rng(rng, n):
    return [rng.random() for _ in range(n)]


def leave(how):
    if how == "exit":
        sys.exit(3)
    if how == "_exit":
        os._exit(0)
    if how == "loop":
        while True:
            pass
    if how == "memory":
        hog = []
        while True:
            hog.append(bytearray(32 * 1024 * 1024))


class Stop(BaseException):
    """A student's own BaseException (not an Exception)."""


def interrupt(kind):
    if kind == "ki":
        raise KeyboardInterrupt("pressed by the student code")
    raise Stop("a BaseException of the student's own")


def terminal():
    """What opening the controlling terminal gives: "opened", or the errno."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError as exc:
        return exc.errno
    return "opened"


def surroundings():
    """What this process can see of the machine: its pid, the processes listed in /proc,
    the network interfaces, and whether a UDP datagram to another host can leave."""
    import errno, socket
    try:
        listed = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    except OSError as exc:
        listed = str(exc)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"x", ("192.0.2.1", 9))
            udp = "sent"
        finally:
            s.close()
    except OSError as exc:
        udp = errno.errorcode.get(exc.errno, str(exc))
    return {"pid": os.getpid(), "listed": listed, "udp": udp,
            "interfaces": [name for _, name in socket.if_nameindex()]}


def fill_scratch(total_mb=96, files=6000):
    """Writes 1 MB files into its working folder until ``total_mb`` or an error, then empty
    files until ``files`` or an error; what it managed, in MB and files, and the errors."""
    import errno
    written, made, errors = 0, 0, []
    chunk = b"x" * (1024 * 1024)
    try:
        while written < total_mb:
            with open(f"big{written}", "wb") as f:
                f.write(chunk)
            written += 1
    except OSError as exc:
        errors.append(errno.errorcode.get(exc.errno, str(exc)))
    for i in range(written):
        os.remove(f"big{i}")
    try:
        while made < files:
            open(f"f{made}", "wb").close()
            made += 1
    except OSError as exc:
        errors.append(errno.errorcode.get(exc.errno, str(exc)))
    return {"mb": written, "files": made, "errors": errors}


def forbidden():
    """What becomes of calls a sandboxed child must not make: ptrace (on itself), a TCP
    socket, prlimit naming a process, and a UNIX socket pair (allowed)."""
    import ctypes, errno, resource, socket
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    out["ptrace"] = "ok" if libc.syscall(101, 0, 0, 0, 0) == 0 else \
        errno.errorcode.get(ctypes.get_errno(), "?")              # PTRACE_TRACEME (x86-64)
    for name, fn in (("tcp", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
                     ("prlimit", lambda: resource.prlimit(os.getpid(), resource.RLIMIT_CORE)),
                     ("unix", lambda: socket.socketpair()[0])):
        try:
            made = fn()
            if hasattr(made, "close"):
                made.close()
            out[name] = "ok"
        except OSError as exc:
            out[name] = errno.errorcode.get(exc.errno, str(exc))
    return out


def session():
    return [os.getsid(0), os.getpgid(0), os.getpid()]


def read(path):
    with open(path) as f:
        return f.read()


def write(path):
    with open(path, "w") as f:
        f.write("tampered")
    return True


class Chatty(Node):
    """Every action of the node API, and a crash-surviving counter in storage."""

    def on_start(self):
        self.boots = self.storage.get("boots", 0) + 1
        self.storage["boots"] = self.boots
        self.seen = 0
        self.set_timer("tick", self.rng.uniform(0.01, 0.05), round=1)

    def timer_tick(self, round):
        self.log(f"tick {round} on {self.id}")
        self.broadcast({"type": "hello", "round": round, "jitter": self.rng.random()})
        if round < 20:
            self.set_timer("tick", 0.05, round=round + 1)
        else:
            self.cancel_timer("tick")

    def handle_hello(self, src, msg):
        self.seen += 1
        if msg["round"] % 5 == 0:
            self.apply(self.seen, {"from": src, "round": msg["round"]})
            self.storage.put("last", [src, msg["round"]])

    def on_request(self, request):
        if request.body.get("op") == "bad":
            self.send("nowhere", {"type": "x"})
        self.reply(request, {"ok": True, "seen": self.seen, "boots": self.boots})

    def state(self):
        return {"seen": self.seen, "boots": self.boots}

    def bump(self, how):
        SHARED["bumps"] += how["by"]

    def shared(self):
        return SHARED["bumps"]


SHARED = {"bumps": 0}      # state every node sees (a module global)
'''


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("impl")
    (root / "student_pkg").mkdir()
    (root / "student_pkg" / "__init__.py").write_text(STUDENT)
    return root


@pytest.fixture(scope="module")
def remote(student):
    module = load_remote(student, "student_pkg")
    yield module
    shutdown_all()


def local_module(student: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_local_student_pkg",
                                                  student / "student_pkg" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----- values, callbacks, exceptions -------------------------------------------------------------

def test_values_round_trip_with_their_types(remote):
    value = [(1, 2), {3, 4}, frozenset({"a"}), {1: "one", "two": 2}, float("inf"), b"\x00\xff",
             None, True, 2.5, {"__lk__": "not a tag"}, [[], {}]]
    assert remote.echo(value) == value
    assert remote.kinds(value) == ["tuple", "set", "frozenset", "dict", "float", "bytes",
                                   "NoneType", "bool", "float", "dict", "list"]
    nan = remote.echo(float("nan"))
    assert nan != nan


def test_objects_methods_special_methods_and_callbacks(remote):
    class Clock:
        def __init__(self):
            self.now = 7.0

        def __call__(self):
            return self.now

    clock = Clock()
    box = remote.Box(clock=clock)
    assert box.put("k", 1) == 1
    # Only data crosses: no special method of a student object runs for the grader (no
    # __len__, __contains__, __eq__, __bool__, __str__), so none can lie to a comparison.
    with pytest.raises(TypeError):
        len(box)
    with pytest.raises(TypeError):
        "k" in box                                      # noqa: B015 - the check is the raise
    assert box == box and box != remote.Box() and bool(box) is True
    assert repr(box) == "<Box object of the submission>"
    assert box.items == {"k": 1}
    clock.now = 9.5
    assert box.now() == 9.5                          # the child called our clock back
    assert isinstance(box, remote.Box)


def test_grader_objects_keep_their_identity_and_exceptions_their_class(remote):
    from graders.lab0_resilience.fakes import Probe, Transient   # the grader's own test doubles

    probe = Probe([Transient, Transient, "ok"])
    assert remote.call_with_retry(probe, (Transient,), 3) is probe.returned[-1]
    probe = Probe([Transient])
    with pytest.raises(Transient) as caught:
        remote.call_with_retry(probe, (Transient,), 2)
    assert caught.value is probe.raised[-1]          # the very object, not a copy
    probe = Probe([KeyError])
    with pytest.raises(KeyError):
        remote.call_with_retry(probe, (Transient,), 3)
    assert probe.calls == 1


def test_rng_passed_in_is_used_through_callbacks(remote):
    import random

    a, b = random.Random(5), random.Random(5)
    assert remote.use_rng(a, 3) == [b.random() for _ in range(3)]
    assert a.random() == b.random()                  # our rng advanced, as in-process


def test_student_exception_class_attributes_and_location(remote, student):
    box = remote.Box()
    with pytest.raises(remote.Refused) as caught:
        box.refuse()
    assert caught.value.retry_at == 12.5 and str(caught.value) == "refused until 12.5"
    with pytest.raises(KeyError) as caught:
        box.boom()
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert frames[-1].filename == str(student / "student_pkg" / "__init__.py")
    assert frames[-1].line == 'return {}["missing"]' and frames[-1].name == "boom"


# ----- nodes -------------------------------------------------------------------------------------

SCHEDULE = (Crash(0.3, "n2"), Restart(0.6, "n2"))


def run_chatty(cls, seed):
    sim = Simulation(cls, 3, seed=seed)
    applied = []
    sim.on_apply(lambda node, index, command: applied.append((node, index, command)))
    sim.apply_schedule(SCHEDULE)
    ops = [sim.request("n1", {"op": "get"}), sim.request("n3", {"op": "get"})]
    sim.run_until(1.5)
    sim.run_until_done(*ops)
    return sim, applied


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nodes_give_the_same_run_as_in_process(remote, student, seed):
    local = local_module(student)
    a, applied_a = run_chatty(local.Chatty, seed)
    b, applied_b = run_chatty(remote.Chatty, seed)
    assert b.trace.digest() == a.trace.digest()
    assert applied_b == applied_a
    assert b.storage["n2"].snapshot() == a.storage["n2"].snapshot() == \
        {"boots": 2, "last": b.storage["n2"].get("last")}
    assert [op.output for op in b.history] == [op.output for op in a.history]
    assert b.node("n1").state() == a.node("n1").state()     # a grader's accessor
    assert b.node("n1").seen == a.node("n1").seen           # a plain attribute


def watch_states(cls, seed, bump):
    """Every up node's ``state()`` and ``shared()`` after every event and at every apply (a
    grader's accessors), and with ``bump`` also right after ``n2.bump({"by": 1})``, which
    changes what every node's ``shared()`` returns (a call that changes a node takes more than
    scalars, like Lab 2's ``snapshot(index, data)``: only accessors are prefetched)."""
    sim, readings = Simulation(cls, 3, seed=seed), []

    def read(where):
        nodes = [(n, sim.node(n)) for n in sim.node_ids if sim.node(n) is not None]
        readings.append((where, sim.now, [(n, obj.state(), obj.shared()) for n, obj in nodes]))

    def observe(_sim):
        read("after")
        if bump and sim.node("n2") is not None:
            sim.node("n2").bump({"by": 1})
            read("bumped")

    sim.observe(observe)
    sim.on_apply(lambda node, index, command: read("apply"))
    sim.apply_schedule(SCHEDULE)
    sim.run_until(1.5)
    base = readings[0][2][0][2]
    return sim, [(w, t, [(n, st, k - base) for n, st, k in nodes]) for w, t, nodes in readings]


@pytest.mark.parametrize("bump", [False, True])
def test_prefetched_accessors_read_as_in_process(remote, student, monkeypatch, bump):
    """Accessors a grader reads on every node after every event (and at an apply) come with
    the events (few round trips), and read exactly what in-process reads; a call that changes
    the child in between (``bump``) is never hidden by a prefetched value."""
    local = local_module(student)
    a, read_a = watch_states(local.Chatty, 0, bump)
    calls = []
    request = process.Sandbox._request
    monkeypatch.setattr(process.Sandbox, "_request",
                        lambda sb, frame: calls.append(frame["op"]) or request(sb, frame))
    b, read_b = watch_states(remote.Chatty, 0, bump)
    assert b.trace.digest() == a.trace.digest()
    assert read_b == read_a
    reads = 2 * sum(len(nodes) for _, _, nodes in read_b)
    if not bump:
        assert calls.count("callm") < reads / 10, (calls.count("callm"), reads)


def test_contract_error_points_at_the_student_line(remote, student):
    sim = Simulation(remote.Chatty, 3, seed=0)
    sim.request("n1", {"op": "bad"})
    with pytest.raises(StudentCodeError) as caught:
        sim.run_until(0.1)
    text = str(caught.value)
    assert "n1 broke the node contract while handling client request" in text
    assert "sent to 'nowhere', which is not a node" in text
    assert "student_pkg/__init__.py:" in text


# ----- crashes, limits, confinement --------------------------------------------------------------

@pytest.mark.parametrize("how, expected", [
    ("exit", "SystemExit"), ("_exit", "exited with code 0"),
])
def test_leaving_the_process_is_a_failure_never_a_pass(student, how, expected):
    module = load_remote(student, "student_pkg")
    before = len(process.DEATHS)
    if how == "exit":  # caught in the child and raised here as what it is, as in-process
        with pytest.raises(SystemExit) as caught:
            module.leave(how)
        assert type(caught.value).__name__ == "SystemExit"
        assert not isinstance(caught.value, Exception)  # a grader's except Exception: as in-process
        assert len(process.DEATHS) == before             # the child lives on
        assert module.echo(5) == 5
    else:
        box = module.Box()
        with pytest.raises(SandboxCrash, match=expected):
            module.leave(how)
        assert len(process.DEATHS) == before + 1
        with pytest.raises(StaleObject):
            box.put("k", 1)                              # it lived in the dead child
        assert module.echo(5) == 5                       # a new child serves what follows
    module._lk_sandbox.stop()


@pytest.mark.parametrize("kind, cls", [("ki", KeyboardInterrupt), ("own", BaseException)])
def test_a_student_base_exception_is_raised_as_in_process(student, kind, cls):
    """KeyboardInterrupt or a student's own BaseException comes back as a BaseException of the
    same kind, not an ``Exception`` (a grader's ``except Exception`` and Hypothesis treat it as
    they do in-process), with the student's line; also when raised inside a grader callback
    that student code called (it goes back through the child, which is not stopped)."""
    module = load_remote(student, "student_pkg")
    before = len(process.DEATHS)
    with pytest.raises(cls) as caught:
        module.interrupt(kind)
    assert not isinstance(caught.value, Exception)
    assert type(caught.value).__name__ == ("KeyboardInterrupt" if kind == "ki" else "Stop")
    frames = [(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
              for tb in _walk(caught.value.__traceback__)]
    assert any(f.endswith("student_pkg/__init__.py") for f, _ in frames), frames
    with pytest.raises(cls) as caught:   # student -> grader callback -> student, raising
        module.call_with_retry(lambda: module.interrupt(kind), ValueError, 2)
    assert not isinstance(caught.value, Exception)
    assert len(process.DEATHS) == before, process.DEATHS[before:]   # the child was not stopped
    assert module.echo(7) == 7
    module._lk_sandbox.stop()


TERMINAL_GRADER = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from labkit.sandbox import Sandbox
    sb = Sandbox(Path(sys.argv[1]), "student_pkg")
    module = sb.module()
    os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))        # the grader has a terminal
    out = {"child": module.terminal(), "session": module.session(), "grader_sid": os.getsid(0),
           "layers": sb.layers, "seen_here": [os.getsid(sb.proc.pid), os.getpgid(sb.proc.pid),
                                              sb.proc.pid]}
    sb.stop()
    os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))        # and keeps it
    print("RESULT " + json.dumps(out), flush=True)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux terminals")
def test_the_child_cannot_reach_the_graders_terminal(student):
    """The child shares the grader's session (a session of its own would cost a scheduler
    switch per round trip) in a process group of its own, and gives up the grader's
    controlling terminal before any student code runs: ``/dev/tty`` does not open (nothing to
    inject keystrokes into with TIOCSTI), and the grader keeps its terminal. Landlock is off
    here, so that only the dropped terminal stands in the way."""
    import errno
    import fcntl
    import select
    import termios

    master, slave = os.openpty()

    def controlling_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {**os.environ, "LABKIT_SANDBOX_LANDLOCK": "0", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", TERMINAL_GRADER, str(student)], cwd=REPO,
                            stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, preexec_fn=controlling_terminal)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([master], [], [], 1.0)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:              # EIO: every end of the terminal is closed
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None and not select.select([master], [], [], 0.2)[0]:
            break
    proc.wait(timeout=30)
    os.close(master)
    text = output.decode(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, text[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["child"] == errno.ENXIO, result          # no controlling terminal left
    sid, pgid, pid = result["session"]
    if "namespaces pid" in " ".join(result["layers"]):
        # Process 1 of its own PID namespace: the leaders of its group and session (the
        # keeper, the grader) are outside it, so it sees 0 for both. Seen from the grader,
        # the keeper (the same group) answers for it.
        assert (sid, pgid, pid) == (0, 0, 1), result
        sid, pgid, pid = result["seen_here"]
    assert pgid == pid                                      # a process group of its own
    assert sid == result["grader_sid"], result              # in the grader's session


def _walk(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_a_silent_child_times_out_and_is_killed(student):
    sb = Sandbox(student, "student_pkg", Settings(call_timeout=1.0))
    module = sb.module()
    pid = sb.proc.pid
    started = time.monotonic()
    with pytest.raises(SandboxCrash, match="did not answer within 1 s"):
        module.leave("loop")
    assert time.monotonic() - started < 10
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    sb.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                    reason="namespaces are for a grader running as root on Linux")
def test_the_child_sees_no_other_process_and_no_network(student):
    """As root, the child is process 1 of PID, network, mount, IPC and UTS namespaces of its
    own (labkit.sandbox.namespaces): its /proc lists itself only, it has no interface but a
    loopback, and a datagram to another host cannot leave. Landlock and seccomp are off here,
    so that the namespaces alone stand in the way. Where the kernel refuses namespaces, the
    layer is missing and this test says so."""
    sb = Sandbox(student, "student_pkg", Settings(landlock=False, seccomp=False))
    try:
        module = sb.module()
        layers = " ".join(sb.layers)
        if "namespaces" not in layers:
            pytest.skip(f"this kernel gives no namespaces ({layers})")
        assert "namespaces pid, net, mnt, ipc, uts" in layers, layers
        seen = module.surroundings()
        assert seen["pid"] == 1 and seen["listed"] == [1], seen
        assert seen["interfaces"] == ["lo"] and seen["udp"] == "ENETUNREACH", seen
        assert module.echo(3) == 3
    finally:
        sb.stop()
    with_off = Sandbox(student, "student_pkg", Settings(landlock=False, seccomp=False))
    os.environ["LABKIT_SANDBOX_NAMESPACES"] = "0"
    try:
        module = with_off.module()
        assert "namespaces" not in " ".join(with_off.layers)
        assert module.surroundings()["pid"] != 1       # the check above can tell
    finally:
        del os.environ["LABKIT_SANDBOX_NAMESPACES"]
        with_off.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                    reason="a scratch tmpfs is for a grader running as root on Linux")
def test_the_scratch_folder_is_bounded_in_size_and_number_of_files(student):
    """As root, the child's scratch folder is a tmpfs of its own (``confine.scratch_space``):
    past 64 MB in all, or 4096 files, its writes fail with ENOSPC, and nothing it wrote is on
    the grader's disk (96 MB and 6000 files are asked for)."""
    sb = Sandbox(student, "student_pkg", Settings())
    try:
        module = sb.module()
        layers = " ".join(sb.layers)
        if "scratch" not in layers:
            pytest.skip(f"this kernel lets no tmpfs be mounted here ({layers})")
        assert "scratch 64 MB, 4096 files" in layers, layers
        got = module.fill_scratch()
        assert got["mb"] <= 64 and got["files"] < 4096, got
        assert got["errors"] == ["ENOSPC", "ENOSPC"], got
        below = sorted(p.name for p in sb.scratch.iterdir())
        assert below == ["output.txt"], below        # the grader's disk saw none of it
        assert module.echo(3) == 3                   # and the child still works
    finally:
        sb.stop()


def _kernel_landlock_abi() -> int:
    """The Landlock ABI this kernel offers (0: none), asked the way ``confine.landlock`` asks."""
    import ctypes

    from labkit.sandbox import confine

    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    return max(0, libc.syscall(confine._SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))


def test_every_layer_the_child_applied_is_reported(student):
    """What ``grade_class`` lists, and what the warnings are decided on, is every layer the
    child applied, the last one included: as root on a kernel with Landlock the child reports
    eleven (Landlock is the last), which a cut at ten once hid."""
    sb = Sandbox(student, "student_pkg", Settings())
    try:
        sb.module()
        layers = sb.layers
    finally:
        sb.stop()
    assert layers[:5] == ["memory 1024 MB", "cpu 900 s", "file size 64 MB", "64 open files",
                          "no core dumps"], layers
    if _kernel_landlock_abi() >= 1:
        assert layers[-1].startswith(f"landlock v{_kernel_landlock_abi()} "), layers
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        assert any(layer.startswith("user ") for layer in layers), layers
        assert "no new processes" in layers, layers


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
                    reason="the test's ptrace call number is x86-64's")
def test_a_seccomp_filter_refuses_tracing_network_sockets_and_other_processes(student,
                                                                                 monkeypatch):
    """The child's seccomp filter (libseccomp through pyseccomp) refuses with EPERM: ptrace,
    sockets other than UNIX ones, prlimit naming a process (even its own pid: only 0 passes).
    Without the filter (``LABKIT_SANDBOX_SECCOMP=0``), each of them works, so the test can
    tell. Landlock is off here."""
    sb = Sandbox(student, "student_pkg", Settings(landlock=False))
    try:
        module = sb.module()
        if "seccomp" not in " ".join(sb.layers):
            pytest.skip(f"no libseccomp here ({sb.layers})")
        assert module.forbidden() == {"ptrace": "EPERM", "tcp": "EPERM", "prlimit": "EPERM",
                                      "unix": "ok"}
    finally:
        sb.stop()
    monkeypatch.setenv("LABKIT_SANDBOX_SECCOMP", "0")
    sb = Sandbox(student, "student_pkg", Settings(landlock=False))
    try:
        module = sb.module()
        assert "seccomp" not in " ".join(sb.layers)
        assert module.forbidden() == {"ptrace": "ok", "tcp": "ok", "prlimit": "ok", "unix": "ok"}
    finally:
        sb.stop()


@pytest.mark.timeout(120)
def test_a_child_that_uses_up_its_cpu_time_is_told_so(student):
    """A child in an endless loop with a CPU limit of 1 s ends, and the failure says it used
    up its CPU time (inside a PID namespace too, where process 1 ignores SIGXCPU and dies of
    the hard limit's SIGKILL: the keeper reports that as SIGXCPU)."""
    sb = Sandbox(student, "student_pkg", Settings(cpu_s=1, call_timeout=60.0))
    module = sb.module()
    with pytest.raises(SandboxCrash, match="CPU time limit of 1 s"):
        module.leave("loop")
    sb.stop()


def test_memory_limit(student):
    sb = Sandbox(student, "student_pkg", Settings(memory_mb=300))
    module = sb.module()
    with pytest.raises((MemoryError, SandboxCrash)):
        module.leave("memory")
    sb.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Landlock is Linux only")
def test_the_child_cannot_read_the_repository_or_write_outside_its_scratch(student, tmp_path):
    module = load_remote(student, "student_pkg")
    layers = " ".join(module._lk_sandbox.layers)
    assert "memory" in layers and "cpu" in layers
    if "landlock" not in layers:
        pytest.skip(f"no Landlock on this kernel ({layers})")
    with pytest.raises(PermissionError):
        module.read(str(REPO / "reference" / "lab1_cap" / "__init__.py"))
    with pytest.raises(PermissionError):
        module.write(str(tmp_path / "score.json"))
    assert not (tmp_path / "score.json").exists()
    module._lk_sandbox.stop()


def test_import_errors_read_as_in_process(tmp_path):
    pkg = tmp_path / "broken_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("x = 1\ndef f(:\n    pass\n")
    with pytest.raises(SyntaxError) as caught:
        load_remote(tmp_path, "broken_pkg")
    assert caught.value.filename == str(pkg / "__init__.py") and caught.value.lineno == 2
    (pkg / "__init__.py").write_text("import os\nVALUE = {}['nope']\n")
    with pytest.raises(KeyError) as caught:
        load_remote(tmp_path, "broken_pkg")
    frame = traceback.extract_tb(caught.value.__traceback__)[-1]
    assert frame.filename == str(pkg / "__init__.py") and frame.lineno == 2
    (pkg / "__init__.py").write_text("import os\nos._exit(0)\n")
    with pytest.raises(SandboxCrash, match="exited with code 0 while importing broken_pkg"):
        load_remote(tmp_path, "broken_pkg")


# ----- the plugin's --sandbox on a fake lab ------------------------------------------------------

FAKE_IMPLS = {
    "exits": "import os\n" + textwrap.dedent('''
        from labkit import Node

        class Counter(Node):
            def on_start(self):
                os._exit(0)
        '''),
}
SWALLOW = '''
import pytest
from labkit import Simulation
from labkit.grading import require


@pytest.mark.points(1)
def test_swallows_every_error(lab):
    """A careless grader test that swallows every exception"""
    try:
        sim = Simulation(require(lab, "Counter"), 2, seed=0)
        sim.run_until(0.5)
    except Exception:
        pass
'''


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """test_grading's fake course, plus a careless grader test and an impl that exits."""
    from test_grading import IMPLS

    root = tmp_path_factory.mktemp("course")
    graders = root / "graders" / "lab1_cap"
    graders.mkdir(parents=True)
    shutil.copy(REPO / "graders" / "conftest.py", root / "graders" / "conftest.py")
    (root / "graders" / "__init__.py").write_text("")
    (graders / "__init__.py").write_text("")
    (graders / "conftest.py").write_text("from labkit.grading import lab_fixture\n"
                                         "lab = lab_fixture('lab1_cap')\n")
    shutil.copy(REPO / "tests" / "fakelab" / "test_fake.py", graders / "test_fake.py")
    (graders / "test_swallow.py").write_text(SWALLOW)
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p "
                                     "labkit.grading.plugin\ntimeout = 60\n"
                                     "timeout_method = signal\n")
    for name, source in {**IMPLS, **FAKE_IMPLS}.items():
        pkg = root / "impls" / name / "lab1_cap"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(textwrap.dedent(source))
    hostile = root / "impls" / "good_with_conftest"
    shutil.copytree(root / "impls" / "good", hostile)
    for where in (hostile, hostile / "lab1_cap"):
        (where / "conftest.py").write_text("raise SystemExit('a submission conftest ran')\n")
    return root


def grade_fake(course: Path, impl: str, *args: str, sandbox: bool = True):
    reports = course / "reports" / f"{impl}-{'sb' if sandbox else 'in'}"
    shutil.rmtree(reports, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "graders", "--impl", str(course / "impls" / impl),
         "--report-dir", str(reports), "-q", *(["--sandbox"] if sandbox else []), *args],
        cwd=course, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0"})
    path = reports / "score.json"
    return proc, json.loads(path.read_text()) if path.exists() else None


@pytest.mark.parametrize("impl", ["good", "starter", "syntax", "noclass", "raises", "negative",
                                  "clock"])
def test_fake_lab_reports_read_as_in_process(course, impl):
    _, inproc = grade_fake(course, impl, sandbox=False)
    _, sandboxed = grade_fake(course, impl)
    assert sandboxed["score"] == inproc["score"]
    for a, b in zip(inproc["tests"], sandboxed["tests"]):
        assert (a["name"], a["status"], a["score"]) == (b["name"], b["status"], b["score"])
        assert a["output"].splitlines()[:1] == b["output"].splitlines()[:1], (a, b)


def test_fake_lab_infinite_loop_fails_in_time(course):
    proc, report = grade_fake(course, "loops", "-k", "reaches_three", "--timeout", "3")
    assert report is not None and report["score"] == 0
    output = report["tests"][0]["output"]
    assert "did not finish in time" in output or "ran out of time" in output, output


def test_a_crash_fails_the_test_even_if_the_grader_swallows_it(course):
    _, inproc = grade_fake(course, "good", "-k", "swallows", sandbox=False)
    assert inproc["score"] == 1                           # the careless test passes honestly
    proc, report = grade_fake(course, "exits", "-k", "swallows")
    assert report is not None, proc.stdout + proc.stderr
    assert report["score"] == 0
    assert "exited with code 0" in report["tests"][0]["output"]


def test_conftest_in_a_submission_is_never_loaded_sandboxed(course):
    proc, report = grade_fake(course, "good_with_conftest")
    assert "submission conftest ran" not in proc.stdout + proc.stderr
    assert report["score"] == 16


# ----- the real labs: same scores in-process and sandboxed ---------------------------------------

def labs_present() -> list[str]:
    return [lab.package for lab in LABS
            if (REPO / "graders" / lab.package / "conftest.py").is_file()
            and (REPO / "reference" / lab.package / "__init__.py").is_file()
            and (REPO / "starter" / lab.package / "__init__.py").is_file()]


def grade_lab(package: str, impl: str | Path, out: Path, *args: str) -> dict:
    from graderun import grade

    # A generous per-test limit: on a loaded machine a timeout would fake a difference.
    return grade(package, impl, out, "-m", "not live", "-o", "timeout=900", *args).report


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("package", [   # shares test_labs.py's in-process reference run
    pytest.param(p, marks=pytest.mark.xdist_group(f"reference-{p}")) for p in labs_present()])
def test_reference_and_starter_score_the_same_sandboxed(package, tmp_path, tmp_path_factory):
    from graderun import reference_run

    for impl in ("reference", "starter"):
        inproc = reference_run(package, str(tmp_path_factory.getbasetemp())).report \
            if impl == "reference" else grade_lab(package, impl, tmp_path / f"{impl}-in")
        sandboxed = grade_lab(package, impl, tmp_path / f"{impl}-sb", "--sandbox")
        assert sandboxed["score"] == inproc["score"], (impl, [
            (t["name"], t["output"][:300]) for t in sandboxed["tests"] if t["status"] != "passed"])
        assert [t["status"] for t in sandboxed["tests"]] == [t["status"] for t in inproc["tests"]]
        if impl == "starter":
            assert sandboxed["score"] == 0
            assert [t["output"] for t in sandboxed["tests"]] == \
                [t["output"] for t in inproc["tests"]]
        else:
            assert sandboxed["score"] == sandboxed["max_score"]


# In-process grading imports the submission and sandboxed grading does not; both see the same
# examples only because the grading profile switches Hypothesis' "local constants" off
# (labkit.strategies.LOCAL_CONSTANTS_OFF). This test would catch it if they came back.

@pytest.mark.timeout(3600)
@pytest.mark.parametrize("package", labs_present())
def test_a_buggy_variant_scores_the_same_sandboxed(package, tmp_path):
    from instructor.sample_class import BUGGY, vendored_variant

    variants = sorted(p for p in (BUGGY / package).iterdir() if p.is_dir()) \
        if (BUGGY / package).is_dir() else []
    if not variants:
        pytest.skip(f"{package} has no buggy variants")
    sub = vendored_variant(variants[0], tmp_path / "submission")   # no reference/ needed
    reports = {}
    for mode in ("in", "sb"):
        out = tmp_path / mode
        subprocess.run([sys.executable, "-m", "pytest", f"graders/{package}", "--impl", str(sub),
                        "--report-dir", str(out), "-q", "-p", "no:cacheprovider", "-m",
                        "not live", "-o", "timeout=900",
                        *(["--sandbox"] if mode == "sb" else [])],
                       cwd=REPO, capture_output=True, text=True, timeout=1500,
                       env={**os.environ, "PYTHONHASHSEED": "0"})
        reports[mode] = json.loads((out / "score.json").read_text())
    inproc, sandboxed = reports["in"], reports["sb"]
    assert inproc["score"] < inproc["max_score"], f"{variants[0].name} was not caught"
    assert [(t["name"], t["status"]) for t in sandboxed["tests"]] == \
        [(t["name"], t["status"]) for t in inproc["tests"]]
    assert sandboxed["score"] == inproc["score"]


# ----- hostile submissions -----------------------------------------------------------------------

HOSTILE_LABS = [p for p in ("lab0_resilience", "lab1_cap") if p in labs_present()]


def grade_hostile(name: str, tmp_path: Path, *extra: str, env: dict | None = None,
                  sandbox: bool = True) -> tuple[subprocess.CompletedProcess, Path]:
    from instructor.sample_class import hostile

    sub = hostile(HOSTILE / f"{name}.py", tmp_path / "submission")
    reports = tmp_path / "reports"
    cmd = [sys.executable, "-m", "pytest", *[f"graders/{p}" for p in HOSTILE_LABS], "--impl",
           str(sub), "--report-dir", str(reports), "-q", "-p", "no:cacheprovider",
           "-m", "not live", *(["--sandbox"] if sandbox else []), *extra]
    token = f"LABKIT_JOB_TOKEN=hostile-{name}-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONHASHSEED": "0",
                               "LABKIT_SANDBOX_MEMORY_MB": "400",
                               "LABKIT_JOB_TOKEN": token.split("=", 1)[1], **(env or {})})
    proc.token = token          # every sandboxed child of that run carries it
    return proc, reports


def tokens_alive(marker: str) -> list[int]:
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                alive.append(int(pid))
        except OSError:
            pass
    return alive


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(p.stem for p in HOSTILE.glob("*.py")))
def test_hostile_submission_scores_what_honest_code_earns(name, tmp_path):
    proc, reports = grade_hostile(name, tmp_path)
    time.sleep(1.0 if name == "fork" else 0)            # a forked daemon would write by now
    report = json.loads((reports / "score.json").read_text())
    assert report["score"] == 0, [(t["name"], t["output"][:200]) for t in report["tests"]]
    assert report["max_score"] > 0 and len(report["tests"]) > 0
    assert set(report["extra_data"]["labs"]) == set(HOSTILE_LABS)   # the grader's own report
    assert all(t["status"] == "failed" for t in report["tests"])
    assert "1000" not in (reports / "score.md").read_text()
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]   # tests failed
    assert "submission conftest.py was loaded" not in proc.stdout + proc.stderr
    assert not tokens_alive(proc.token)


@pytest.mark.timeout(600)
def test_a_forked_daemon_does_not_outlive_grading(tmp_path):
    """As root without the switch to nobody, fork is allowed: the daemon must still die."""
    if os.geteuid() != 0:
        pytest.skip("only root can fork in the sandbox (RLIMIT_NPROC is 0 otherwise)")
    proc, reports = grade_hostile("fork", tmp_path, env={"LABKIT_SANDBOX_USER": "",
                                                         "LABKIT_SANDBOX_ALLOW_ROOT": "1",
                                                         "LABKIT_SANDBOX_LANDLOCK": "0"})
    written = (reports / "score.json").read_text()
    time.sleep(1.5)
    assert (reports / "score.json").read_text() == written
    assert json.loads(written)["score"] == 0
    assert not tokens_alive(proc.token)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["monkeypatch", "overwrite_reports"])
def test_these_attacks_do_work_in_process(name, tmp_path):
    """Why batch grading is sandboxed: in-process, these raise the starter's 0."""
    proc, reports = grade_hostile(name, tmp_path, sandbox=False)
    report = json.loads((reports / "score.json").read_text())
    assert report["score"] > 0, proc.stdout[-2000:]


@pytest.mark.timeout(600)
def test_the_network_attack_does_reach_the_network_in_process(tmp_path):
    """tests/hostile/reach_network.py can tell: in-process, its report says it reached the
    network (sandboxed, the batch test of test_hostile_classes finds no such line)."""
    proc, reports = grade_hostile("reach_network", tmp_path, sandbox=False)
    assert "REACHED the network" in (reports / "score.json").read_text(), proc.stdout[-2000:]


ORPHAN_GRADER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from labkit.sandbox import Sandbox
    sb = Sandbox(Path(sys.argv[1]), "student_pkg")
    module = sb.module()
    print("LAYERS " + repr(sb.layers), flush=True)
    module.leave("loop")                 # student code that never returns
""")


def test_a_child_dies_with_a_killed_grader(student):
    """SIGKILL of the grading process (a cluster worker lost mid-job) ends its sandboxed child
    even while student code spins, also after the child switched to a uid of its own (which
    clears the parent-death signal unless it is set again)."""
    def children(pid: int) -> list[int]:
        found = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"labkit.sandbox.child" in cmd:
                found.append(int(entry))
        return found

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_GRADER, str(student)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        line = proc.stdout.readline()
        assert line.startswith("LAYERS"), line
        kids = children(proc.pid)
        assert len(kids) == 1, kids
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while alive(kids[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    still = alive(kids[0])
    if still:
        os.kill(kids[0], 9)
    assert not still, f"the child outlived its grader ({line.strip()})"


PIN = textwrap.dedent("""
    import json, os
    from labkit.sandbox.process import share_one_cpu
    os.sched_setaffinity(0, range(os.cpu_count()))      # (a pinned test worker started us)
    allowed = sorted(os.sched_getaffinity(0))
    cpu = share_one_cpu()
    print("RESULT " + json.dumps([allowed, cpu, sorted(os.sched_getaffinity(0)),
                                  share_one_cpu()]))
""")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2,
                    reason="pinning needs Linux and two CPUs")
@pytest.mark.parametrize("setting", ["1", "none", ""])
def test_the_grader_and_its_children_share_one_cpu(setting):
    """``share_one_cpu`` puts the grading process (and so the children it starts) on the CPU
    ``LABKIT_SANDBOX_CPU`` names (modulo the CPUs it may use), on none for ``none``, else on
    the one it is on; once per process."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER",)}
    env.update({"PYTHONPATH": str(REPO), "LABKIT_SANDBOX_CPU": setting})
    out = subprocess.run([sys.executable, "-c", PIN], env=env, capture_output=True, text=True,
                         timeout=60)
    assert "RESULT " in out.stdout, out.stderr[-2000:]
    allowed, cpu, affinity, again = json.loads(out.stdout.split("RESULT ", 1)[1])
    if len(allowed) < 2:
        pytest.skip(f"only CPUs {allowed} may be used here")
    assert again == cpu
    if setting == "none":
        assert cpu is None and affinity == allowed
    else:
        assert affinity == [cpu] and cpu in allowed
        if setting == "1":
            assert cpu == allowed[1]


def test_class_jobs_running_together_get_different_cpus(monkeypatch, tmp_path):
    """``grade_class``'s local pool gives each running job the lowest CPU slot no running job
    holds (passed on as ``LABKIT_SANDBOX_CPU``), and a finished job's slot to the next."""
    from instructor import cluster
    from instructor.jobs import Job, Limits

    monkeypatch.setattr(Job, "start", lambda self: None)
    monkeypatch.setattr(Job, "done", lambda self: self.impl.name == "a")
    pool = cluster.LocalPool(3, Limits(), REPO)
    for name in ("a", "b", "c"):
        pool.submit(name, tmp_path / name, tmp_path / f"r{name}", "lab0_resilience")
    assert [job.cpu for job in pool.running.values()] == [0, 1, 2]
    assert [key for key, _ in pool.finished(wait=0)] == ["a"]
    pool.submit("d", tmp_path / "d", tmp_path / "rd", "lab0_resilience")
    assert pool.running["d"].cpu == 0
