"""Atomic file output: write to a temporary file beside the target, then rename over it; a lock
that keeps two runs out of one folder.

The file gets the mode a plain ``open(path, "w")`` would give it: an existing file's mode, else
``0o666`` less the umask (``mkstemp`` alone makes every file 0600). OS errors (a read-only folder,
a path through a file, a full disk) become :class:`~vecrender.errors.OutputError`, one line naming
the path and the reason.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from vecrender.errors import OutputError

_UMASK_LOCK = threading.Lock()


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(f)` on a temporary binary file, then move it to `path` in one rename."""
    path = Path(path)
    make_dirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise output_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise output_error(path, exc) from None
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def make_dirs(path: Path) -> None:
    """``mkdir -p path``, with an OutputError (naming the path and the reason) when it cannot be made."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot write into {path}: it is a file, not a folder; choose another output path.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(path, exc) from None


def lock_folder(path: Path) -> int | None:
    """Take an exclusive lock on the folder `path` for as long as the returned descriptor is open
    (``os.close`` it, or the process ends): one run writes into a folder at a time. None where the
    platform has no ``flock`` (Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputError(f"{path}: another vecrender run is writing into this folder; wait until it ends, or "
                          f"choose another output folder.") from None
    return fd


def output_error(path: Path, exc: OSError) -> OutputError:
    """One line for an OS error while writing `path`: the path and the OS's reason."""
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileExistsError) and path.is_symlink() and not path.exists():
        reason += f" (it is a link to {os.readlink(path)}, which does not exist)"
    elif isinstance(exc, (FileExistsError, NotADirectoryError)):
        reason += " (a part of the path is a file, not a folder)"
    return OutputError(f"cannot write {path}: {reason}; check the path and its permissions, or choose "
                       f"another output path.")


def _new_file_mode(path: Path) -> int:
    """What ``open(path, "w")`` gives: an existing file keeps its mode, a new one 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere os.umask is the only way: set and restore at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask
