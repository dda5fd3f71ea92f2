"""The photometric check (Lai et al. 2018) and the reliable fraction.

What the forward-backward check misses: a picture that changes while the flow
stays consistent (fade, flash, lighting). Real-data tests use marple8 from
../shared/data and are skipped without it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from tests.mediatools import shared_data
from vidstyle.config import ShotsConfig
from vidstyle.temporal import FlowEstimator, photometric_mask, reliability_mask, reliable_fraction


def photo() -> np.ndarray:
    image = cv2.imread(str(shared_data("frames", "marple8", "marple8_01.ppm")), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def shifted(image: np.ndarray, dx: float, size: tuple[int, int] = (256, 192)) -> np.ndarray:
    """A window of ``size`` moved ``dx`` px to the right over the photo (Lanczos, so sub-pixel shifts are real)."""
    matrix = np.float32([[1, 0, -dx], [0, 1, -60]])
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LANCZOS4)


def combined(previous: np.ndarray, current: np.ndarray, threshold: float = ShotsConfig().photometric_threshold) -> np.ndarray:
    pair = FlowEstimator().pair(previous, current)
    return np.minimum(
        reliability_mask(pair.backward, pair.forward),
        photometric_mask(previous, current, pair.backward, threshold=threshold),
    )


def test_uniform_change_fails_exactly_above_its_colour_distance():
    previous = np.full((12, 16, 3), 100, np.uint8)
    current = np.full((12, 16, 3), 110, np.uint8)  # +10/255 on every channel: distance sqrt(3) * 10/255
    distance = math.sqrt(3) * 10 / 255
    zero = np.zeros((12, 16, 2), np.float32)
    assert photometric_mask(previous, current, zero, threshold=distance * 1.01).min() == 1.0
    assert photometric_mask(previous, current, zero, threshold=distance * 0.99).max() == 0.0
    # Grey frames: the distance is the plain difference.
    assert photometric_mask(previous[..., 0], current[..., 0], zero, threshold=10 / 255 * 1.01).min() == 1.0
    assert photometric_mask(previous[..., 0], current[..., 0], zero, threshold=10 / 255 * 0.99).max() == 0.0


def test_the_check_compares_against_the_warped_previous_frame():
    rng = np.random.default_rng(0)
    previous = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    current = np.roll(previous, shift=3, axis=1)  # content moved 3 px right: current(x) = previous(x - 3)
    flow = np.zeros((30, 40, 2), np.float32)
    flow[..., 0] = -3.0
    mask = photometric_mask(previous, current, flow, threshold=0.01)
    assert mask[:, 3:].min() == 1.0  # every pixel with a source inside the frame matches
    # Without the flow the same pair looks changed nearly everywhere.
    assert reliable_fraction(photometric_mask(previous, current, np.zeros_like(flow), threshold=0.01)) < 0.05


def test_ordinary_motion_stays_reliable_and_a_flash_does_not():
    image = photo()
    previous, current = shifted(image, 0.0), shifted(image, 1.5)
    pair = FlowEstimator().pair(previous, current)
    flow_only = reliable_fraction(reliability_mask(pair.backward, pair.forward))
    with_check = reliable_fraction(combined(previous, current))
    assert flow_only > 0.95
    assert with_check > flow_only - 0.01  # the check frees under 1% of a real pan's pixels
    # Pushed halfway to white: the flow is still consistent, the picture is not.
    white = np.clip(current.astype(np.float32) * 0.5 + 127.5, 0, 255).astype(np.uint8)
    pair = FlowEstimator().pair(previous, white)
    assert reliable_fraction(reliability_mask(pair.backward, pair.forward)) > 0.5
    assert reliable_fraction(combined(previous, white)) < 0.05


def test_all_black_frames_are_reliable_and_finite():
    black = np.zeros((48, 64, 3), np.uint8)
    mask = combined(black, black)
    assert np.isfinite(mask).all()
    assert reliable_fraction(mask) == 1.0


def test_reliable_fraction_is_the_mean_and_refuses_an_empty_mask():
    mask = np.zeros((4, 5), np.float32)
    mask[:2] = 1.0
    mask[2, 0] = 0.5  # soft masks count by weight
    assert reliable_fraction(mask) == pytest.approx(10.5 / 20)
    with pytest.raises(ValueError):
        reliable_fraction(np.zeros((0, 3), np.float32))


def test_photometric_mask_refuses_mismatched_inputs():
    frame = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in size"):
        photometric_mask(frame, np.zeros((8, 9, 3), np.uint8), np.zeros((8, 8, 2), np.float32), threshold=0.1)
    with pytest.raises(ValueError, match="differ in size"):
        photometric_mask(frame, frame, np.zeros((8, 9, 2), np.float32), threshold=0.1)
