"""What a submission is: a folder or a zip laid out like ``starter/``, or a whole clone of the
student repository (then its ``starter/`` is graded), possibly inside one top-level folder.

Zips are unpacked defensively: no absolute paths, no ``..``, no symbolic links, at most
``MAX_FILES`` files and ``MAX_BYTES`` bytes (a zip bomb is an invalid submission, not a full
disk).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from labkit.grading.labs import LABS

MAX_FILES = 5000
MAX_BYTES = 100 * 1024 * 1024
IGNORED = {"__MACOSX", ".git", "__pycache__", ".DS_Store"}


class InvalidSubmission(Exception):
    """The submission cannot be graded at all; the message says why."""


@dataclass
class Submission:
    name: str          # the folder or zip name: the gradebook's first column
    path: Path         # the folder or zip as handed in


def list_submissions(folder: Path) -> tuple[list[Submission], list[str]]:
    """Every folder and zip directly in ``folder`` (sorted), and the names of other entries
    (ignored: a gradebook row is only made for something that could be a submission)."""
    subs, ignored = [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            subs.append(Submission(entry.name, entry))
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            subs.append(Submission(entry.name, entry))
        else:
            ignored.append(entry.name)
    return subs, ignored


def lab_packages(folder: Path) -> list[str]:
    return [lab.package for lab in LABS
            if (folder / lab.package).is_dir() and not (folder / lab.package).is_symlink()]


def find_impl(folder: Path, depth: int = 0) -> Path:
    """The folder to grade inside a submission (see the module docstring)."""
    if lab_packages(folder):
        return folder
    if (folder / "starter").is_dir() and lab_packages(folder / "starter"):
        return folder / "starter"
    subdirs = [d for d in folder.iterdir() if d.is_dir() and not d.is_symlink()
               and d.name not in IGNORED and not d.name.startswith(".")]
    if len(subdirs) == 1 and depth < 3:
        return find_impl(subdirs[0], depth + 1)
    names = ", ".join(f"{lab.package}/" for lab in LABS)
    raise InvalidSubmission(f"no lab package found: expected folders such as {names} (laid "
                            f"out like starter/), or a clone of the student repository")


def unpack(zip_path: Path, dest: Path) -> Path:
    """Extract ``zip_path`` into ``dest`` (emptied first), refusing anything dangerous."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    try:
        with zipfile.ZipFile(zip_path) as z:
            infos = z.infolist()
            if len(infos) > MAX_FILES:
                raise InvalidSubmission(f"the zip holds {len(infos)} entries, more than "
                                        f"{MAX_FILES}")
            total = 0
            for info in infos:
                parts = PurePosixPath(info.filename.replace("\\", "/")).parts
                if not parts or info.filename.startswith("/") or ".." in parts or \
                        ":" in parts[0] or parts[0] in IGNORED:
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    continue                                 # never a symbolic link
                total += info.file_size
                if total > MAX_BYTES:
                    raise InvalidSubmission(f"the zip unpacks to more than "
                                            f"{MAX_BYTES // (1024 * 1024)} MB")
                target = dest.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as out:
                    copied = 0
                    while chunk := src.read(1 << 20):
                        copied += len(chunk)
                        if copied > info.file_size or copied > MAX_BYTES:
                            raise InvalidSubmission("the zip lies about its sizes")
                        out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            RuntimeError) as exc:
        raise InvalidSubmission(f"not a readable zip file ({exc})") from None
    return dest


def prepare(sub: Submission, work: Path) -> Path:
    """The folder to grade for ``sub`` (a zip is unpacked under ``work``)."""
    if sub.path.is_dir():
        return find_impl(sub.path)
    return find_impl(unpack(sub.path, work / sub.name))


def fingerprint(path: Path) -> str:
    """A digest of the submission's files (names and contents): ``--resume`` regrades a
    submission whose files changed."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
        return h.hexdigest()[:16]
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED)
        for name in sorted(files):
            p = Path(root) / name
            if p.is_symlink() or not p.is_file():
                continue
            h.update(str(p.relative_to(path)).encode() + b"\0")
            h.update(p.read_bytes())
    return h.hexdigest()[:16]
