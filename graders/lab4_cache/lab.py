"""Lab 4 as the grading tools know it (``labkit.grading.labs`` discovers this file)."""

from labkit.grading.labs import Lab

LAB = Lab("lab4", "lab4_cache", "Distributed cache", "assignments/lab4-cache.md")
