"""With real ImageNet features (the shared VGG16), the default first-frame budget really stylizes.

Skipped when ../shared/data is absent. About a minute on one CPU thread.
"""

from __future__ import annotations

import time

import cv2
import torch

from tests.mediatools import shared_data
from vidstyle.config import ModelConfig, Network, OptimizeConfig, StyleConfig
from vidstyle.model.build import build_core
from vidstyle.video.pixels import bgr_to_tensor, resize, working_size


def test_style_loss_falls_tenfold_within_the_default_first_frame_budget_at_128px() -> None:
    weights = shared_data("weights", "vgg16_imagenet_features.pth")
    photo = cv2.imread(str(shared_data("frames", "marple8", "marple8_01.ppm")))
    style = shared_data("styles", "starry_night.jpg")
    size = working_size(photo.shape[1], photo.shape[0], 128)
    defaults = OptimizeConfig()
    core = build_core(
        ModelConfig(network=Network.VGG16, weights=weights), StyleConfig(images=(style,)), defaults,
        content_size=size, cache_dir=None, device=torch.device("cpu"),
    )  # fmt: skip
    content = bgr_to_tensor(resize(photo, size))
    started = time.perf_counter()
    result = core.stylizer.stylize(content, init=content, budget=defaults.iterations)
    factor = result.initial.style / result.final.style
    print(
        f"\nreal VGG16, {size[0]}x{size[1]}: style loss {result.initial.style:.4g} -> {result.final.style:.4g} "
        f"({factor:.1f}x) in {result.steps} of {defaults.iterations} steps, {time.perf_counter() - started:.0f} s; "
        f"content loss {result.final.content:.3g}"
    )
    assert result.initial.content == 0.0  # it started from the content
    assert factor >= 10.0
