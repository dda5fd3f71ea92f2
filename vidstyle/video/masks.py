"""Masks (--mask): which pixels of each output frame are stylized.

A mask is read with the input's own readers (video/sources.py): one image,
which applies to every frame, or a sequence (folder, pattern, video) whose
frame i belongs to input frame i. It is turned to grey, white = 1 (stylized),
black = 0 (the source kept), grey in between, resized to the size asked for,
softened by --mask-feather (a Gaussian blur of that many pixels at that size)
and flipped by --mask-invert.

The mask is applied where a frame is written (video/sinks.py): output =
mask * stylized + (1 - mask) * source, at the output size, so a masked-out
pixel is the source's. The work dir keeps the unmasked stylized frames: the
next frame warps from them and a resumed run reads them back as they were.

--protect-overlays auto adds a mask per shot (video/overlays.py, written to
the work dir in this same convention). :class:`FrameMasks` multiplies the
two: a pixel is stylized only as far as both the user's mask and the shot's
overlay mask allow, so a detected HUD is kept even where --mask stylizes, and
--mask's black stays black where no HUD is. --mask-feather and --mask-invert
act on the user's mask only (a HUD's edge is as fixed as the mask's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidstyle.errors import InputError, UsageError
from vidstyle.video.overlays import OverlaySpec
from vidstyle.video.sources import SourceKind, SourceSpec, open_reader, open_source


@dataclass(frozen=True)
class MaskSpec:
    """A run's mask, picklable (a Ray worker's sink reads it too)."""

    source: SourceSpec
    feather: int = 0
    invert: bool = False

    @property
    def single(self) -> bool:
        """One image for every frame."""
        return self.source.kind is SourceKind.IMAGE

    @property
    def files(self) -> tuple[Path, ...]:
        return self.source.files or (self.source.path,)


def open_mask(path: Path | str, *, feather: int = 0, invert: bool = False, source_indices: tuple[int, ...] = ()) -> MaskSpec:
    """Check the mask at ``path`` against the input frames it must cover; a one-line error if it cannot serve.

    ``source_indices``: the input frames the run stylizes; a sequence needs a
    frame for the last of them (the mask's frame i goes with the input's frame i).
    """
    try:
        with open_source(path) as source:
            spec = source.spec
    except InputError as error:
        raise InputError(f"--mask: {error}") from None
    if spec.kind is not SourceKind.IMAGE and source_indices:
        needed = max(source_indices) + 1
        if spec.frame_count < needed:
            raise UsageError(
                f"The mask {path} has {spec.frame_count} frames but the input frames to stylize reach frame "
                f"{needed} ({len(source_indices)} selected); give a mask with a frame for each input frame, or one image."
            )
    return MaskSpec(source=spec, feather=feather, invert=invert)


def to_weights(image: np.ndarray, size: tuple[int, int], *, feather: int, invert: bool) -> np.ndarray:
    """A BGR uint8 mask frame as float32 weights (H, W) in [0, 1] at ``size`` (width, height)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    if (grey.shape[1], grey.shape[0]) != tuple(size):
        grey = cv2.resize(grey, tuple(size), interpolation=cv2.INTER_LINEAR)
    if feather > 0:
        # sigma = radius / 2: the ramp spans about the radius on each side of the edge.
        grey = cv2.GaussianBlur(grey, (0, 0), sigmaX=feather / 2.0, borderType=cv2.BORDER_REPLICATE)
    grey = np.clip(grey, 0.0, 1.0)
    return 1.0 - grey if invert else grey


class MaskReader:
    """The weights of the mask for input frames, in increasing order (one reader kept open)."""

    def __init__(self, spec: MaskSpec) -> None:
        self.spec = spec
        self._reader = open_reader(spec.source)
        self._single: np.ndarray | None = None
        self._cache: dict[tuple[int, tuple[int, int]], np.ndarray] = {}

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> MaskReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _frame(self, index: int) -> np.ndarray:
        if self.spec.single:
            if self._single is None:
                self._single = next(self._reader.read([0]))[1]
            return self._single
        try:
            return next(self._reader.read([index]))[1]
        except InputError as error:
            raise InputError(f"--mask: {error}") from None

    def weights(self, index: int, size: tuple[int, int]) -> np.ndarray:
        """The mask of input frame ``index`` at ``size`` (width, height)."""
        key = (0 if self.spec.single else index, tuple(size))
        if key not in self._cache:
            if not self.spec.single:
                self._cache.clear()  # a sequence is read forward, one frame at a time
            self._cache[key] = to_weights(self._frame(index), size, feather=self.spec.feather, invert=self.spec.invert)
        return self._cache[key]


def composite(stylized: np.ndarray, source: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """mask * stylized + (1 - mask) * source, BGR uint8; a pixel of weight 0 is the source's exactly."""
    w = weights[:, :, None]
    blended = w * stylized.astype(np.float32) + (1.0 - w) * source.astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


class FrameMasks:
    """The weights each written frame is blended with: the user's --mask times the shot's overlay mask."""

    def __init__(self, mask: MaskSpec | None, overlays: OverlaySpec | None) -> None:
        self.user = MaskReader(mask) if mask is not None else None
        self.overlays = overlays if overlays is not None and overlays.any else None
        self._overlay: tuple[Path, tuple[int, int], np.ndarray] | None = None

    def close(self) -> None:
        if self.user is not None:
            self.user.close()

    def _overlay_weights(self, file: Path, size: tuple[int, int]) -> np.ndarray:
        if self._overlay is None or self._overlay[:2] != (file, tuple(size)):
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise InputError(f"The overlay mask {file} cannot be read; resume to detect it again, or pass --restart.")
            self._overlay = (file, tuple(size), to_weights(image, size, feather=0, invert=False))
        return self._overlay[2]

    def weights(self, position: int, source_index: int, size: tuple[int, int]) -> np.ndarray | None:
        """The weights of plan ``position`` (input frame ``source_index``) at ``size``; None: stylize it all."""
        weights = self.user.weights(source_index, size) if self.user is not None else None
        file = self.overlays.file_at(position) if self.overlays is not None else None
        if file is None:
            return weights
        overlay = self._overlay_weights(file, size)
        return overlay if weights is None else weights * overlay


def open_frame_masks(mask: MaskSpec | None, overlays: OverlaySpec | None) -> FrameMasks | None:
    """The sink's masks, or None when every frame is written whole."""
    if mask is None and (overlays is None or not overlays.any):
        return None
    return FrameMasks(mask, overlays)
