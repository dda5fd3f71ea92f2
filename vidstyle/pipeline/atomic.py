"""Atomic file writes: a file under its final name is always complete.

Write to a temporary file in the same folder, flush, fsync, then os.replace
(atomic on POSIX and Windows within one filesystem). A crash leaves either the
old file or the new one, never a torn one; leftover temporaries start with a
dot and end in ``.tmp`` so they are easy to sweep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from vidstyle.errors import OutputError


def _temporary_for(path: Path) -> Path:
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


def write_bytes_atomic(path: Path, data: bytes) -> None:
    temporary = _temporary_for(path)
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"Could not write {path}: {error.strerror or error}; check the folder is writable and has space.") from error
    fsync_dir(path.parent)


def write_json_atomic(path: Path, value: object) -> None:
    write_bytes_atomic(path, (json.dumps(value, indent=1, sort_keys=True) + "\n").encode())


def encode_png(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OutputError("Could not encode a frame as PNG.")
    return buffer.tobytes()


def write_image_atomic(path: Path, image: np.ndarray) -> None:
    """Write a BGR uint8 image; the format follows the suffix (PNG, JPEG, WebP, TIFF, ...)."""
    suffix = path.suffix.lower()
    ok, buffer = cv2.imencode(suffix if suffix else ".png", image)
    if not ok:
        raise OutputError(f"Could not encode an image as {suffix}; use .png, .jpg, .webp, .bmp or .tif.")
    write_bytes_atomic(path, buffer.tobytes())


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
