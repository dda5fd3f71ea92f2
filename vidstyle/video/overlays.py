"""Overlays (--protect-overlays auto): find a HUD in a shot, to keep it from the source.

A game capture's HUD (score, health bar, minimap, a streamer's overlay) sits
still while the world moves under it; stylized, its text turns to paint. Per
shot, :func:`detect_overlays` looks at up to ``SAMPLES`` frames spread over the
shot, shrunk to at most ``ANALYSIS_SIZE`` px and turned to grey, and finds
the pixels that stay still while their surroundings move:

1. ``deviation``: each pixel's mean absolute difference from its temporal
   median over the samples (after a 3x3 blur, so that codec noise does not
   count as motion). A pixel is *still* below ``STILL_LEVEL``, *moving* above
   ``MOVING_LEVEL`` (8-bit levels).
2. ``textured``: the pixel has an edge (Sobel gradient over ``EDGE_LEVEL``
   levels per pixel) in the median frame or on average over the samples.
   Only textured pixels say anything: a flat sky or a black bar is as still
   under a pan as a HUD is.
3. The shot must move: at least ``MIN_MOVING`` of its textured pixels
   moving. A static shot, a title card, or a mostly static shot with
   something moving in it (a static camera filming a person) protects
   nothing, however still its background.
4. Seeds are the still pixels with an edge in the median frame (one that
   moving edges only pass over has none there); a morphological closing
   joins a word's glyphs and a bar's edges into one blob (no opening: it
   would cut a bar's one-pixel frame). A blob is kept when it is at least ``MIN_AREA`` of
   the frame, at most ``MAX_AREA`` of it (a HUD element, not a wall), holds
   ``MIN_SEEDS`` of its own seed pixels, and its surroundings move (at least
   ``MIN_RING_MOVING`` of a ring around it is moving). The ring is what
   tells a HUD from a horizon under a pan (a horizontal edge panned
   sideways does not change): along a horizon the ring is the sky and the
   rest of the ridge, which change little.
5. The kept blobs, each filled to its convex hull (a word's letters and
   the gaps between them, a bar whole), are grown by ``MARGIN`` pixels (a
   glyph's anti-aliased halo and the codec's ringing around it). When they
   add up to more than ``MAX_TOTAL`` of the frame the shot protects nothing:
   that much stillness is a static scene, not a HUD.

Everything is plain numpy and OpenCV on fixed sample positions, with no
randomness, so the same shot gives the same mask, byte for byte, again. The mask is
at the analysis size, 255 where the source is kept; the run (pipeline/run.py)
writes it as a PNG in the work dir and the sinks blend with it like a --mask
(video/masks.py). Change ``DETECTOR_VERSION`` when its output changes: it is
in the run's fingerprint.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from vidstyle.errors import InputError

DETECTOR_VERSION = "overlays-1"

SAMPLES = 24  # frames looked at per shot, spread evenly over it
MIN_FRAMES = 3  # a shot with fewer frames shows no motion: nothing is protected
ANALYSIS_SIZE = 256  # long side, px
STILL_LEVEL = 3.0  # mean |frame - median| below this (8-bit levels) is still
MOVING_LEVEL = 8.0  # ... above this is moving
EDGE_LEVEL = 10.0  # Sobel gradient, in levels per pixel, that makes a pixel textured
MIN_MOVING = 0.5  # fraction of the textured pixels that must move for anything to be protected
MIN_AREA = 0.0005  # a kept blob covers at least this fraction of the frame ...
MAX_AREA = 0.08  # ... and at most this
MIN_SEEDS = 12  # ... and holds this many textured still pixels
MIN_RING_MOVING = 0.6  # fraction of the ring around a blob that must be moving
MAX_TOTAL = 0.25  # more protected than this in all: a static scene, protect nothing
MARGIN = 2  # px at the analysis size the kept blobs are grown by


@dataclass(frozen=True)
class OverlayDetection:
    """What the detector found in one shot."""

    mask: np.ndarray  # uint8 (H, W) at the analysis size: 255 keeps the source, 0 stylizes
    moving: float  # fraction of the shot's textured pixels that move
    protected: float  # fraction of the frame kept from the source
    blobs: int  # overlay elements kept
    reason: str  # one line: what was found, or why nothing was

    @property
    def found(self) -> bool:
        return self.blobs > 0


def sample_positions(start: int, stop: int, count: int = SAMPLES) -> list[int]:
    """Up to ``count`` positions in [start, stop), spread evenly, the first and last included."""
    n = stop - start
    if n <= count:
        return list(range(start, stop))
    return sorted({start + round(k * (n - 1) / (count - 1)) for k in range(count)})


def analysis_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, ANALYSIS_SIZE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _grey(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if (frame.shape[1], frame.shape[0]) != size:
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return frame.astype(np.float32)


def _gradient(image: np.ndarray) -> np.ndarray:
    # Sobel's 3x3 kernel weighs a one-pixel step by 4: divide to get levels per pixel.
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy) / 4.0


def _ellipse(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _nothing(size: tuple[int, int], moving: float, reason: str) -> OverlayDetection:
    return OverlayDetection(mask=np.zeros((size[1], size[0]), np.uint8), moving=moving, protected=0.0, blobs=0, reason=reason)


def detect_overlays(frames: Sequence[np.ndarray]) -> OverlayDetection:
    """The overlay mask of one shot from its sampled frames (BGR or grey uint8, all one size, in order)."""
    if not frames:
        raise ValueError("detect_overlays needs at least one frame")
    height, width = frames[0].shape[:2]
    size = analysis_size(width, height)
    if len(frames) < MIN_FRAMES:
        return _nothing(size, 0.0, f"{len(frames)} frame(s): too few to see motion")
    stack = np.stack([_grey(f, size) for f in frames])
    median = np.median(stack, axis=0)
    deviation = np.mean(np.abs(stack - median), axis=0)
    # Textured in the frames as they come (the motion statistic), and in the
    # median frame (a seed: a still pixel's edge is in the median frame too;
    # one that edges only pass over is not an overlay's).
    textured = np.mean([_gradient(f) for f in stack], axis=0) > EDGE_LEVEL
    still = deviation < STILL_LEVEL
    moving_pixels = deviation > MOVING_LEVEL
    count = int(textured.sum())
    moving = float((moving_pixels & textured).sum()) / count if count else 0.0
    if moving < MIN_MOVING:
        return _nothing(size, moving, f"{moving:.0%} of the textured frame moves (under {MIN_MOVING:.0%}): nothing protected")

    long_side = max(size)
    join = max(2, round(long_side / 64))  # 4 px at 256: a word's letter gaps, a bar's inside
    seeds = (still & (_gradient(median) > EDGE_LEVEL)).astype(np.uint8)
    blobs = cv2.morphologyEx(seeds, cv2.MORPH_CLOSE, _ellipse(join))
    labels, label_map, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
    area_total = size[0] * size[1]
    ring_kernel = _ellipse(max(3, join))
    kept = np.zeros_like(blobs)
    kept_count = 0
    for label in range(1, labels):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < MIN_AREA * area_total or w * h > MAX_AREA * area_total:
            continue
        blob = _fill_holes((label_map[y : y + h, x : x + w] == label).astype(np.uint8))
        if int(seeds[y : y + h, x : x + w][blob > 0].sum()) < MIN_SEEDS:
            continue
        pad = ring_kernel.shape[0]
        y0, y1, x0, x1 = max(0, y - pad), min(size[1], y + h + pad), max(0, x - pad), min(size[0], x + w + pad)
        around = np.zeros((y1 - y0, x1 - x0), np.uint8)
        around[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = blob
        ring = (cv2.dilate(around, ring_kernel) > 0) & (around == 0)
        if not ring.any() or float(moving_pixels[y0:y1, x0:x1][ring].mean()) < MIN_RING_MOVING:
            continue
        # Its convex hull: a word's letters and the gaps between them, a bar whole.
        points = cv2.findNonZero(blob)
        hull = np.zeros_like(blob)
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
        kept[y : y + h, x : x + w] |= hull
        kept_count += 1
    if kept_count == 0:
        return _nothing(size, moving, f"{moving:.0%} of the textured frame moves; no still element stands out")
    kept = cv2.dilate(kept, _ellipse(MARGIN))
    protected = float(kept.mean())
    if protected > MAX_TOTAL:
        return _nothing(size, moving, f"{protected:.0%} of the frame is still (over {MAX_TOTAL:.0%}): a static scene, nothing protected")
    reason = f"{kept_count} overlay element(s), {protected:.1%} of the frame kept; {moving:.0%} of the textured frame moves"
    return OverlayDetection(mask=kept * np.uint8(255), moving=moving, protected=protected, blobs=kept_count, reason=reason)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (0/1 uint8) with every region it encloses filled (a bar's inside, a letter's counter)."""
    height, width = mask.shape
    padded = np.zeros((height + 2, width + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((height + 4, width + 4), np.uint8), (0, 0), 1)
    return (padded | (1 - flood))[1:-1, 1:-1]


class _Frames(Protocol):
    def read(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]: ...


def detect_in_shots(
    source: _Frames, source_indices: Sequence[int], shots: Sequence[tuple[int, int]], *, before_frame: Callable[[], None] | None = None
) -> list[OverlayDetection]:
    """:func:`detect_overlays` for each shot, given as (start, stop) plan positions in order; ``source_indices[p]``
    is the input frame of plan position p. The sampled frames are decoded in one forward pass and each
    shot is looked at as soon as its last sample is in, so only one shot's small grey frames are held
    (``before_frame`` is called before each frame, so a caller can stop the pass by raising)."""
    samples = [[source_indices[p] for p in sample_positions(start, stop)] for start, stop in shots]
    wanted = sorted({index for indices in samples for index in indices})
    small: dict[int, np.ndarray] = {}
    found: list[OverlayDetection] = []
    for index, frame in source.read(wanted):
        if before_frame is not None:
            before_frame()
        height, width = frame.shape[:2]
        shrunk = cv2.resize(frame, analysis_size(width, height), interpolation=cv2.INTER_AREA)
        small[index] = cv2.cvtColor(shrunk, cv2.COLOR_BGR2GRAY) if shrunk.ndim == 3 else shrunk
        while len(found) < len(samples) and all(i in small for i in samples[len(found)]):
            indices = samples[len(found)]
            found.append(detect_overlays([small[i] for i in indices]))
            later = {i for rest in samples[len(found) :] for i in rest}
            for i in [i for i in small if i not in later]:
                del small[i]
    if len(found) != len(samples):  # the reader raises for a frame it cannot decode; this is a plan it was not given
        raise InputError(f"Only {len(found)} of {len(samples)} shots could be read to look for overlays; rerun with --restart.")
    return found


# ------------------------------------------------------------------ in a run's work dir

OVERLAYS_FOLDER = "overlays"  # in the work dir: shot-NNN.png per shot, and shots.json


@dataclass(frozen=True)
class OverlaySpec:
    """A run's detected overlay masks, picklable (a Ray worker's sink reads them too).

    ``starts[k]`` is the plan position where shot k begins; ``files[k]`` its
    mask PNG in --mask's convention (white stylizes, black keeps the source),
    or None when nothing was found in that shot.
    """

    starts: tuple[int, ...]
    files: tuple[Path | None, ...]

    def file_at(self, position: int) -> Path | None:
        return self.files[bisect.bisect_right(self.starts, position) - 1]

    @property
    def any(self) -> bool:
        return any(file is not None for file in self.files)


def shot_mask_path(folder: Path, shot: int) -> Path:
    return folder / f"shot-{shot:03d}.png"


def to_mask_image(detection: OverlayDetection) -> np.ndarray:
    """The detection as a --mask image: white (255) stylizes, black (0) keeps the source."""
    return np.uint8(255) - detection.mask
