"""Lab 0 as the reference solves it: a buggy Lab 4 variant needs a working circuit breaker."""
from instructor.testing import reference_lab

_lab0 = reference_lab("lab0_resilience")
globals().update({name: getattr(_lab0, name) for name in _lab0.__all__})
