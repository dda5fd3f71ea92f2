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

What both checks miss: fades, flashes, explosions, lighting changes and
dissolves keep the flow consistent (often zero) while the picture changes, so
a warped stylized frame would be pinned onto content that is no longer there.
``photometric_mask`` adds the check Lai et al. use for their training mask: a
pixel is unreliable where the current *input* frame differs from the
flow-warped previous input frame by more than a threshold. The caller
combines it with ``reliability_mask`` (``np.minimum``), and
``reliable_fraction`` summarises a mask in one number (the shot detector
treats a frame whose fraction is low as a cut).

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


def photometric_mask(
    previous: np.ndarray, current: np.ndarray, flow_backward: np.ndarray, *, threshold: float
) -> np.ndarray:
    """(H, W) float32 mask, 1 where ``current`` matches ``previous`` warped along ``flow_backward``.

    ``previous`` and ``current`` are the *input* frames (BGR or gray, uint8 or
    float32 in [0, 255]) on the same grid as the flow (current -> previous).
    The distance is the Euclidean norm of the colour difference in [0, 1]
    units, as in Lai et al. 2018, whose soft training mask
    exp(-50 |I_t - warp(I_t-1)|^2) falls to 0.5 at a distance of 0.118; a
    pixel whose distance exceeds ``threshold`` gets 0. A uniform change of d
    (in [0, 1]) on all three channels has distance d * sqrt(3).
    """
    w = _check_flow(flow_backward, "flow_backward")
    if previous.shape != current.shape:
        raise ValueError(f"frames differ in size: {previous.shape} vs {current.shape}")
    if previous.shape[:2] != w.shape[:2]:
        raise ValueError(f"frames {previous.shape[:2]} and flow {w.shape[:2]} differ in size")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    warped = warp_image(np.asarray(previous, dtype=np.float32), w)
    diff = (np.asarray(current, dtype=np.float32) - warped) * np.float32(1.0 / 255.0)
    distance_sq = diff * diff if diff.ndim == 2 else np.sum(diff * diff, axis=2)
    return (distance_sq <= np.float32(threshold) ** 2).astype(np.float32)


def reliable_fraction(mask: np.ndarray) -> float:
    """Mean of a reliability mask (hard or soft): the share of the frame the temporal term may hold."""
    if mask.size == 0:
        raise ValueError("empty mask")
    return float(np.mean(mask, dtype=np.float64))
