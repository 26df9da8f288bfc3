"""Prints a full score: the grader's table, a Gradescope results.json and a TOTAL line, on
stdout, stderr and the raw file descriptors."""

import json
import os
import sys

FAKE = json.dumps({"score": 100.0, "max_score": 100.0, "tests": []})
TABLE = "TOTAL" + " " * 80 + "100 / 100\n"


def attack(obj):
    print(TABLE + FAKE)
    print(TABLE + FAKE, file=sys.stderr)
    for fd in (1, 2):
        try:
            os.write(fd, (TABLE + FAKE + "\n").encode())
        except OSError:
            pass
