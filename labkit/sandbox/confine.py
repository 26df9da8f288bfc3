"""What the sandboxed child does to itself before it imports student code (Linux).

Each layer is applied if the system offers it and reported back to the grader, which shows the
list in ``--sandbox`` runs. A layer the system does not offer (Landlock on a kernel older than
5.13, seccomp off Linux) is left out of the list. A layer the system should give and did not
(``Unconfined``: libseccomp or its binding missing or unreadable, a kernel that refuses the
filter, a Landlock step that failed) stops the child before any student code runs, and the
grader refuses to grade (``process.missing_layer``): a sandbox weaker than it says it is is
not let through silently.

* ``rlimits``: address space (memory), CPU seconds, file size, open files, no core dumps, and
  no new processes (``RLIMIT_NPROC`` 0: ``fork`` fails; not enforced for root, hence ``user``).
* ``pdeathsig``: the kernel kills the child when the grader dies.
* ``user``: when the grader runs as root (Gradescope does), the child becomes ``nobody``: it
  cannot signal or trace the grader, and the process limit applies.
* ``seccomp``: a filter (libseccomp) that refuses tracing, ``prlimit`` on other processes,
  network sockets, mounts, namespaces and kernel facilities student code has no use for.
* ``scratch``: the scratch folder is a tmpfs of its own (64 MB, 4096 files): a child cannot
  fill the grader's disk, whatever number of files it writes.
* ``landlock``: the kernel's unprivileged file-system sandbox: the child may read the Python
  installation, system libraries and its own staging folder (a copy of the submission and of
  labkit), write only its scratch folder, execute nothing, open no TCP connection, and signal no
  process outside itself. The grader's repository (``reference/``, ``reports/``) is invisible.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import sysconfig


class Unconfined(Exception):
    """A layer this system should give the child was not applied; the message says why."""


# ----- resource limits ---------------------------------------------------------------------------


def set_rlimits(memory_mb: int, cpu_s: int, file_mb: int = 64) -> list[str]:
    done = []
    limits = [
        (resource.RLIMIT_AS, memory_mb * 1024 * 1024, f"memory {memory_mb} MB"),
        (resource.RLIMIT_CPU, cpu_s, f"cpu {cpu_s} s"),
        (resource.RLIMIT_FSIZE, file_mb * 1024 * 1024, f"file size {file_mb} MB"),
        (resource.RLIMIT_NOFILE, 64, "64 open files"),
        (resource.RLIMIT_CORE, 0, "no core dumps"),
    ]
    for which, value, text in limits:
        try:
            soft, hard = resource.getrlimit(which)
            new_hard = value if hard == resource.RLIM_INFINITY or hard > value else hard
            if which == resource.RLIMIT_CPU and new_hard == value:
                new_hard = value + 5            # SIGXCPU at the soft limit, SIGKILL later
            resource.setrlimit(which, (min(value, new_hard), new_hard))
            done.append(text)
        except (ValueError, OSError):
            pass
    return done


def forbid_processes() -> bool:
    """No fork, no threads: RLIMIT_NPROC 0 (ignored by the kernel for root)."""
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    except (ValueError, OSError):
        return False
    return os.geteuid() != 0


def drop_terminal() -> bool:
    """Give up the controlling terminal inherited from the grader (the child shares the
    grader's session, in a process group of its own): ``ioctl(TIOCNOTTY)`` on ``/dev/tty``,
    which for a process that does not lead its session detaches that process only. True when
    ``/dev/tty`` no longer opens (no terminal to type into with ``TIOCSTI``, none to read)."""
    def reachable() -> bool:
        try:
            os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC))
        except OSError:
            return False
        return True

    if not reachable():
        return True
    try:
        import fcntl
        import termios

        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, termios.TIOCNOTTY)
        finally:
            os.close(fd)
    except (OSError, ImportError, AttributeError):
        return False
    return not reachable()


def die_with_parent(parent: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:     # PR_SET_PDEATHSIG
            return False
    except (OSError, AttributeError):
        return False
    # The grader died before that (0: process 1 of a PID namespace of its own, whose parent,
    # the keeper of labkit.sandbox.namespaces, checked the grader and dies with it).
    if os.getppid() not in (parent, 0):
        os._exit(70)
    return True


def become(user: str, needs: list[str]) -> bool:
    """Switch to ``user`` (a name or "uid:gid") if we are root and that user can read every
    path of ``needs`` (Python itself, the staging copy), if need be after ``expose``; True if
    it happened."""
    if os.geteuid() != 0 or not user:
        return False
    try:
        uid, gid = user_ids(user)
        if not all(readable_by(path, uid, gid) for path in needs):
            expose(needs, uid, gid)
        if not all(readable_by(path, uid, gid) for path in needs):
            return False
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    except (KeyError, ValueError, OSError):
        return False
    return os.geteuid() == uid


_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8


def _own_mounts(libc: ctypes.CDLL) -> bool:
    """A mount namespace of this process's own, in which nothing mounted reaches the host."""
    return (libc.unshare(_CLONE_NEWNS) == 0
            and libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0)


def expose(paths: list[str], uid: int, gid: int) -> bool:
    """Make ``paths`` readable by ``uid`` in this process only (root, Linux): in a mount
    namespace of its own, the first folder above a path that ``uid`` cannot enter (Python
    installed under ``/root``, mode 700) is covered by an empty tmpfs, and the path alone is
    bind-mounted back at its place inside it. The rest of that folder is hidden; nothing
    changes for any other process. True if every path is readable afterwards."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    wanted = sorted({os.path.realpath(p) for p in paths if not readable_by(p, uid, gid)})
    wanted = [p for p in wanted if not any(p.startswith(q + os.sep) for q in wanted)]
    if not wanted:
        return True
    blockers = {}
    for path in wanted:
        blocker = _first_closed_folder(path, uid, gid)
        if blocker is None:
            return False                      # the path itself is unreadable: nothing to do
        blockers[path] = blocker
    tops = sorted(set(blockers.values()))
    tops = [b for b in tops if not any(b.startswith(t + os.sep) for t in tops)]
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if not _own_mounts(libc):
            return False
        fds = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in wanted}
        old_umask = os.umask(0o022)
        try:
            for top in tops:
                if libc.mount(b"tmpfs", top.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV,
                              b"mode=755") != 0:
                    return False
            for path, fd in fds.items():
                os.makedirs(path, exist_ok=True)
                if libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None,
                              _MS_BIND | _MS_REC, None) != 0:
                    return False
        finally:
            os.umask(old_umask)
            for fd in fds.values():
                os.close(fd)
    except (OSError, AttributeError):
        return False
    return all(readable_by(p, uid, gid) for p in paths)


SCRATCH_MB, SCRATCH_FILES = 64, 4096


def scratch_space(path: str, uid: int, gid: int, size_mb: int = SCRATCH_MB,
                  files: int = SCRATCH_FILES) -> str:
    """Bound what the child can write in all (root, Linux): in a mount namespace of its own, an
    empty tmpfs of ``size_mb`` MB and ``files`` files and folders, owned by ``uid:gid``, is
    mounted over the scratch folder ``path`` (no set-uid, no devices, nothing executable). A
    full one answers ENOSPC to the student's code; it is gone with the child's last process,
    and the grader's disk never sees it. The layer's text, or "" where the system refuses
    (then each file is still bounded by ``RLIMIT_FSIZE``, their number and total are not).
    The caller must ``chdir`` to ``path`` afterwards (its working folder is the one below)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return ""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if not _own_mounts(libc):
            return ""
        options = f"size={size_mb}m,nr_inodes={files},mode=0700,uid={uid},gid={gid}"
        if libc.mount(b"tmpfs", path.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
                      options.encode()) != 0:
            return ""
    except (OSError, AttributeError):
        return ""
    return f"scratch {size_mb} MB, {files} files"


def _first_closed_folder(path: str, uid: int, gid: int) -> str | None:
    """The outermost folder above ``path`` that ``uid`` cannot enter, or None."""
    parts = path.split(os.sep)
    for i in range(2, len(parts)):
        folder = os.sep.join(parts[:i])
        try:
            st = os.stat(folder)
        except OSError:
            return None
        if not _allowed(st, uid, gid, 1):
            return folder
    return None


def _allowed(st: os.stat_result, uid: int, gid: int, bits: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & (bits << 6))
    if st.st_gid == gid:
        return bool(st.st_mode & (bits << 3))
    return bool(st.st_mode & bits)


def readable_by(path: str, uid: int, gid: int) -> bool:
    """Could ``uid:gid`` read ``path`` (every folder above it searchable)? From the mode bits,
    since ``os.access`` answers for root."""
    import stat

    def allowed(st: os.stat_result, bits: int) -> bool:
        if st.st_uid == uid:
            return bool(st.st_mode & (bits << 6))
        if st.st_gid == gid:
            return bool(st.st_mode & (bits << 3))
        return bool(st.st_mode & bits)

    try:
        real = os.path.realpath(path)
        parts = real.split(os.sep)
        for i in range(1, len(parts)):
            folder = os.sep.join(parts[:i]) or os.sep
            if not allowed(os.stat(folder), 1):             # search (x) on every folder above
                return False
        st = os.stat(real)
        return allowed(st, 4 | (1 if stat.S_ISDIR(st.st_mode) else 0))
    except OSError:
        return False


def user_ids(user: str) -> tuple[int, int]:
    if ":" in user:
        uid, gid = user.split(":", 1)
        return int(uid), int(gid)
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


# ----- landlock ----------------------------------------------------------------------------------

_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446   # same numbers on x86-64 and arm64
_PR_SET_NO_NEW_PRIVS = 38
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14) | (1 << 15)  # + truncate, ioctl


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1                      # ABI 1: execute .. make_sym
    if abi >= 2:
        rights |= 1 << 13                       # refer
    if abi >= 3:
        rights |= 1 << 14                       # truncate
    if abi >= 5:
        rights |= 1 << 15                       # ioctl_dev
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock(read: list[str], write: list[str]) -> str:
    """Confine the file system to ``read`` (read-only) and ``write`` (read-write) trees.

    Returns a description of what was applied, or "" where the kernel has no Landlock (not
    Linux, older than 5.13, or built without it). Raises ``Unconfined`` where it has Landlock
    and a step failed."""
    if not sys.platform.startswith("linux"):
        return ""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return ""
    if abi < 1:
        return ""
    fs = _fs_rights(abi)
    attr = _RulesetAttr(handled_access_fs=fs,
                        handled_access_net=3 if abi >= 4 else 0,   # bind + connect TCP
                        scoped=3 if abi >= 6 else 0)               # abstract sockets + signals
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise Unconfined(f"landlock v{abi}: creating the ruleset failed "
                         f"({os.strerror(ctypes.get_errno())})")
    read_rights = _READ_FILE | _READ_DIR
    write_rights = fs & ~_EXECUTE
    try:
        for paths, rights in ((read, read_rights), (write, write_rights)):
            for path in paths:
                _allow(libc, ruleset, path, rights)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise Unconfined(f"landlock v{abi}: no_new_privs was refused "
                             f"({os.strerror(ctypes.get_errno())})")
        if libc.syscall(_SYS_RESTRICT, ruleset, ctypes.c_uint32(0)) != 0:
            raise Unconfined(f"landlock v{abi}: the kernel refused the ruleset "
                             f"({os.strerror(ctypes.get_errno())})")
    finally:
        os.close(ruleset)
    extras = (", no TCP" if abi >= 4 else "") + (", no signals out" if abi >= 6 else "")
    return f"landlock v{abi} (read-only python and staging, write scratch only{extras})"


def _allow(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(allowed_access=rights, parent_fd=fd)
        libc.syscall(_SYS_ADD_RULE, ruleset, 1, ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)


def python_trees() -> list[str]:
    """Where the interpreter, its standard library and installed packages live."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            paths.add(sysconfig.get_paths()[name])
        except KeyError:
            pass
    return sorted(p for p in paths if p)


SYSTEM_TREES = ["/usr", "/lib", "/lib64", "/etc", "/dev/null", "/dev/urandom", "/dev/zero",
                "/proc/self"]


# ----- seccomp -----------------------------------------------------------------------------------

# System calls a student's code has no business making, refused with EPERM (a student's
# exception, not a dead child): tracing or reading other processes, changing mounts or
# namespaces (getting out of the ones labkit.sandbox.namespaces gave it), kernel facilities that
# have held sandbox escapes (bpf, io_uring, userfaultfd, perf events, keyrings, file handles),
# and the machine's own (modules, reboot, swap, the kernel log).
DENIED_CALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsmount",
    "fspick", "move_mount", "open_tree", "mount_setattr",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "open_by_handle_at",
    "name_to_handle_at", "fanotify_init",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "syslog", "acct", "quotactl",
)
_AF_UNIX = 1


_BINDING: list = []
BINDINGS = ("seccomp", "pyseccomp")   # libseccomp's own binding, or pyseccomp (the same API)


def seccomp_binding(names: tuple[str, ...] = BINDINGS):
    """libseccomp's Python binding: the first of the modules ``names`` that imports, imported
    once. Raises ``Unconfined`` (then and on every later call) where none does. The child
    imports it before it gives up root: the binding may be installed where its new user
    cannot read (a virtual environment in a private folder)."""
    if not _BINDING:
        _BINDING.append(_import_binding(names))
    binding, why = _BINDING[0]
    if binding is None:
        raise Unconfined(why)
    return binding


def _import_binding(names: tuple[str, ...]) -> tuple:
    import ctypes.util
    import importlib

    # pyseccomp looks its libraries up with find_library, which starts ldconfig (slow, and a
    # process the child may soon not start): the dynamic loader knows these names itself.
    find = ctypes.util.find_library
    sonames = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}
    ctypes.util.find_library = lambda name: sonames.get(name) or find(name)
    errors = []
    try:
        for name in names:
            try:
                return importlib.import_module(name), ""
            except Exception as exc:  # noqa: BLE001 - an ImportError, or libseccomp missing
                errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        ctypes.util.find_library = find
    return None, (f"seccomp: no libseccomp binding could be imported ({'; '.join(errors)}); "
                  f"install libseccomp (apt install libseccomp2) and pyseccomp (a dependency of "
                  f"this project: pip install pyseccomp)")


def seccomp_filter(names: tuple[str, ...] = BINDINGS) -> str:
    """Refuse ``DENIED_CALLS``, ``prlimit`` on any other process, and sockets of any family
    but UNIX (no network even where there is no network namespace), through libseccomp
    (``seccomp_binding``). Returns what was applied, or "" off Linux. Raises ``Unconfined``
    where the binding or libseccomp is missing or the kernel refuses the filter."""
    if not sys.platform.startswith("linux"):
        return ""
    seccomp = seccomp_binding(names)
    try:
        refused = seccomp.ERRNO(1)                          # EPERM
        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        for name in DENIED_CALLS:
            try:
                rules.add_rule(refused, name)
            except (OSError, ValueError, RuntimeError):     # unknown on this architecture
                pass
        rules.add_rule(refused, "prlimit64", seccomp.Arg(0, seccomp.NE, 0))
        rules.add_rule(refused, "socket", seccomp.Arg(0, seccomp.NE, _AF_UNIX))
        rules.load()
    except Exception as exc:  # noqa: BLE001 - an old kernel, a container that forbids it
        raise Unconfined(f"seccomp: libseccomp could not load the filter "
                         f"({type(exc).__name__}: {str(exc)[:120]})") from None
    return "seccomp (no tracing, mounts, namespaces, bpf, io_uring, keys, network sockets)"
