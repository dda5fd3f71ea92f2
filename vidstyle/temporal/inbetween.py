"""In-between frames: a frame made from the two stylized key frames around it, along the input's flow.

With ``--inbetween N`` a shot's every Nth frame (and its last) is stylized by
the optimizer; a frame t between key frames a < t < b is made here from both:
each key's stylized frame is warped to t along the flow of the *input* frames
(t -> a and t -> b, backward warping as the optimizer's warm start does), and
the two are blended by position (the nearer key weighs more, (b-t)/(b-a) for
a) and by their reliability masks (temporal/masks.py: forward-backward and
motion-boundary checks, plus the photometric check when shots are on). A pixel
only one key vouches for comes from that key alone, so a moving object is
never drawn twice (no ghost).

Where neither key is reliable (disocclusions, content entering the frame) the
blend has nothing to offer: those pixels start from the input frame and the
caller fills them with a short optimization from :attr:`Inbetween.init`, its
temporal term holding the reliable parts to the blend
(:attr:`Inbetween.reliable`), then composites with :func:`composite` so the
reliable parts stay exactly the blend. Everything here is a pure function of
its uint8 inputs, so a resumed run makes the same in-betweens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.masks import photometric_mask, reliability_mask
from vidstyle.temporal.warp import warp_image

# A pixel whose combined reliability is below this is a hole the blend cannot fill.
HOLE = 0.5


@dataclass(frozen=True)
class Inbetween:
    blend: np.ndarray  # (H, W, 3) float32 BGR in [0, 255]: the keys warped to t and blended
    reliable: np.ndarray  # (H, W) float32 in [0, 1]: how far the blend is trusted (the larger of the two keys' masks)
    init: np.ndarray  # (H, W, 3) float32: the blend where reliable, the input frame elsewhere

    @property
    def has_holes(self) -> bool:
        """Whether some pixel is vouched for by neither key (it needs the short optimization)."""
        return self.holes_inside(0)

    def holes_inside(self, margin: int) -> bool:
        """Whether some pixel of the picture inside the canvas's ``margin`` (--edge-margin) is vouched for by
        neither key. Holes in the margin alone need no fill: the margin is cropped off when the frame is written
        (measured on issue-134-rotate: every hole of every in-between was there, so a fill of them was wasted)."""
        reliable = self.reliable[margin:-margin, margin:-margin] if margin > 0 else self.reliable
        return bool(np.any(reliable < HOLE))


def _warped(
    flow: FlowEstimator, content: np.ndarray, key_content: np.ndarray, key_stylized: np.ndarray, *, soft: bool, photometric: float | None
) -> tuple[np.ndarray, np.ndarray]:
    pair = flow.pair(key_content, content)  # backward: t -> key, on t's grid
    mask = reliability_mask(pair.backward, pair.forward, soft=soft)
    if photometric is not None:
        np.minimum(mask, photometric_mask(key_content, content, pair.backward, threshold=photometric), out=mask)
    warped = np.clip(warp_image(key_stylized.astype(np.float32), pair.backward, sharp=True), 0.0, 255.0)
    return warped, mask


def make_inbetween(
    content: np.ndarray,
    before: tuple[np.ndarray, np.ndarray],
    after: tuple[np.ndarray, np.ndarray],
    weight_after: float,
    *,
    flow: FlowEstimator,
    soft: bool = False,
    photometric: float | None = None,
) -> Inbetween:
    """The in-between at ``content`` (uint8 BGR input frame) from ``before`` and ``after`` (input, stylized) key frames.

    ``weight_after``: (t - a) / (b - a), the share of the later key where both are reliable.
    ``photometric``: the photometric threshold (ShotsConfig), None without the check.
    """
    warped_a, mask_a = _warped(flow, content, *before, soft=soft, photometric=photometric)
    warped_b, mask_b = _warped(flow, content, *after, soft=soft, photometric=photometric)
    w_a = np.float32(1.0 - weight_after) * mask_a
    w_b = np.float32(weight_after) * mask_b
    total = w_a + w_b
    safe = np.where(total > 1e-6, total, np.float32(1.0))
    blend = (w_a[:, :, None] * warped_a + w_b[:, :, None] * warped_b) / safe[:, :, None]
    reliable = np.maximum(mask_a, mask_b)
    # Where neither key holds, the blend is the input frame itself (never a half-transparent key: a ghost).
    blend = np.where((total > 1e-6)[:, :, None], blend, content.astype(np.float32))
    r = reliable[:, :, None]
    init = r * blend + (1.0 - r) * content.astype(np.float32)
    return Inbetween(blend=blend.astype(np.float32), reliable=reliable.astype(np.float32), init=init.astype(np.float32))


def composite(inbetween: Inbetween, filled: np.ndarray | None) -> np.ndarray:
    """The finished uint8 frame: the blend where reliable, the short optimization's ``filled`` (uint8) elsewhere."""
    if filled is None:
        image = inbetween.init
    else:
        r = inbetween.reliable[:, :, None]
        image = r * inbetween.blend + (1.0 - r) * filled.astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# --inbetween stylizes every one of a shot's first frames: there the painting still settles after the cold
# frame, and keys N frames apart differ by more than N of those frames do, which the blend then splits
# between the pairs around each in-between (benchmarks/inbetween_pairs.py, 24 frames of issue-134-rotate at
# N=2: warping error 1.28x N=1's with keys from the first frame on, 0.96x with the first 8 frames dense).
DENSE_START = 8


def key_positions(start: int, stop: int, step: int, dense: int | None = None) -> list[int]:
    """Key frames of the shot ``start..stop-1`` at ``--inbetween step``: each of its first ``dense`` frames
    (:data:`DENSE_START` unless given), then every step-th from the last of those, and its last frame."""
    dense = DENSE_START if dense is None else dense
    first_sparse = start + max(dense - 1, 0)
    keys = sorted(set(range(start, min(start + dense, stop))) | set(range(min(first_sparse, stop - 1), stop, step)))
    if keys[-1] != stop - 1:
        keys.append(stop - 1)
    return keys
