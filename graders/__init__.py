"""Grader suites, one package per lab. Only this folder is collected when grading."""
