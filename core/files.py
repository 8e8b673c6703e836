"""Files only the deployment's own user may read (keys, the local admin token)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["read_or_create_private", "write_private"]


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file with mode 0600 (it never exists readable by others,
    not even for a moment); replaces an existing file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_or_create_private(path: Path, make: bytes) -> bytes:
    """The file's content, or ``make`` written to a new 0600 file when there is none."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        write_private(path, make)
        return make
