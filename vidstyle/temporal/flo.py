"""Middlebury ``.flo`` optical-flow files.

Layout (little endian): float32 magic 202021.25, int32 width, int32 height,
then ``height * width`` (u, v) pairs of float32, row major. We use it to read
the DeepFlow reference flows of the test data and to write our own flows for
inspection; arrays are (H, W, 2) float32 with channel 0 = u (x), 1 = v (y).
"""

from __future__ import annotations

import os

import numpy as np

FLO_MAGIC = np.float32(202021.25)
_HEADER_BYTES = 12


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a .flo file into a (H, W, 2) float32 array.

    Raises ValueError when the magic number is wrong or the file is truncated,
    so a corrupt file is never silently read as garbage flow.
    """
    with open(path, "rb") as handle:
        header = handle.read(_HEADER_BYTES)
        if len(header) < _HEADER_BYTES:
            raise ValueError(f"{path}: too short to be a .flo file")
        magic = np.frombuffer(header, dtype="<f4", count=1)[0]
        if magic != FLO_MAGIC:
            raise ValueError(f"{path}: bad .flo magic {magic!r} (expected 202021.25)")
        width, height = (int(v) for v in np.frombuffer(header, dtype="<i4", count=2, offset=4))
        if width <= 0 or height <= 0:
            raise ValueError(f"{path}: invalid .flo size {width}x{height}")
        count = width * height * 2
        data = np.frombuffer(handle.read(count * 4), dtype="<f4")
    if data.size != count:
        raise ValueError(f"{path}: truncated .flo file ({data.size} of {count} values)")
    return data.reshape(height, width, 2).astype(np.float32)


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> None:
    """Write a (H, W, 2) flow array as a .flo file."""
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"expected a flow of shape (H, W, 2), got {flow.shape}")
    height, width = flow.shape[:2]
    with open(path, "wb") as handle:
        handle.write(np.array([FLO_MAGIC], dtype="<f4").tobytes())
        handle.write(np.array([width, height], dtype="<i4").tobytes())
        handle.write(np.ascontiguousarray(flow, dtype="<f4").tobytes())
