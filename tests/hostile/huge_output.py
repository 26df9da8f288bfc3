"""Floods every channel it has: exceptions with 20 MB messages, 5 MB log lines from nodes,
and 50 MB printed on stdout, hoping to make the grader write reports of hundreds of MB."""

import sys

BIG = "A" * (20 * 1024 * 1024)
PRINTED = []


def attack(obj):
    if not PRINTED:
        PRINTED.append(True)
        try:
            for _ in range(50):
                sys.stdout.write("B" * (1024 * 1024))
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - a file size limit: carry on
            pass
    if obj is not None and hasattr(obj, "log"):
        try:
            obj.log("L" * (5 * 1024 * 1024))
        except Exception:  # noqa: BLE001
            pass
    raise ValueError(BIG)
