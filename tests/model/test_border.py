"""The line along the frame's border (issue 22): with real features the optimizer draws one.

Marked xfail (strict) until a fix lands: it fails today, as it should, and the
marker must go when the line does. Skipped when ../shared/data is absent.
About a minute on one CPU thread.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tests.mediatools import shared_data
from vidstyle.config import ModelConfig, OptimizeConfig, StyleConfig
from vidstyle.model.build import build_core
from vidstyle.video.pixels import bgr_to_tensor, resize, tensor_to_bgr

SIZE = (64, 50)  # marple8 (450x350) at 64 px


def edge_ratios(frame: np.ndarray) -> dict[str, float]:
    """Each edge's outermost step over the median step between interior rows (top, bottom) or columns (left, right).

    A step is the mean |difference| of two neighbouring rows (columns), in levels; benchmarks/border.py measures the same.
    """
    pixels = frame.astype(np.float64)
    rows = np.abs(np.diff(pixels, axis=0)).mean(axis=(1, 2))
    cols = np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2))
    row_median, col_median = np.median(rows[1:-1]), np.median(cols[1:-1])
    return {"top": rows[0] / row_median, "bottom": rows[-1] / row_median, "left": cols[0] / col_median, "right": cols[-1] / col_median}


@pytest.mark.xfail(strict=True, reason="issue 22: the line along the border is not fixed yet (benchmarks/border.py)")
def test_a_default_first_frame_has_no_line_along_its_border() -> None:
    """Each edge's outermost step (|row 0 - row 1|, and so on) within 1.2x the median step between interior rows or columns.

    Measured (VGG19 ImageNet weights, marple8 in the style of The Starry Night, 64x50, 150 steps from the content,
    default settings): the top edge stepped 23.6 levels against an interior median of 17.2 (1.37x; bottom, left,
    right 0.82x, 1.08x, 0.94x). Optimizing the frame on a canvas 8 px larger on every side (its edge pixels
    repeated there, cropped after) gave 1.00x at worst. On 10 frames of real footage at 128 px the line grows
    to 3.8x (benchmarks/border.py); 1.2x at 64 px on one cold frame is this test's stand-in for that.
    """
    weights = shared_data("weights", "vgg19_imagenet_features.pth")
    photo = cv2.imread(str(shared_data("frames", "marple8", "marple8_01.ppm")))
    style = shared_data("styles", "starry_night.jpg")
    core = build_core(
        ModelConfig(weights=weights), StyleConfig(images=(style,)), OptimizeConfig(), content_size=SIZE, cache_dir=None,
        device=torch.device("cpu"),
    )  # fmt: skip
    content = bgr_to_tensor(resize(photo, SIZE))
    result = core.stylizer.stylize(content, init=content, budget=150)
    frame = tensor_to_bgr(result.image)
    assert frame.shape[:2] == (SIZE[1], SIZE[0])
    ratios = edge_ratios(frame)
    print({edge: round(ratio, 2) for edge, ratio in ratios.items()})
    assert max(ratios.values()) <= 1.2, ratios
    # Stylized, not left as it was: the interior moved well away from the photo.
    assert np.abs(frame.astype(float) - resize(photo, SIZE).astype(float)).mean() > 10
