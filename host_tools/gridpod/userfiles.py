"""Files and folders a user names on the command line, checked before any work starts.

A typo in a path should cost one line that says what is wrong and what to do, before a board is
touched or a test suite has run for ten minutes: not a traceback, and not a half-done job. And a
file the user already has is never overwritten unless the command says it will.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import GridpodError


class PathError(GridpodError):
    """A path given by the user cannot be used as asked; nothing was done."""


def read_bytes(path: str | Path, what: str) -> bytes:
    """The bytes of a file the user named; PathError (missing, a folder, unreadable) otherwise."""
    p = Path(path)
    if p.is_dir():
        raise PathError(f"cannot read {what} {p}: it is a folder: name the file inside it")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise PathError(
            f"cannot read {what} {p}: no such file: check the name and folder"
        ) from None
    except OSError as exc:
        raise PathError(f"cannot read {what} {p}: {exc.strerror}") from None


def check_output_file(path: str | Path, what: str, overwrite: bool = True) -> Path:
    """Make sure `path` can be written as a file without creating folders; PathError otherwise.

    The check really writes (opens for append, removes what it created), because permission
    bits say nothing for root or a read-only file system. overwrite=False refuses an existing
    file: the caller would destroy something the user has."""
    p = Path(path)
    if p.is_dir():
        raise PathError(f"{what} {p} is a folder: name a file, e.g. {p / 'config.json'}")
    if not p.parent.is_dir():
        raise PathError(
            f"{what} {p}: folder {p.parent} does not exist: create it first or choose another path"
        )
    existed = p.exists() or p.is_symlink()
    if existed and not overwrite:
        raise PathError(f"{what} {p} exists: choose another name, or remove it yourself first")
    try:
        with open(p, "ab"):
            pass
    except OSError as exc:
        raise PathError(
            f"{what} {p}: cannot write there ({exc.strerror}): choose a folder you can write to"
        ) from None
    if not existed:
        p.unlink(missing_ok=True)
    return p


def write_bytes(path: str | Path, data: bytes, what: str, overwrite: bool = True) -> Path:
    """Write a whole file (tmp + rename, so a failed write leaves the old file as it was)."""
    p = check_output_file(path, what, overwrite)
    tmp = p.with_name(p.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PathError(f"{what} {p}: cannot write it ({exc.strerror})") from None
    return p


def write_text(path: str | Path, text: str, what: str, overwrite: bool = True) -> Path:
    return write_bytes(path, text.encode(), what, overwrite)


def output_dir(path: str | Path, what: str) -> Path:
    """A folder to write reports into, created (with its parents) if missing and proven writable;
    PathError naming the path and the fix otherwise."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise PathError(f"{what} {p} is a file, not a folder: name a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / ".gridpod-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PathError(
            f"{what} {p}: cannot write there ({exc.strerror}): choose a folder you can write to"
        ) from None
    return p
