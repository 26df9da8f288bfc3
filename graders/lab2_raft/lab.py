"""Lab 2 as the grading tools know it (``labkit.grading.labs`` discovers this file)."""

from labkit.grading.labs import Lab

LAB = Lab("lab2", "lab2_raft", "Raft consensus", "assignments/lab2-raft.md")
