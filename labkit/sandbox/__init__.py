"""Tamper-proof grading: student code runs in a confined child process, never in the grader.

With ``--sandbox`` (``pytest graders --sandbox``, what ``nox -s grade_class`` and the
Gradescope bundle use), the grading process never imports student code. ``load_lab`` returns a
proxy of the lab package (``remote.RemoteModule``); the simulator, the checkers, the score and
every report stay in the trusted process, and student objects live in a child
(``child.py``) that only receives events and returns actions:

    grader (trusted)                         child (untrusted, confined)
    Simulation -> RemoteNode.on_message  ->  KVNode.on_message(src, msg)
               <- actions: send, reply,  <-  self.send(...), self.reply(...),
                  timers, log, storage        self.storage[...] = ...

Fail closed: a child that exits, is killed by a limit, goes silent or garbles the protocol
fails the test it was running (``SandboxCrash``), whatever the grader did with the exception; a
missing report is a zero with the reason (``instructor``). The child runs in its own process
group (without the grader's terminal: ``confine.drop_terminal``) with limits on memory, CPU,
files and processes, as a uid of its own when the grader is root (``confine.expose`` makes a
Python under ``/root`` readable to it; if it still cannot drop root it refuses, unless
``LABKIT_SANDBOX_ALLOW_ROOT=1``), as process 1 of PID, network, mount, IPC and UTS namespaces
of its own when the grader is root (``namespaces``), with a scratch folder bounded in size
and number of files (``confine.scratch_space``, root only), behind a seccomp filter
(``confine.seccomp_filter``), and behind Landlock when the kernel has it (``confine``): it
can read Python and its staging copy of the submission, write only its scratch folder, start no
process and signal nobody. A layer the machine should give and did not (libseccomp missing, a
kernel that refuses a filter) is a refusal to grade that says why, never a quietly weaker
sandbox; an instructor who turns a layer off sees it said in every gradebook row.

Files: ``protocol`` (frames and values), ``child`` (the host), ``confine`` (the child's limits),
``process`` (one child per lab package: start, restart, kill), ``namespaces`` (the keeper
that starts it in namespaces of its own), ``remote`` (the proxies), ``delta`` (accessor
results sent as what changed), ``tracebacks`` (student file and line in the grader's
tracebacks), ``procs`` (killing every process a child left), ``pytest_hook`` (the
``--sandbox`` switch), ``bench`` (the cost).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from .process import DEATHS, Sandbox, Settings, shutdown_all
from .remote import RemoteModule, RemoteNode, RemoteObject, SandboxCrash


def load_remote(impl_dir: Path, package: str, settings: Settings | None = None) -> ModuleType:
    """The lab package ``package`` of ``impl_dir``, imported in a sandboxed child.

    Raises the import error of the student's code (a SyntaxError, or the exception with the
    student's file and line), or ``SandboxCrash`` if importing ended the child."""
    return Sandbox(Path(impl_dir), package, settings).module()


def probe_layers() -> list[str]:
    """The confinement layers a sandboxed child gets on this machine (memory, cpu, ...,
    ``user nobody``, ``landlock ...``), found by starting one on an empty package."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="labkit-probe-") as tmp:
        (Path(tmp) / "probe_pkg").mkdir()
        (Path(tmp) / "probe_pkg" / "__init__.py").write_text("")
        sandbox = Sandbox(Path(tmp), "probe_pkg")
        try:
            sandbox.module()
            return list(sandbox.layers)
        finally:
            sandbox.stop()


def root_warning(layers: list[str]) -> str:
    """The warning every gradebook row carries when the child stays root (allowed only with
    ``LABKIT_SANDBOX_ALLOW_ROOT=1``), or ""."""
    import os

    if os.geteuid() != 0 or any(layer.startswith("user ") for layer in layers):
        return ""
    return ("warning: graded with the sandboxed child running as root (--allow-root): it could "
            "reach other jobs' processes and outlive grading")


def row_warning(layers: list[str]) -> str:
    """What every gradebook row says of the sandbox it was graded in: the child stayed root
    (``root_warning``), or a layer was turned off on Linux by the instructor
    (``LABKIT_SANDBOX_SECCOMP=0``, ``LABKIT_SANDBOX_LANDLOCK=0``); or ""."""
    import sys

    settings = Settings()
    off = [(name, var) for name, var, on in
           (("seccomp filter", "LABKIT_SANDBOX_SECCOMP=0", settings.seccomp),
            ("Landlock", "LABKIT_SANDBOX_LANDLOCK=0", settings.landlock)) if not on]
    said = [root_warning(layers)]
    if off and sys.platform.startswith("linux"):
        said.append(f"warning: graded with the sandbox's {' and '.join(n for n, _ in off)} "
                    f"turned off ({', '.join(v for _, v in off)})")
    return "; ".join(x for x in said if x)


def weak_spots(layers: list[str]) -> str:
    """A warning when the child could write the grading user's files (no Landlock, and the
    same user as the grader), or "" when it cannot."""
    if root_warning(layers):
        return root_warning(layers)
    if any(layer.startswith(("landlock", "user ")) for layer in layers):
        return ""
    return ("warning: this machine gives the sandboxed child neither Landlock nor a separate "
            "user, so student code runs as you and could modify files you can write (the "
            "graders included). Grade as root (the child then runs as nobody), on a kernel "
            "with Landlock (Linux 5.13+), or in a container such as Gradescope's.")


__all__ = ["load_remote", "probe_layers", "root_warning", "row_warning", "weak_spots", "Sandbox",
           "Settings", "DEATHS", "shutdown_all", "RemoteModule", "RemoteNode", "RemoteObject",
           "SandboxCrash"]
