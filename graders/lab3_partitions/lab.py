"""Lab 3 as the grading tools know it (``labkit.grading.labs`` discovers this file)."""

from labkit.grading.labs import Lab

LAB = Lab("lab3", "lab3_partitions", "Partitions and quorum writes",
          "assignments/lab3-partitions.md")
