"""Per-pixel reliability of a backward flow (Ruder et al. 2016, Sec. 3.1; Lai et al. 2018).

A pixel x of the current frame is trusted for the temporal loss only when
its backward flow w (current -> previous) is confirmed by the forward flow:

* forward-backward check: with w' = forward flow (previous -> current)
  sampled at x + w, an exact flow has w + w' = 0; fail when
  |w + w'|^2 > 0.01 (|w|^2 + |w'|^2) + 0.5 (disocclusions, flow errors);
* motion-boundary check: fail when |grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002
  (gradients of the backward flow, central differences as in Ruder's
  consistencyChecker; Lai's code uses forward differences);
* x + w outside the previous frame: unreliable, as in Ruder's checker (Lai's
  code does not test this; content entering the frame has nothing to be
  consistent with).

Ruder's checker uses ``>=`` for the first test, Lai's and ours ``>``; the
difference only matters on a set of measure zero.

The same function gives the mask of frame t for the metric of Lai et al.:
"backward" there is the flow t -> t+1 and "forward" the flow t+1 -> t, i.e.
``flow_backward`` is always the flow from the frame the mask is for to the
other frame, and ``flow_forward`` the opposite one.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidstyle.temporal.warp import warp_image

# Gaussian sigma (px) of the soft mask. Measured on marple8 with the DeepFlow
# reference flows, the mean |soft - reference mask| of artistic-videos'
# (smoothed) masks is 0.009 / 0.005 / 0.008 / 0.014 for sigma 0.5 / 0.8 /
# 1.0 / 1.5, so 0.8 reproduces their smoothing best.
SOFT_SIGMA = 0.8


def _check_flow(flow: np.ndarray, name: str) -> np.ndarray:
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"{name}: expected a flow of shape (H, W, 2), got {flow.shape}")
    return np.ascontiguousarray(flow, dtype=np.float32)


def reliability_mask(flow_backward: np.ndarray, flow_forward: np.ndarray, *, soft: bool = False) -> np.ndarray:
    """(H, W) float32 mask in [0, 1] for the frame ``flow_backward`` starts from; 1 = reliable.

    ``flow_backward``: current -> previous, on the current frame's grid.
    ``flow_forward``: previous -> current, on the previous frame's grid.

    Hard mask (default): exactly 0 or 1. Soft mask: like Ruder's reference
    checker, pixels failing the forward-backward check get -1, motion
    boundaries 0, reliable pixels 1; the map is blurred with a Gaussian
    (sigma ``SOFT_SIGMA``) and clipped to [0, 1]. The -1 makes the blur eat
    into the reliable side of a disocclusion rather than letting reliable
    pixels leak into it, so a soft value is never larger than about what
    the hard mask allows near occlusions, while isolated one-pixel failures
    (noise of the flow) no longer punch hard holes into the loss.
    """
    w = _check_flow(flow_backward, "flow_backward")
    w_fwd = _check_flow(flow_forward, "flow_forward")
    if w.shape != w_fwd.shape:
        raise ValueError(f"flows differ in size: {w.shape} vs {w_fwd.shape}")
    height, width = w.shape[:2]

    w_prime = warp_image(w_fwd, w)  # forward flow sampled at x + w(x)
    mag_w = np.sum(w * w, axis=2)
    mag_wp = np.sum(w_prime * w_prime, axis=2)
    total = w + w_prime
    fb_fail = np.sum(total * total, axis=2) > 0.01 * (mag_w + mag_wp) + 0.5

    # np.gradient: central differences inside, one-sided on the border.
    du_dy, du_dx = np.gradient(w[:, :, 0])
    dv_dy, dv_dx = np.gradient(w[:, :, 1])
    motion_edge = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
    boundary_fail = motion_edge > 0.01 * mag_w + 0.002

    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    target_x = grid_x + w[:, :, 0]
    target_y = grid_y + w[:, :, 1]
    outside = (target_x < 0) | (target_x > width - 1) | (target_y < 0) | (target_y > height - 1)

    if not soft:
        return (~(fb_fail | boundary_fail | outside)).astype(np.float32)
    values = np.ones((height, width), dtype=np.float32)
    values[boundary_fail] = 0.0
    values[fb_fail | outside] = -1.0
    blurred = cv2.GaussianBlur(values, ksize=(0, 0), sigmaX=SOFT_SIGMA, borderType=cv2.BORDER_REPLICATE)
    return np.clip(blurred, 0.0, 1.0).astype(np.float32)
