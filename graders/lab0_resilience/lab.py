"""Lab 0 as the grading tools know it (``labkit.grading.labs`` discovers this file)."""

from labkit.grading.labs import Lab

LAB = Lab("lab0", "lab0_resilience", "Resilience patterns", "assignments/lab0-resilience.md",
          has_nodes=False)
