"""Dense optical flow with OpenCV's DIS (Kroeger et al. 2016).

Ruder et al. 2016 use DeepFlow / EpicFlow, which take tens of seconds per
frame pair on a CPU and are not pip-installable. We use DIS instead: it ships
with opencv-python-headless and takes milliseconds at working resolution.

Preset choice, measured on the marple8 frames (450x350) against the DeepFlow
reference flows (mean end-point error on reference-reliable pixels, 8 flows):
ULTRAFAST 0.19-0.22 px, FAST 0.15-0.18 px, MEDIUM 0.11-0.13 px; our
consistency mask agrees with the reference mask on 93-94% / 96-97% / 96-97%
of pixels. Time per flow on a 2-core CPU at 256x198: 1.1 / 1.1 / 6 ms. The
variational refinement is what makes the difference (MEDIUM without it:
0.17 px; with 20 instead of 5 iterations: 0.107 px, not worth it), together
with MEDIUM going down to the finest scale. A few ms per frame are nothing
next to the style optimisation, so MEDIUM is the default.

Sign convention (the Middlebury one, same as the DeepFlow ``.flo`` files):
``flow(source, target)`` returns, for every pixel x of ``source``, the
displacement w(x) such that ``source(x) ≈ target(x + w(x))``. So the flow
needed to backward-warp the previous frame into the current one is
``flow(current, previous)``: ``warp_image(previous, w)[x] = previous(x + w(x))
≈ current(x)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidstyle.config import FlowPreset


_PRESET_IDS = {
    FlowPreset.ULTRAFAST: cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    FlowPreset.FAST: cv2.DISOPTICAL_FLOW_PRESET_FAST,
    FlowPreset.MEDIUM: cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class FlowPair:
    """Both flows between a previous and a current frame, (H, W, 2) float32.

    ``backward``: on the current frame's grid, current(x) ≈ previous(x + backward(x));
    it warps the previous frame (or its stylization) into the current one.
    ``forward``: on the previous frame's grid, previous(x) ≈ current(x + forward(x));
    only needed for the forward-backward consistency check.
    """

    backward: np.ndarray
    forward: np.ndarray


def _to_gray(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    raise ValueError(f"expected a BGR (H, W, 3) or gray (H, W) frame, got shape {image.shape}")


class FlowEstimator:
    """Reusable DIS flow estimator.

    Every flow is a pure function of its two frames (a fresh
    cv2.DISOpticalFlow per call, see ``_dis``), so one estimator can be
    reused and shared. Frames are passed at working resolution (the size
    the stylization runs at): flow is computed on their grayscale version,
    never resized here.
    """

    def __init__(self, preset: FlowPreset = FlowPreset.MEDIUM) -> None:
        self.preset = FlowPreset(preset)

    def _dis(self) -> cv2.DISOpticalFlow:
        # The presets differ mainly in finest scale (MEDIUM goes to full
        # resolution, FAST/ULTRAFAST stop at 1/4), patch size and whether the
        # variational refinement runs (not in ULTRAFAST). Refinement smooths
        # the patch-based flow and matters for EPE on textured regions.
        #
        # A fresh instance for every flow: a reused cv2.DISOpticalFlow carries
        # state from its previous calc() (the same pair gives a different flow
        # the second time, up to 1.7 px apart at 40x30), which made a resumed
        # run (fresh instance) differ from an uninterrupted one (reused
        # instance) and the metric depend on what was measured before.
        # Creating one costs microseconds.
        return cv2.DISOpticalFlow_create(_PRESET_IDS[self.preset])

    def flow(self, source_bgr: np.ndarray, target_bgr: np.ndarray) -> np.ndarray:
        """Flow on ``source``'s grid: source(x) ≈ target(x + w(x)); (H, W, 2) float32, (u=x, v=y)."""
        source = _to_gray(source_bgr)
        target = _to_gray(target_bgr)
        if source.shape != target.shape:
            raise ValueError(f"frames differ in size: {source.shape} vs {target.shape}")
        flow = self._dis().calc(source, target, None)
        return np.ascontiguousarray(flow, dtype=np.float32)

    def pair(self, previous_bgr: np.ndarray, current_bgr: np.ndarray) -> FlowPair:
        """Backward (current -> previous) and forward (previous -> current) flows."""
        previous = _to_gray(previous_bgr)
        current = _to_gray(current_bgr)
        return FlowPair(backward=self.flow(current, previous), forward=self.flow(previous, current))
