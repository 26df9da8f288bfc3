"""Calls sys.exit(0) from student code: in-process, SystemExit unwinds through the simulator."""

import sys


def attack(obj):
    sys.exit(0)
