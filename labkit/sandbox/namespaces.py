"""Namespaces of its own for a sandboxed child (Linux, when the grader is root).

``command(child_argv)`` is what ``process.Sandbox`` runs instead of the child, and ``prepare``
runs in the process ``subprocess.Popen`` forks for it, just before that process executes:

1. ``prepare`` asks the kernel to die with the grader (``PR_SET_PDEATHSIG``) and for new PID,
   network, mount, IPC and UTS namespaces (``unshare(2)``). If the kernel refuses (a container
   without the right, an old kernel), nothing changes and step 2 only executes the child.
2. The keeper (``KEEPER``, a few lines of Python started with ``-I -S``) forks once. Its child
   is process 1 of the new PID namespace: it makes every mount private (nothing it mounts
   reaches the host), mounts a ``/proc`` of its own namespace, and executes the sandboxed
   child. The keeper closes every descriptor, waits, and ends as the child ended: the same
   exit code, or killed by the same signal, so the grader's messages stay true (process 1
   ignores the SIGXCPU of its CPU limit and dies of the SIGKILL after it: that death, after
   the CPU time was used up, is passed on as SIGXCPU). It dies with the grader; the child
   dies with the keeper.

What that gives the child (``layers`` says which it got): it sees no other process (``/proc``
lists its own namespace only) and can signal or trace none; it has no network at all (a
loopback that is down: no TCP, UDP or UNIX sockets to anything outside); System V IPC of its
own. When process 1 ends, the kernel kills every process of its namespace, so nothing a
student started outlives the child, whatever it did to its session, group or environment.

util-linux ``unshare --fork --pid`` does the same, but the version on Debian 12 (2.38) loses
the signal that ended the child (it exits 1), which the grader needs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
FLAGS = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
KINDS = ("pid", "net", "mnt", "ipc", "uts")   # the names under /proc/self/ns

try:
    _LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except OSError:  # pragma: no cover - a Linux without a C library to load
    _LIBC = None

KEEPER = r"""
import ctypes, os, resource, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
grader, cpu_s, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
if os.getppid() != grader:
    os._exit(70)                                  # the grader died before we could follow it
try:      # (a PID namespace that nobody has entered yet has no name to read: ENOENT)
    same = os.readlink("/proc/self/ns/pid") == os.readlink("/proc/self/ns/pid_for_children")
except FileNotFoundError:
    same = False
if same:
    os.execv(argv[0], argv)                       # no namespaces were given: be the child
pid = os.fork()
if pid == 0:                                      # process 1 of the new PID namespace
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)        # die with the keeper
    if libc.mount(b"none", b"/", None, 16384 | (1 << 18), None) == 0:   # MS_REC | MS_PRIVATE
        libc.mount(b"proc", b"/proc", b"proc", 2 | 4 | 8, None)         # nosuid, nodev, noexec
    os.execv(argv[0], argv)
os.closerange(0, 4096)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
_, status, usage = os.wait4(pid, 0)
if os.WIFSIGNALED(status):
    sig = os.WTERMSIG(status)
    # Process 1 ignores the SIGXCPU of its soft CPU limit; the hard limit's SIGKILL ends it.
    if sig == signal.SIGKILL and usage.ru_utime + usage.ru_stime >= cpu_s:
        sig = signal.SIGXCPU
    try:
        signal.signal(sig, signal.SIG_DFL)        # (SIGKILL and SIGSTOP have no handler)
    except (OSError, ValueError):
        pass
    os.kill(os.getpid(), sig)
os._exit(os.waitstatus_to_exitcode(status) & 255)
"""


def wanted() -> bool:
    """Use namespaces here: Linux, the grader is root, and ``LABKIT_SANDBOX_NAMESPACES`` is not
    ``0``."""
    return (_LIBC is not None and hasattr(os, "geteuid") and os.geteuid() == 0
            and os.environ.get("LABKIT_SANDBOX_NAMESPACES", "1") != "0")


def command(child_argv: list[str], cpu_s: float) -> list[str]:
    """The command that starts ``child_argv`` behind the keeper (run with ``prepare``);
    ``cpu_s``: the child's CPU time limit (a child killed after using it up is reported as
    killed by SIGXCPU, as it would be outside a PID namespace)."""
    return [sys.executable, "-I", "-S", "-c", KEEPER, str(os.getpid()), str(cpu_s), *child_argv]


def prepare() -> None:
    """``Popen``'s ``preexec_fn``: follow the grader in death, then ask for the namespaces
    (refused: the keeper notices and only executes the child)."""
    _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)               # PR_SET_PDEATHSIG
    _LIBC.unshare(FLAGS)


def ids() -> dict[str, int]:
    """This process's namespaces (inode numbers), for the child to compare its own with."""
    out = {}
    for kind in KINDS:
        try:
            out[kind] = os.stat(f"/proc/self/ns/{kind}").st_ino
        except OSError:
            pass
    return out


def layer(grader_ids: dict) -> str:
    """In the child: ``"namespaces pid, net, ..."`` for those that differ from the grader's,
    or ""."""
    if not isinstance(grader_ids, dict):
        return ""
    mine = ids()
    own = [kind for kind in KINDS
           if kind in mine and grader_ids.get(kind) not in (None, mine[kind])]
    return "namespaces " + ", ".join(own) if own else ""
