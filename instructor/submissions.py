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
    (ignored: a gradebook row is only made for something that could be a submission). A
    symbolic link gets its row too: ``prepare`` refuses it with the reason."""
    subs, ignored = [], []
    for entry in sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name)):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            subs.append(Submission(display_name(entry.name), entry))
        elif entry.is_dir():
            subs.append(Submission(display_name(entry.name), entry))
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            subs.append(Submission(display_name(entry.name), entry))
        else:
            ignored.append(display_name(entry.name))
    return subs, ignored


def display_name(name: str) -> str:
    """A submission's name as text that can be printed and written anywhere (the gradebook,
    report folders, JSON): bytes that are not UTF-8 become ``\\xNN``, control characters
    ``\\uNNNN``; path separators and a leading dot cannot occur in a directory entry's name."""
    raw = os.fsencode(name).decode("utf-8", "backslashreplace")
    out = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in raw)
    return out or "_"


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
    """Extract ``zip_path`` into ``dest`` (emptied first), refusing anything dangerous: an entry
    whose final path (after turning ``\\`` into ``/`` and resolving ``..``, drive letters and
    absolute names) is not inside ``dest``, a symbolic link, a device or other special file,
    more than ``MAX_FILES`` entries or ``MAX_BYTES`` bytes."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    root = dest.resolve()
    if zip_path.is_symlink():
        raise InvalidSubmission("the zip is a symbolic link; hand in the file itself")
    try:
        with zipfile.ZipFile(zip_path) as z:
            infos = z.infolist()
            if len(infos) > MAX_FILES:
                raise InvalidSubmission(f"the zip holds {len(infos)} entries, more than "
                                        f"{MAX_FILES}")
            total = 0
            for info in infos:
                parts = _entry_parts(info.filename)
                if parts is None:
                    continue                                 # macOS metadata, "./"
                kind = stat.S_IFMT(info.external_attr >> 16)
                if kind == stat.S_IFLNK:
                    raise InvalidSubmission(f"the zip holds a symbolic link "
                                            f"({_shown(info.filename)}); links are not "
                                            f"accepted: zip the files themselves")
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise InvalidSubmission(f"the zip holds a special file "
                                            f"({_shown(info.filename)}); only files and "
                                            f"folders are accepted")
                target = root.joinpath(*parts)
                resolved = Path(os.path.realpath(target))
                if resolved != root and root not in resolved.parents:
                    raise InvalidSubmission(f"the zip entry {_shown(info.filename)} would be "
                                            f"written outside its folder; refused")
                total += info.file_size
                if total > MAX_BYTES:
                    raise InvalidSubmission(f"the zip unpacks to more than "
                                            f"{MAX_BYTES // (1024 * 1024)} MB")
                if info.is_dir():
                    resolved.mkdir(parents=True, exist_ok=True)
                    continue
                resolved.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(resolved, "xb") as out:
                    copied = 0
                    while chunk := src.read(1 << 20):
                        copied += len(chunk)
                        if copied > info.file_size or copied > MAX_BYTES:
                            raise InvalidSubmission("the zip lies about its sizes")
                        out.write(chunk)
    except FileExistsError as exc:
        raise InvalidSubmission(f"the zip holds the same file twice ({_shown(str(exc))})") \
            from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            RuntimeError, ValueError) as exc:
        raise InvalidSubmission(f"not a readable zip file ({exc})") from None
    return dest


def _entry_parts(filename: str) -> list[str] | None:
    """The folders and name of a zip entry, or None for entries that are skipped. Every
    separator (``/`` and ``\\``) counts; an absolute name, a drive letter or a ``..`` that
    climbs out is refused (the resolved path is checked again by the caller)."""
    name = filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or "\0" in name:
        raise InvalidSubmission(f"the zip entry {_shown(filename)} has an absolute path; "
                                f"refused")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InvalidSubmission(f"the zip entry {_shown(filename)} climbs out of its "
                                        f"folder; refused")
            parts.pop()
            continue
        if ":" in part:
            raise InvalidSubmission(f"the zip entry {_shown(filename)} has a ':' in a name; "
                                    f"refused")
        parts.append(part)
    if not parts or parts[0] in IGNORED or any(p in ("__MACOSX", ".DS_Store") for p in parts):
        return None
    return parts


def _shown(name: str) -> str:
    return repr(name[:120])


def copy_folder(src: Path, dest: Path) -> Path:
    """Copy the submission folder ``src`` into ``dest`` (emptied first) without following any
    link: a symbolic link anywhere in it, a special file, more than ``MAX_FILES`` files or
    ``MAX_BYTES`` bytes make it invalid, with the reason."""
    shutil.rmtree(dest, ignore_errors=True)
    if src.is_symlink():
        raise InvalidSubmission(f"the submission is a symbolic link (to "
                                f"{_shown(os.readlink(src))}); hand in the folder itself")
    dest.mkdir(parents=True)
    files, total = 0, 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        rel = here.relative_to(src)
        for name in sorted(dirnames + filenames):
            path = here / name
            mode = os.lstat(path).st_mode
            shown = _shown(display_name(str(rel / name)))
            if stat.S_ISLNK(mode):
                raise InvalidSubmission(f"the submission holds a symbolic link ({shown}); "
                                        f"links are not accepted: hand in the files themselves")
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise InvalidSubmission(f"the submission holds a special file ({shown}); only "
                                        f"files and folders are accepted")
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED)
        for d in dirnames:
            (dest / rel / d).mkdir()
        for name in sorted(filenames):
            files += 1
            total += os.lstat(here / name).st_size
            if files > MAX_FILES or total > MAX_BYTES:
                raise InvalidSubmission(f"the submission holds more than {MAX_FILES} files or "
                                        f"{MAX_BYTES // (1024 * 1024)} MB")
            fd = os.open(here / name, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f, open(dest / rel / name, "xb") as out:
                shutil.copyfileobj(f, out)
    return dest


def prepare(sub: Submission, work: Path) -> Path:
    """The folder to grade for ``sub``: a private copy under ``work`` (a zip unpacked, a folder
    copied without following links), so that nothing graded is a link to anything else."""
    dest = work / sub.name
    if sub.path.is_symlink():
        raise InvalidSubmission(f"the submission is a symbolic link (to "
                                f"{_shown(os.readlink(sub.path))}); hand in the folder or zip "
                                f"itself")
    if sub.path.is_dir():
        return find_impl(copy_folder(sub.path, dest))
    return find_impl(unpack(sub.path, dest))


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
