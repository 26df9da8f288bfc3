"""Calls os._exit(0): in-process, the grading process ends at once with status 0 and no report."""

import os


def attack(obj):
    os._exit(0)
