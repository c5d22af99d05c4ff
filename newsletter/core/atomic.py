"""Replacing a file all at once: readers see the old bytes or the new ones, never half of them.

Writers of one folder also take turns: :func:`locked` holds an exclusive ``flock`` on the folder
itself (no lock file is left in the project), so the desk's "is this still the version the
editor saw? then replace it" and a command-line write to the same issue never interleave, across
processes as well as threads. :func:`write_atomically` takes it on its own; a caller that reads,
decides and writes holds it around all three (re-entering is free in the same thread).

The project's rule for the files it reads on anyone's behalf: no symbolic link anywhere on the
path, regular files only. :func:`links` finds every link of a folder (to refuse the folder and
name them), :func:`read_inside` reads a file with the operating system enforcing the rule on each
component, so a link planted after the check is refused too.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_held = threading.local()  # the folders this thread holds the lock of: {path: depth}


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the write lock of ``folder`` (a directory) until the block ends; waits for another holder.

    :raises OSError: when the folder cannot be opened.
    """
    key = os.path.realpath(folder)
    held: dict[str, int] = getattr(_held, "folders", None) or {}
    _held.folders = held
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    fd = os.open(key, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor is closed, even if the process dies
        held[key] = 1
        try:
            yield
        finally:
            del held[key]
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk and rename it over ``path``,
    holding the folder's lock (:func:`locked`).

    An existing file keeps its permissions; the folder is synced so that the rename survives a
    crash. Nothing is left behind on failure.

    :raises OSError: when the folder cannot be written.
    """
    with locked(path.parent):
        _write(path, data)


def _write(path: Path, data: bytes) -> None:
    try:
        mode: int | None = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = None
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def links(folder: Path) -> list[Path]:
    """Every symbolic link at or under ``folder``, the folder itself included, never following one.

    :return: the links in walking order (names sorted in each folder); ``[]`` for a missing folder.
    """
    found = [folder] if folder.is_symlink() else []
    for parent, dirs, files in os.walk(folder, followlinks=False):
        found.extend(path for name in sorted(dirs + files) if (path := Path(parent) / name).is_symlink())
    return found


_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def read_inside(folder: Path, relative: str) -> bytes:
    """The bytes of the regular file ``relative`` (``images/a.png``) of ``folder``, opened one component
    at a time without following any link: each folder on the way and the file. ``folder`` is the
    caller's (:func:`links` tells whether it is a link).

    :raises OSError: ``ELOOP`` when a component is a symbolic link, ``EINVAL`` for a path that leaves the
        folder or a file that is not a regular file, ``FileNotFoundError``…; ``ValueError`` never (a NUL
        byte is ``EINVAL`` too).
    """
    parts = relative.split("/")
    if "\0" in relative or any(part in ("", ".", "..") for part in parts):
        raise OSError(errno.EINVAL, "not a plain path inside the folder", relative)
    fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, _NOFOLLOW | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        file = os.open(parts[-1], _NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)  # a named pipe must not block
    finally:
        os.close(fd)
    with os.fdopen(file, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", relative)
        return handle.read()
