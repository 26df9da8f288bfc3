"""The grader's side of one sandboxed lab package: the child process, its staging folder, the
request loop, and what happens when the child dies.

One ``Sandbox`` per lab package per grading run. It starts a child on first use and starts a
new one ("generation") after a crash, so one test's crash costs that test only. The child gets
a staging copy of the submission and of labkit in a fresh temporary folder (never the
repository itself), its own session and process group, a scratch folder as its only writable
place, and the limits of ``Settings``. When it dies, goes silent or breaks the protocol, the
call in progress raises ``SandboxCrash`` and the death is recorded in ``DEATHS`` (the pytest
hook fails the test it happened in, whatever the grader made of the exception).
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GraderBug, SubmissionError
from ..grading.labs import REPO
from . import confine, delta, namespaces, procs
from .protocol import TAG, Channel, ChannelClosed, ChannelTimeout, ProtocolError, loads_exact
from .remote import (MAX_TEXT, SPECIAL_NAMES, ParentCodec, RemoteMeta, RemoteModule,
                     RemoteNode, RemoteNodeMeta, RemoteObject, SandboxCrash, _method,
                     attach_traceback, stale, student_frames)

DEATHS: list[str] = []          # every unexpected end of a child, in order (for the pytest hook)
# Set by the pytest hook: a crash poisons the rest of its test (no new child until the next
# test), so a Hypothesis test whose every example hangs fails once, not once per example.
TEST_SCOPED = False
_LIVE: "weakref.WeakSet[Sandbox]" = weakref.WeakSet()
_STAGING: dict[str, "Staging"] = {}
SKIP_DIRS = {".git", "__pycache__", ".nox", ".hypothesis", ".venv", "venv", "node_modules",
             "reports", ".pytest_cache", ".mypy_cache"}


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class Settings:
    """Limits of a sandboxed child; each can be set by an environment variable."""

    memory_mb: int = field(default_factory=lambda: _env_int("LABKIT_SANDBOX_MEMORY_MB", 1024))
    cpu_s: int = field(default_factory=lambda: _env_int("LABKIT_SANDBOX_CPU_S", 900))
    call_timeout: float = field(
        default_factory=lambda: float(_env_int("LABKIT_SANDBOX_CALL_TIMEOUT", 60)))
    import_timeout: float = field(
        default_factory=lambda: float(_env_int("LABKIT_SANDBOX_IMPORT_TIMEOUT", 30)))
    # Who the child becomes when the grader is root: "auto" (a fresh uid of its own for every
    # child, see child_user: no two children, of one job or of two, share a user), a user name,
    # or "uid:gid"; "" to stay root (then ``allow_root`` must say so).
    user: str = field(default_factory=lambda: os.environ.get(
        "LABKIT_SANDBOX_USER", "auto" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""))
    allow_root: bool = field(
        default_factory=lambda: os.environ.get("LABKIT_SANDBOX_ALLOW_ROOT", "") == "1")
    landlock: bool = field(
        default_factory=lambda: os.environ.get("LABKIT_SANDBOX_LANDLOCK", "1") != "0")
    seccomp: bool = field(
        default_factory=lambda: os.environ.get("LABKIT_SANDBOX_SECCOMP", "1") != "0")
    # The Python modules tried, in order, for libseccomp's binding (``confine.seccomp_binding``).
    seccomp_bindings: tuple[str, ...] = confine.BINDINGS
    max_copy_mb: int = 50


def missing_layer(missing: list[str]) -> str:
    """Why sandboxed grading will not run without a layer this system should give, and how to
    fix it."""
    return (f"sandboxed grading refuses to run: the sandboxed child could not confine itself "
            f"as this machine should allow ({'; '.join(missing)}). Fix what it names, or, to "
            f"grade without that layer, knowing the risk: LABKIT_SANDBOX_SECCOMP=0 (no seccomp "
            f"filter) or LABKIT_SANDBOX_LANDLOCK=0 (no Landlock); every gradebook row then says "
            f"so.")


def refusal(why: str) -> str:
    """Why sandboxed grading will not run as root, and how to fix it."""
    return (f"sandboxed grading refuses to run: the grader is root and the sandboxed child could "
            f"not become an unprivileged user ({why}); as root, student code could reach other "
            f"jobs' processes and outlive grading. Fix: use a Python that other users can "
            f"read (a venv outside /root, or `chmod -R a+rX` on the installation; the "
            f"Gradescope bundle does this itself), or grade as an ordinary user. To grade "
            f"anyway, knowing the risk: LABKIT_SANDBOX_ALLOW_ROOT=1 (grade_class --allow-root), "
            f"and every gradebook row says so.")


# ----- staging -----------------------------------------------------------------------------------

@dataclass
class Staging:
    root: Path
    lib: Path          # a copy of labkit's Python files (the child imports labkit from here)
    impl: Path         # a copy of the submission (symbolic links are not followed)
    source: Path       # the submission itself

    def to_original(self, path: str) -> str:
        for copy, original in ((self.impl, self.source), (self.lib, REPO)):
            prefix = str(copy) + os.sep
            if path.startswith(prefix):
                return str(original / path[len(prefix):])
        return path

    def map_text(self, text: str) -> str:
        return text.replace(str(self.impl) + os.sep, str(self.source) + os.sep).replace(
            str(self.lib) + os.sep, str(REPO) + os.sep)


def staging(source: Path, settings: Settings) -> Staging:
    """A fresh copy of the submission and of labkit, readable by the child (one per Sandbox:
    taken when grading of the lab starts, so later edits to the submission do not count)."""
    root = Path(tempfile.mkdtemp(prefix="labkit-sandbox-"))
    os.chmod(root, 0o755)
    lib, impl = root / "lib", root / "impl"
    _copy_tree(REPO / "labkit", lib / "labkit", lambda p: p.suffix == ".py", limit_mb=50)
    try:
        _copy_tree(source, impl, lambda p: True, limit_mb=settings.max_copy_mb)
    except OverflowError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise SubmissionError(f"{source} is too large to grade: {exc}") from None
    st = _STAGING[str(root)] = Staging(root, lib, impl, source)
    return st


def _copy_tree(src: Path, dst: Path, keep, limit_mb: int) -> None:
    """Copy regular files and folders (no symbolic links), readable by everyone."""
    budget = limit_mb * 1024 * 1024
    dst.mkdir(parents=True, exist_ok=True)
    os.chmod(dst, 0o755)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        rel = here.relative_to(src)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                             and not (here / d).is_symlink())
        for d in dirnames:
            (dst / rel / d).mkdir(exist_ok=True)
            os.chmod(dst / rel / d, 0o755)
        for name in filenames:
            path = here / name
            if path.is_symlink() or not path.is_file() or name.endswith(".pyc") or not keep(path):
                continue
            budget -= path.stat().st_size
            if budget < 0:
                raise OverflowError(f"more than {limit_mb} MB of files")
            shutil.copyfile(path, dst / rel / name)
            os.chmod(dst / rel / name, 0o644)


UID_BASE = 10_000_000          # "auto" uids: UID_BASE + pid * 1000 + n (no user has them)
_spawned = [0]


def child_user(user: str) -> str:
    """The user a new child becomes: for "auto", a "uid:gid" no other child has (made of this
    process's id, unique among live processes, and a counter: pid_max is at most 2**22, so it
    stays below 2**32 - 1); else ``user`` itself."""
    if user == "auto":
        _spawned[0] += 1
        uid = UID_BASE + os.getpid() * 1000 + _spawned[0] % 1000
        return f"{uid}:{uid}"
    return user


def _scratch(user: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="labkit-scratch-"))
    os.chmod(path, 0o700)
    if user and os.geteuid() == 0:
        try:
            from .confine import user_ids

            uid, gid = user_ids(user)
            os.chown(path, uid, gid)
        except (KeyError, ValueError, OSError):
            pass
    return path


# ----- one CPU for the grader and its children ------------------------------------------------

_pinned: list = []


def share_one_cpu() -> int | None:
    """Keep this grading process, and so every child it starts (a child inherits it), on one
    CPU; the CPU, or None. A grader and its child take turns (one waits while the other
    works), so they lose nothing by sharing a CPU, and gain much: a wake-up on the CPU that
    is running already costs a few microseconds, one on another CPU tens (about 7 against 50
    per round trip on the 2-CPU machine this was measured on). Which CPU:
    ``LABKIT_SANDBOX_CPU`` (``grade_class`` gives each of its parallel jobs its own; ``none``:
    do not pin), else the pytest-xdist worker's number, else the one this process is on now.
    Once per process; never fails grading. Called by ``--sandbox`` grading runs only (a
    process that starts other programs, live clusters, would pin them too)."""
    if _pinned:
        return _pinned[0]
    _pinned.append(None)
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        allowed = sorted(os.sched_getaffinity(0))
        wanted = os.environ.get("LABKIT_SANDBOX_CPU", "")
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        if wanted.isdigit():     # a job's own slot, even if whoever started it was pinned
            allowed = list(range(os.cpu_count() or 1))
        if wanted == "none" or len(allowed) < 2:
            return None
        if wanted.isdigit():
            cpu = allowed[int(wanted) % len(allowed)]
        elif worker[2:].isdigit():
            cpu = allowed[int(worker[2:]) % len(allowed)]
        else:
            with open("/proc/self/stat", "rb") as f:
                stat = f.read()
            cpu = int(stat[stat.rfind(b")") + 2:].split()[36])   # field 39: the last CPU
            if cpu not in allowed:
                cpu = allowed[0]
        os.sched_setaffinity(0, {cpu})
    except (OSError, ValueError, IndexError):
        return None
    _pinned[0] = cpu
    return cpu


# ----- the sandbox -------------------------------------------------------------------------------

class Sandbox:
    """The child process hosting one lab package of one submission (see the module docstring)."""

    def __init__(self, source: Path, package: str, settings: Settings | None = None):
        self.source = Path(source).resolve()
        self.package = package
        self.settings = settings or Settings()
        self.gen = 0
        self.proc: subprocess.Popen | None = None
        self.channel: Channel | None = None
        self.codec: ParentCodec | None = None
        self.token = ""
        self.scratch: Path | None = None
        self.user = ""                   # who the current child runs as ("uid:gid")
        self.output: int | None = None   # our descriptor of the child's stdout and stderr
        self.layers: list[str] = []
        self.classes: dict[tuple, type] = {}
        self.modules: dict[str, RemoteModule] = {}
        self._freectx: list[int] = []
        self.epoch = 0                   # requests sent so far (prefetched values need it still)
        # Results of calls the child made right after the last node event (``event``), and
        # of calls that missed since (``read``), by (node ref, call key): valid while
        # ``epoch == prefetched_at`` (nothing else was sent); ``(value,)`` once decoded.
        self.prefetched: dict[tuple, Any] = {}
        self.prefetched_at = -1
        # The last result each prefetched call gave, by node ref and call key (what the
        # child's "the same as last time" stands for, see ``event``).
        self.last_read: dict[int, dict[tuple, Any]] = {}
        self._acted = False              # the last ``call`` applied actions
        self.after: list | None = None   # the calls made since the last event (RemoteNode)
        self.poison = ""                 # why this test cannot use the sandbox any more
        self.own_session = False         # True: the child could not drop the grader's terminal
        self.staging = staging(self.source, self.settings)
        _LIVE.add(self)
        procs.become_subreaper()

    # -- life cycle --

    def module(self) -> RemoteModule:
        """Start the child and import the package; raise the import error as the student's."""
        hello = self._spawn()
        if "err" in hello:
            try:
                exc = self._decode_error(hello["err"])
            finally:
                self.stop()
            raise exc
        return self.module_proxy(self.package, (hello.get("ok") or {}).get("file"))

    def module_proxy(self, name: str, file: str | None = None) -> RemoteModule:
        mod = self.modules.get(name)
        if mod is None:
            mapped = self.staging.to_original(file) if isinstance(file, str) else None
            mod = self.modules[name] = RemoteModule(self, name, mapped)
        return mod

    def _spawn(self) -> dict:
        self.stop()
        self.gen += 1
        self.last_read = {}
        self.token = secrets.token_hex(12)
        self.user = child_user(self.settings.user) if os.geteuid() == 0 else ""
        self.scratch = _scratch(self.user)
        st = self.staging
        config = {"parent": os.getpid(), "package": self.package, "lib": str(st.lib),
                  "impl": str(st.impl), "scratch": str(self.scratch),
                  "memory_mb": self.settings.memory_mb, "cpu_s": self.settings.cpu_s,
                  "user": self.user, "landlock": self.settings.landlock,
                  "seccomp": self.settings.seccomp,
                  "bindings": list(self.settings.seccomp_bindings),
                  "allow_root": self.settings.allow_root}
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(st.lib), "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONNOUSERSITE": "1", "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0"),
               "LANG": "C.UTF-8", "HOME": str(self.scratch), "TMPDIR": str(self.scratch),
               "LABKIT_SANDBOX_TOKEN": self.token}
        if "LABKIT_JOB_TOKEN" in os.environ:        # grade_class finds a job's processes by it
            env["LABKIT_JOB_TOKEN"] = os.environ["LABKIT_JOB_TOKEN"]
        # The child's stdout and stderr: a file this process opened and keeps open, read
        # through its own descriptor (never by name: the child could put a link there).
        self._close_output()
        self.output = os.open(self.scratch / "output.txt",
                              os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        # A process group of its own, in the grader's session: a session of its own would
        # also put it in a scheduler group of its own (Linux autogroup), and every round trip
        # then waits for the scheduler to switch groups (about 3x slower on a loaded machine).
        # The child gives up the grader's terminal first thing (``confine.drop_terminal``);
        # where it cannot, it says so and gets a session of its own (``own_session``).
        config["own_session"] = self.own_session
        session = {"start_new_session": True} if self.own_session else {"process_group": 0}
        argv = [sys.executable, "-s", "-m", "labkit.sandbox.child"]
        if namespaces.wanted():     # PID, network, mount, IPC, UTS namespaces of its own
            config["ns"] = namespaces.ids()
            argv = namespaces.command(argv, self.settings.cpu_s)
            session["preexec_fn"] = namespaces.prepare
        self.proc = subprocess.Popen(
            [*argv, json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.output,
            cwd=self.scratch, env=env, close_fds=True, **session)
        self.codec = ParentCodec(self, self.gen)
        self.channel = Channel(self.proc.stdout.fileno(), self.proc.stdin.fileno(),
                               serve=self.serve, timeout=self.settings.import_timeout,
                               outgoing=self._outgoing, alive=self._alive)
        try:
            hello = self.channel.recv()
        except ProtocolError as exc:
            raise self._died(exc, f"importing {self.package}") from None
        if hello.get("session") == 1 and not self.own_session:
            self.stop()                  # it kept the grader's terminal: a session of its own
            self.own_session = True
            return self._spawn()
        self.channel.timeout = self.settings.call_timeout
        self.layers = [str(x)[:200] for x in hello.get("layers", [])][:20]
        if "refused" in hello:
            self.stop()
            raise GraderBug(refusal(str(hello["refused"])[:200]))
        if "missing" in hello:
            self.stop()
            raise GraderBug(missing_layer([str(x)[:600] for x in hello["missing"]][:4]))
        return hello

    def _own_uid(self) -> int | None:
        """The uid of the child when it is its own ("auto"): every process of that uid is part
        of it, whatever its session, parent or environment."""
        if self.settings.user != "auto" or not self.user or "user " not in " ".join(self.layers):
            return None
        return int(self.user.split(":")[0])

    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _ensure(self) -> None:
        if self.channel is None and self.poison:
            raise SandboxCrash(f"{self.poison} (earlier in this test; its sandbox is not "
                               f"restarted before the next test)")
        if self.channel is None:
            hello = self._spawn()
            if "err" in hello:
                exc = self._decode_error(hello["err"])
                self.stop()
                raise SandboxCrash(f"{self.package} could not be imported again in a new "
                                   f"sandboxed process: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """Kill the child and everything it started (not a failure: the end of its use)."""
        proc, self.proc = self.proc, None
        self.channel = None
        self.codec = None
        if proc is not None:
            for pipe in (proc.stdin, proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            procs.kill_tree(proc.pid, proc.pid, f"LABKIT_SANDBOX_TOKEN={self.token}",
                            uid=self._own_uid())
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._close_output()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def _close_output(self) -> None:
        if self.output is not None:
            try:
                os.close(self.output)
            except OSError:
                pass
            self.output = None

    def _died(self, exc: BaseException, doing: str = "running your code") -> SandboxCrash:
        """The child failed us: record why, kill it, and say it in one sentence."""
        proc = self.proc
        code = None
        if proc is not None and not isinstance(exc, ChannelTimeout):
            try:
                code = proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                code = None
        output = self._last_output()
        limits = self.settings
        if isinstance(exc, ChannelTimeout):
            why = (f"did not answer within {limits.call_timeout:g} s while {doing}: is there "
                   f"an infinite loop? (the test did not finish in time)")
            if "import" in doing:
                why = (f"did not finish importing {self.package} within "
                       f"{limits.import_timeout:g} s: is there an infinite loop at module level?")
        elif code is None:
            why = f"broke the sandbox protocol while {doing} ({exc})"
        elif code < 0:
            sig = -code
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            hint = {signal.SIGXCPU: f": it used up its CPU time limit of {limits.cpu_s} s",
                    signal.SIGKILL: f": perhaps it went over the memory limit of "
                                    f"{limits.memory_mb} MB"}.get(sig, "")
            why = f"was killed by {name} while {doing}{hint}"
        else:
            why = (f"exited with code {code} while {doing}: student code must never end the "
                   f"process (sys.exit, os._exit, exit(), quit())")
        message = f"the sandboxed process running {self.package} {why}"
        if output:
            message += f". Its last output: {output}"
        DEATHS.append(message)
        if TEST_SCOPED:
            self.poison = message
        self.stop()
        return SandboxCrash(message)

    def _last_output(self) -> str:
        """The last 400 characters the child printed, read through our own descriptor."""
        if self.output is None:
            return ""
        try:
            size = os.fstat(self.output).st_size
            data = os.pread(self.output, 400, max(0, size - 400))
        except OSError:
            return ""
        text = data.decode("utf-8", "replace")
        text = " | ".join(line.strip() for line in text.splitlines() if line.strip())
        return self.staging.map_text(text[-400:])

    # -- requests --

    def call(self, frame: dict, node: RemoteNode | None = None) -> Any:
        """A generic request (getattr, setattr, call, callm, iter, newnode): encode its
        values, send it, apply the actions that come back, return the value or raise."""
        self._ensure()
        codec = self.codec
        for key in ("obj", "a", "kw", "v", "cls"):
            if key in frame:
                frame[key] = codec.encode(frame[key])
        reply = self._request(frame)
        if node is not None and "ok" in reply:
            self._decoded(codec.bind, node, reply["ok"])
        self._acted = bool(reply.get("act"))
        self._apply(reply.get("act"))
        if "err" in reply:
            raise self._decoded(self._decode_error, reply["err"])
        if node is not None:
            return None
        if reply.get("plain") == 1:
            return reply.get("ok")           # plain JSON data: nothing in it to interpret
        return self._decoded(codec.decode, reply.get("ok"))

    def event(self, frame: dict, gen: int, watch: list | None = None) -> None:
        """A node event: the hot path (the frame is plain JSON already). The results of the
        calls it asked the child to make after it (``watch``: ``(cache key, [name, args, node
        ref])``, sent as ``frame["watch"]``, see ``RemoteNode._lk_callm``) go to
        ``prefetched`` by key, still encoded, before the actions are applied (a grader's apply
        listener may read them), valid while nothing else is sent to the child."""
        if gen != self.gen or self.channel is None:
            raise stale("node")
        self.prefetched_at = -1
        reply = self._request(frame)
        results = reply.get("w")
        if results and type(results) is list and watch:
            prefetched: dict = {}
            last = self.last_read
            for (key, _), value in zip(watch, results):
                if type(value) is not list or len(value) not in (1, 2):
                    continue
                if len(value) == 2 and value[1] == 3:        # plain JSON, as text: decoded
                    if type(value[0]) is not str:
                        raise self._died(ProtocolError("a prefetched result that is no text"))
                    decoded = self._decoded(loads_exact, value[0])
                    last.setdefault(key[0], {})[key[1]] = prefetched[key] = (decoded,)
                elif len(value) == 2 and value[1] in (2, 4):
                    known = last.get(key[0], {}).get(key[1])
                    if known is None:
                        continue                 # (not held here: the call goes to the child)
                    if value[1] == 4:                        # what changed since then
                        known = (self._decoded(delta.patch, known[0], value[0]),)
                        last[key[0]][key[1]] = known
                    prefetched[key] = known                  # (2: the same as last time)
                else:
                    prefetched[key] = value
            self.prefetched, self.prefetched_at = prefetched, self.epoch
        act = reply.get("act")
        if act:
            self._apply(act)
        if "err" in reply:
            self.prefetched_at = -1
            raise self._decoded(self._decode_error, reply["err"])

    def read(self, key: tuple, frame: dict) -> Any:
        """An accessor call that was not prefetched (``RemoteNode._lk_callm``): made in the
        child, and its result kept with the prefetched ones, for as long as they hold (nothing
        else is sent to the child), unless the call took actions (it was no accessor)."""
        before, held = self.epoch, self.prefetched_at == self.epoch
        value = self.call(frame)
        if self.epoch == before + 1 and not self._acted:
            if not held:
                self.prefetched = {}
            self.prefetched[key] = (value,)
            self.prefetched_at = self.epoch
        return value

    def cached_value(self, value: list) -> Any:
        """A prefetched result (``[encoded value]``, or ``[value, 1]`` when it is plain JSON
        data), decoded now that it is used."""
        if len(value) == 2 and value[1] == 1:
            return value[0]
        return self._decoded(self.codec.decode, value[0])

    def _decoded(self, fn, *args: Any) -> Any:
        """Decode what the child sent; anything malformed is a protocol breach (a crash)."""
        try:
            return fn(*args)
        except (ProtocolError, RecursionError, KeyError, IndexError, TypeError, ValueError,
                AttributeError) as exc:
            if not isinstance(exc, ProtocolError):
                exc = ProtocolError(f"a malformed reply ({type(exc).__name__}: {exc})")
            raise self._died(exc) from None

    def _request(self, frame: dict) -> dict:
        channel = self.channel
        self.epoch += 1
        try:
            return channel.request(frame)
        except ProtocolError as exc:
            raise self._died(exc) from None
        except BaseException:
            # Interrupted (a pytest timeout, Ctrl-C) in the middle of a request: the child's
            # state is unknown, so it goes.
            message = (f"the sandboxed process running {self.package} was stopped in the "
                       f"middle of a call (the test was interrupted: did not finish in time)")
            DEATHS.append(message)
            if TEST_SCOPED:
                self.poison = message
            self.stop()
            raise

    def _apply(self, actions: Any) -> None:
        """Apply the actions of hosted nodes to the real runtime, in order. The shape of each
        is checked just before it is applied (``RemoteNode._lk_apply``: a malformed one is a
        protocol breach); what it does is checked by the runtime, and what that raises (a
        contract error, a checker's verdict) propagates."""
        if not actions:
            return
        if type(actions) is not list:
            raise self._died(ProtocolError("actions that are not a list"))
        proxies = self.codec.proxies
        for action in actions:
            if type(action) is not list or len(action) < 3 or type(action[0]) is not int:
                raise self._died(ProtocolError(f"a malformed action {str(action)[:80]}"))
            node = proxies.get(action[0])
            if isinstance(node, RemoteNode):
                try:
                    node._lk_apply(action)
                except ProtocolError as exc:
                    raise self._died(exc) from None

    def _decode_error(self, data: Any) -> BaseException:
        exc = self.codec.decode(data)
        if not isinstance(exc, BaseException):
            raise ProtocolError("an error that is not an exception")
        return exc

    def _outgoing(self) -> dict:
        out = {}
        if self.codec is not None and self.codec.released:
            out["rel"] = self.codec.take_released()
            for ref in out["rel"]:
                self.last_read.pop(ref, None)
        if self._freectx:
            out["freectx"], self._freectx = self._freectx, []
        return out

    def track_context(self, ctx: Any) -> None:
        weakref.finalize(ctx, self._freectx.append, ctx.id)

    # -- callbacks: the child calls the grader's objects --

    def serve(self, frame: dict) -> dict:
        codec = self.codec
        if "rel" in frame:
            codec.drop(frame["rel"] if isinstance(frame["rel"], list) else [])
        op = frame.get("op")
        obj = codec.lookup(frame.get("ref"))
        try:
            if op in ("callm", "getattr"):
                name = frame.get("name")
                if not isinstance(name, str) or name.startswith("_"):
                    raise AttributeError(f"the grader's objects share no attribute {name!r}")
                value = getattr(obj, name)
                if op == "getattr":
                    if getattr(value, "__self__", None) is obj and callable(value):
                        return {"ok": {TAG: "method"}}
                    return {"ok": codec.encode(value)}
                obj = value
            elif op != "call":
                raise ProtocolError(f"an unknown callback {op!r}")
            args, kwargs = codec.decode(frame.get("a", [])), codec.decode(frame.get("kw", {}))
            if type(args) is not list or type(kwargs) is not dict:
                raise ProtocolError("malformed callback arguments")
            result = obj(*args, **kwargs)
            reply = {"ok": codec.encode(result)}
            if type(result) in (list, dict, set):       # may come back: ``result is value``
                reply["own"] = codec.lend_result(result)
            return reply
        except BaseException as exc:  # noqa: BLE001 - sorted below
            if _aborts(exc):
                raise
            return {"err": codec.encode(exc)}

    # -- mirrors of the child's classes and exceptions --

    def mirror_class(self, info: dict, gen: int) -> type:
        mod, qual = str(info.get("mod")), str(info.get("qual"))
        key = ("path", mod, qual) if info.get("path") is True else ("ref", gen, info.get("ref"))
        known = self.classes.get(key)
        if known is not None:
            return known
        name = str(info.get("name", "object"))
        name = name if name.isidentifier() else "StudentClass"
        ns: dict[str, Any] = {"__module__": mod, "__qualname__": qual, "_lk_sandbox": self,
                              "_lk_gen": gen,
                              "_lk_info": {"ref": info.get("ref"), "mod": mod, "qual": qual,
                                           "name": name, "path": info.get("path") is True}}
        kind = info.get("kind")
        if kind == "exc":
            bases = []
            for b in info.get("bases", []) if isinstance(info.get("bases"), list) else []:
                base = self.codec.decode(b)
                if isinstance(base, type) and issubclass(base, BaseException):
                    bases.append(base if issubclass(base, Exception) else self.exit_mirror(base))
            ns["__str__"] = _mirror_str
            try:
                cls = type(name, tuple(bases) or (Exception,), ns)
            except TypeError:
                cls = type(name, (bases[0] if bases else Exception,), ns)
        else:
            for m in _names(info.get("methods")):
                if not m.startswith("_"):
                    ns[m] = _method(m)
            if kind == "node":
                cls = RemoteNodeMeta(name, (RemoteNode,), ns)
            else:
                for d in _names(info.get("dunders")):
                    if d in SPECIAL_NAMES:
                        ns[d] = _method(d)
                cls = RemoteMeta(name, (RemoteObject,), ns)
        self.classes[key] = cls
        return cls

    def exit_mirror(self, cls: type) -> type:
        """SystemExit, KeyboardInterrupt & co. raised by student code come back as what they
        are (a subclass of the same built-in class, marked ``_lk_student``), so the graders,
        Hypothesis and the plugin treat them exactly as in-process: an ``except Exception``
        in a grader does not catch them, Hypothesis stops at once instead of shrinking, and
        the plugin turns them into a failure of that test with the student's file and line
        (``plugin._contain``). They never stop the grader: ``_aborts`` lets a marked one go
        back to the child, and a real Ctrl-C is told apart by the plugin."""
        key = ("exit", cls.__name__)
        known = self.classes.get(key)
        if known is None:
            base = cls if cls.__module__ == "builtins" else BaseException
            try:
                known = type(cls.__name__, (base,), {"__module__": "builtins",
                                                     "__str__": _mirror_str,
                                                     "_lk_student": True})
            except TypeError:  # a built-in class that cannot be subclassed
                known = type(cls.__name__, (BaseException,),
                             {"__module__": "builtins", "__str__": _mirror_str,
                              "_lk_student": True})
            self.classes[key] = known
        return known

    def rebuild_exception(self, v: dict, codec: ParentCodec, depth: int = 0) -> BaseException:
        cls = codec.decode(v.get("cls"))
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise ProtocolError("an exception whose class is not an exception class")
        if not issubclass(cls, Exception):
            cls = self.exit_mirror(cls)
        args = codec.decode(v.get("args"))
        args = [_bounded(a) for a in args[:20]] if isinstance(args, list) else []
        try:
            exc = cls.__new__(cls, *args)
        except Exception:  # noqa: BLE001 - a class whose __new__ wants other arguments
            exc = cls.__new__(cls)
        try:
            exc.args = tuple(args)
        except (TypeError, AttributeError):
            pass
        text = v.get("str")
        exc._lk_str = self.staging.map_text(_bounded(text)) if isinstance(text, str) else ""
        attrs = codec.decode(v.get("attrs", {}))
        for k, x in (attrs.items() if isinstance(attrs, dict) else ()):
            if isinstance(k, str) and k.isidentifier() and not k.startswith("_"):
                try:
                    setattr(exc, k, x)
                except (AttributeError, TypeError):
                    pass
        exc._lk_cref = v.get("ref")
        exc._lk_gen = codec.gen
        syntax = v.get("syntax")
        if isinstance(exc, SyntaxError) and isinstance(syntax, list) and len(syntax) == 5:
            filename, lineno, offset, line, msg = syntax
            exc.filename = self.staging.to_original(filename) if isinstance(filename, str) else None
            exc.lineno = lineno if isinstance(lineno, int) else None
            exc.offset = offset if isinstance(offset, int) else None
            exc.text = line if isinstance(line, str) else None
            exc.msg = msg if isinstance(msg, str) else "invalid syntax"
        cause = v.get("cause")
        if isinstance(cause, dict) and cause.get(TAG) == "x" and depth < 5:
            exc.__cause__ = self.rebuild_exception(cause, codec, depth + 1)
        return attach_traceback(exc, student_frames(v.get("tb"), self.staging))


def _bounded(value: Any) -> Any:
    """A text argument of an exception from the child, cut to ``MAX_TEXT`` characters."""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return f"{value[:MAX_TEXT]}... ({len(value) - MAX_TEXT:,} more characters cut)"
    return value


def _mirror_str(self: BaseException) -> str:
    text = getattr(self, "_lk_str", None)
    return text if isinstance(text, str) else Exception.__str__(self)


def _names(value: Any) -> list[str]:
    return [n for n in value if isinstance(n, str) and n.isidentifier()] \
        if isinstance(value, list) else []


def _aborts(exc: BaseException) -> bool:
    """Exceptions that must stop the run rather than travel to student code (not the student's
    own KeyboardInterrupt & co. coming back through a grader callback: ``exit_mirror``)."""
    if getattr(type(exc), "_lk_student", False) and getattr(exc, "_lk_cref", None) is not None:
        return False
    if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, ProtocolError)):
        return True
    mod = type(exc).__module__ or ""
    return not isinstance(exc, Exception) and mod.startswith(("_pytest", "pytest", "hypothesis"))


def new_test() -> None:
    """A new test starts: sandboxes poisoned by a crash in the previous one may restart."""
    for sb in list(_LIVE):
        sb.poison = ""


def shutdown_all() -> None:
    """Stop every sandboxed child of this process and remove the staging folders."""
    for sb in list(_LIVE):
        sb.stop()
    for st in list(_STAGING.values()):
        shutil.rmtree(st.root, ignore_errors=True)
    _STAGING.clear()


atexit.register(shutdown_all)

__all__ = ["Sandbox", "Settings", "DEATHS", "shutdown_all", "SandboxCrash", "ChannelClosed"]
