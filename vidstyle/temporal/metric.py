"""Temporal warping error of Lai et al. 2018 ("Learning Blind Video Temporal Consistency", Eq. 10).

    E_t = sum_x M_t(x) * ||O_t(x) - warp(O_{t+1})(x)||^2 / (C * sum_x M_t(x)),
    E   = mean_t E_t over the T - 1 consecutive pairs,

following their evaluate_WarpError.py exactly where it matters:

* the flow is computed on the INPUT frames, from frame t to frame t+1
  (F_{t->t+1} on frame t's grid), and O_{t+1} is backward-warped into frame t
  with it;
* M_t is the non-occlusion mask of frame t from the same pair of flows
  (forward-backward and motion-boundary checks, see masks.py);
* outputs are RGB float in [0, 1]; the squared difference is averaged over
  the 3 channels (Lai's mask is read as a 3-channel image, so their
  normaliser counts each reliable pixel 3 times). Values are therefore
  comparable to published E_warp numbers computed with the same flow;
* when no pixel is reliable E_t is 0 (Lai divides the all-zero sum by H*W*C).

Where we differ: Lai use FlowNet2 flow, we use DIS (flow.py), so absolute
values are not comparable across flow methods; and our mask also rejects
pixels whose flow leaves the frame (Lai's does not).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from vidstyle.errors import InputError
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.masks import reliability_mask
from vidstyle.temporal.warp import warp_image
from vidstyle.video.pixels import resize


@dataclass(frozen=True)
class WarpingErrorResult:
    """``value``: mean of ``per_pair`` (E_t for t = 0 .. frame_count - 2)."""

    value: float
    per_pair: tuple[float, ...]
    frame_count: int


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        kind = getattr(frame, "dtype", type(frame).__name__)
        shape = getattr(frame, "shape", None)
        raise InputError(f"expected BGR uint8 frames of shape (H, W, 3), got {kind} {shape}")


def _as_rgb_float(frame: np.ndarray) -> np.ndarray:
    _check_frame(frame)
    return frame[:, :, ::-1].astype(np.float32) / 255.0


def _pair_error(input_t, input_next, output_t, output_next, estimator: FlowEstimator) -> float:
    flows = estimator.pair(input_t, input_next)
    # Mask for frame t: the flow that starts on frame t is the pair's forward
    # flow (t -> t+1); it plays the "backward" role of reliability_mask.
    mask = reliability_mask(flows.forward, flows.backward)
    warped_next = warp_image(output_next, flows.forward)
    squared = np.sum((output_t - warped_next) ** 2, axis=2, dtype=np.float64)
    reliable = float(mask.sum(dtype=np.float64))
    if reliable == 0.0:
        return 0.0
    return float(np.sum(mask * squared, dtype=np.float64) / (3.0 * reliable))


def warping_error(
    inputs: Iterable[np.ndarray],
    outputs: Iterable[np.ndarray],
    *,
    estimator: FlowEstimator | None = None,
) -> WarpingErrorResult:
    """Warping error of ``outputs`` (e.g. the stylized video) w.r.t. the motion of ``inputs``.

    Both are iterables of BGR uint8 frames and are consumed in lockstep, two
    frames of each held at a time. Input frames are resized to the output size
    when they differ (flow then is computed at the output resolution).
    Raises InputError when the frame counts differ or there are fewer than 2.
    """
    estimator = estimator or FlowEstimator()
    input_iter: Iterator[np.ndarray] = iter(inputs)
    output_iter: Iterator[np.ndarray] = iter(outputs)
    per_pair: list[float] = []
    count = 0
    prev_input = prev_output = None
    size: tuple[int, int] | None = None
    sentinel = object()
    while True:
        input_frame = next(input_iter, sentinel)
        output_frame = next(output_iter, sentinel)
        if input_frame is sentinel or output_frame is sentinel:
            if input_frame is not sentinel or output_frame is not sentinel:
                # Count the rest of the longer stream (without keeping it) so
                # the message gives both true lengths.
                extra_in = (input_frame is not sentinel) + sum(1 for _ in input_iter)
                extra_out = (output_frame is not sentinel) + sum(1 for _ in output_iter)
                raise InputError(
                    f"INPUT has {count + extra_in} frames but STYLIZED has {count + extra_out}; "
                    "pass the stylized output of this input"
                )
            break
        output_rgb = _as_rgb_float(output_frame)
        frame_size = (output_frame.shape[1], output_frame.shape[0])
        if size is None:
            size = frame_size
        elif frame_size != size:
            raise InputError(
                f"STYLIZED frame {count + 1} is {frame_size[0]}x{frame_size[1]} but the first is {size[0]}x{size[1]}"
            )
        _check_frame(input_frame)
        input_frame = resize(input_frame, size)
        if prev_input is not None:
            per_pair.append(_pair_error(prev_input, input_frame, prev_output, output_rgb, estimator))
        prev_input, prev_output = input_frame, output_rgb
        count += 1
    if count < 2:
        raise InputError(f"the warping error needs at least 2 frames, got {count}")
    return WarpingErrorResult(value=float(np.mean(per_pair)), per_pair=tuple(per_pair), frame_count=count)
