"""Files on disk: atomic writes, durable renames, sweeping leftovers, hashing, checking PNGs.

A file under its final name is always complete: it is written to a temporary
file in the same folder, flushed and fsynced, then renamed with os.replace
(atomic on POSIX and Windows within one filesystem), and the folder entry is
fsynced too. A crash leaves either the old file or the new one, never a torn
one. Temporaries made here start with a dot and end in ``.tmp`` so they are
easy to sweep; the encoder names its own (see video/encode.py) and publishes
them with :func:`publish`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from vidstyle.errors import OutOfSpace, OutputError


def temporary_for(path: Path) -> Path:
    """The temporary a write of ``path`` goes through (per process, so two processes never share one)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def fsync_dir(folder: Path) -> None:
    """Persist a rename: fsync the directory entry (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish(temporary: Path, path: Path) -> None:
    """Move a finished ``temporary`` to ``path`` durably: fsync its data, rename, fsync the folder.

    Raises OSError; callers turn it into the error their user understands.
    """
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    temporary = temporary_for(path)
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
        publish(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno in _FULL:
            raise OutOfSpace(f"Could not write {path}: {error.strerror or error}; free some space (or raise the file size limit).") from error
        raise OutputError(f"Could not write {path}: {error.strerror or error}; check the folder is writable and has space.") from error


# "No space left on device", "Disk quota exceeded", "File too large" (a file size limit, ulimit -f).
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def write_json_atomic(path: Path, value: object) -> None:
    write_bytes_atomic(path, (json.dumps(value, indent=1, sort_keys=True) + "\n").encode())


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """A BGR uint8 image as the bytes of a ``suffix`` file (PNG, JPEG, WebP, TIFF, ...)."""
    suffix = suffix.lower() or ".png"
    ok, buffer = cv2.imencode(suffix, image)
    if not ok:
        raise OutputError(f"Could not encode an image as {suffix}; use .png, .jpg, .webp, .bmp or .tif.")
    return buffer.tobytes()


def write_image_atomic(path: Path, image: np.ndarray) -> None:
    """Write a BGR uint8 image; the format follows the suffix (PNG, JPEG, WebP, TIFF, ...)."""
    write_bytes_atomic(path, encode_image(image, path.suffix))


def remove_files(paths: Iterable[Path]) -> None:
    """Unlink plain files (folders are left alone); a file already gone is fine."""
    for path in paths:
        if path.is_file() or path.is_symlink():
            path.unlink(missing_ok=True)


def sweep_temporaries(folder: Path, name: str = "*") -> None:
    """Remove temporaries left by a killed process (of files matching ``name``, default all).

    Only call this where no other live process writes into ``folder``: the
    temporaries of every process id match.
    """
    if folder.is_dir():
        remove_files(folder.glob(f".{name}.*.tmp"))


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks (weights files are hundreds of MB)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def png_is_complete(path: Path, size: tuple[int, int]) -> bool:
    """The image exists, decodes, and has ``size`` (width, height): a torn or zero-byte file does not."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return image is not None and (image.shape[1], image.shape[0]) == tuple(size)
