"""Tries to reach processes outside its own sandbox: reads the resource limits of the grader
that started it and of process 1 (``prlimit``, allowed only to the same user or root: the same
check that would let it lower another student's limits), and sends them signal 0 (``kill``'s
permission check). It only looks, never changes anything; but if any of it is allowed, it
says so in the exception it raises, which ends up in its report."""

import os
import resource

REACHED = []


def attack(obj):
    if REACHED:
        raise RuntimeError(f"REACHED other processes: {', '.join(REACHED)}")
    targets = {os.getppid(), 1} - {0, os.getpid()}
    for pid in sorted(targets):
        try:
            resource.prlimit(pid, resource.RLIMIT_NOFILE)
            REACHED.append(f"prlimit({pid})")
        except (OSError, ValueError):
            pass
        try:
            os.kill(pid, 0)
            REACHED.append(f"kill({pid}, 0)")
        except OSError:
            pass
    if REACHED:
        raise RuntimeError(f"REACHED other processes: {', '.join(REACHED)}")
