"""Student tracebacks, rebuilt in the grader from the frames the child reported.

An exception raised by student code in the child comes back as data: its class, its message
and its frames (file, line, function). The grader re-raises it with a traceback made of real
frame objects whose code objects carry the student's file name, line and function name, so
``traceback.extract_tb`` (and therefore the simulator's ``student_error``, the loader's import
message and the plugin's ``failure_text``) see exactly what they see in-process: the student's
file and line, with the source line read from the original file.
"""

from __future__ import annotations

import types
from functools import lru_cache


class _Marker(Exception):
    pass


@lru_cache(maxsize=4096)
def _frame_tb(filename: str, lineno: int, name: str) -> types.TracebackType | None:
    """A one-frame traceback whose frame runs ``filename`` at ``lineno`` in function ``name``."""
    lineno = max(1, min(int(lineno), 1_000_000))
    try:
        code = compile("\n" * (lineno - 1) + "raise _lk_marker", filename, "exec")
        code = code.replace(co_name=name if name.isidentifier() else "<module>")
    except (SyntaxError, ValueError, TypeError):
        return None
    try:
        exec(code, {"_lk_marker": _Marker(), "__name__": "student"})
    except _Marker as raised:
        return raised.__traceback__.tb_next if raised.__traceback__ else None
    return None


def fake_traceback(frames: list[tuple[str, int, str]]) -> types.TracebackType | None:
    """A traceback chain through ``frames``, outermost first."""
    tb = None
    for filename, lineno, name in reversed(frames):
        one = _frame_tb(filename, lineno, name)
        if one is None:
            continue
        tb = types.TracebackType(tb, one.tb_frame, one.tb_lasti, one.tb_lineno)
    return tb
