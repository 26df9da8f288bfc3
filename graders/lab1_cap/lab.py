"""Lab 1 as the grading tools know it (``labkit.grading.labs`` discovers this file)."""

from labkit.grading.labs import Lab

LAB = Lab("lab1", "lab1_cap", "CAP trade-offs", "assignments/lab1-cap.md")
