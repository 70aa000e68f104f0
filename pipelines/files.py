"""Files others read while we write them (reports, dbt's artifacts, dbt's parse state): written
whole or not at all; and the hash that names a file's bytes (landing files, extracts)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path` (named for this process, so a render killed midway
    leaves a file its cleanup can recognise), then rename over it: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks so large exports use little memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def modified_time(path: Path) -> float:
    """A file's modification time; 0 for one that is gone (another process may prune dbt/target)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
