"""Where evidence files live: one small interface, and a directory implementation.

Files are named by the SHA-256 of their bytes (content addressing), in fan-out folders
``ab/cd/abcd…``, so the same photo sent twice is stored once. Copies derived from a file (its
thumbnail, the copy without EXIF) are kept beside it as ``abcd….VARIANT`` and go with it. Every
file is written to a temporary name and renamed into place, so a reader never sees half a file.

Deleting a file safely: a unit of work that writes or uses a file holds a shared lock on its
name until the unit of work ends; whoever deletes one takes the lock exclusively, so it waits
for those units of work to commit or roll back, and only then asks the database whether a row
still names the file. The locks are ``flock`` locks on 256 lock files (one per first byte of the
name) in ``root/.locks``: they hold across threads and server processes, and the kernel drops
them when a process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Protocol

from geo.settings import get_settings

_SHA256 = re.compile(r"[0-9a-f]{64}")
_VARIANT = re.compile(r"[a-z0-9_]{1,16}")


class Hold:
    """A lock on a file's name (shared or exclusive), held until :meth:`release`."""

    def __init__(self, lock_file: Path, exclusive: bool):
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)  # waits for its turn

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MediaStore(Protocol):
    def put(self, data: bytes, sha256: str | None = None) -> tuple[str, bool]:
        """Store ``data`` (``sha256``: its SHA-256 if the caller took it already); its SHA-256, and whether this call wrote it (False: it was there)."""
        ...

    def put_variant(self, sha256: str, variant: str, data: bytes) -> None: ...

    def open(self, sha256: str, variant: str | None = None) -> BinaryIO: ...

    def exists(self, sha256: str, variant: str | None = None) -> bool: ...

    def hold(self, sha256: str, exclusive: bool = False) -> Hold:
        """Lock ``sha256``'s name: shared while a unit of work uses the file, exclusive to delete it."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the file and every copy derived from it (nothing if there is none)."""
        ...


class DirectoryStore:
    """Files under ``root``: ``root/ab/cd/abcd…`` and ``root/ab/cd/abcd….thumb``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sha256: str, variant: str | None = None) -> Path:
        if not _SHA256.fullmatch(sha256) or (variant is not None and not _VARIANT.fullmatch(variant)):
            raise ValueError(f"not a media name: {sha256!r} {variant!r}")
        name = sha256 if variant is None else f"{sha256}.{variant}"
        return self.root / sha256[:2] / sha256[2:4] / name

    def _write(self, target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temp, target)  # atomic: readers see the whole file or none
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def put(self, data: bytes, sha256: str | None = None) -> tuple[str, bool]:
        sha256 = sha256 or sha256_of(data)
        target = self.path(sha256)
        if target.exists():
            return sha256, False
        self._write(target, data)
        return sha256, True

    def put_variant(self, sha256: str, variant: str, data: bytes) -> None:
        self._write(self.path(sha256, variant), data)

    def open(self, sha256: str, variant: str | None = None) -> BinaryIO:
        return self.path(sha256, variant).open("rb")

    def exists(self, sha256: str, variant: str | None = None) -> bool:
        return self.path(sha256, variant).exists()

    def hold(self, sha256: str, exclusive: bool = False) -> Hold:
        self.path(sha256)  # the name is checked before it names a lock
        return Hold(self.root / ".locks" / sha256[:2], exclusive)

    def delete(self, sha256: str) -> None:
        original = self.path(sha256)
        for path in original.parent.glob(f"{sha256}*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


@lru_cache
def _store_at(root: str) -> DirectoryStore:
    return DirectoryStore(root)


def media_store() -> MediaStore:
    """The store named by ``WANGGE_MEDIA_DIR`` (``var/media`` by default)."""
    return _store_at(get_settings().media_dir)
